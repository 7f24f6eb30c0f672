/**
 * data.idx_prefix: IDX sets whose files are not named train-… and t10k-… (e.g.
 * EMNIST's emnist-digits-train-images-idx3-ubyte.gz) load from a model file.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { parseRunSpecYaml } from "../../dsl/yaml.ts";
import { loadDataset } from "../../dsl/run.ts";
import { SpecError } from "../../dsl/errors.ts";
import { DataError } from "../../lib/data/errors.ts";
import { gzip } from "../../lib/data/gzip.ts";
import { idxHeader, withTempDir } from "./tmp.ts";

/** An IDX file of unsigned bytes, written with the test's own header code. */
function idx(dims: number[], fill: (i: number) => number): Uint8Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const h = idxHeader(0x08, dims);
  const out = new Uint8Array(h.length + n);
  out.set(h);
  for (let i = 0; i < n; i++) out[h.length + i] = fill(i);
  return out;
}

function yaml(dir: string, prefix: string): string {
  return [
    "model: { input: [28, 28, 1], layers: [{ type: flatten }, { type: linear, out: 10 }] }",
    `data: { dataset: mnist, path: ${dir}${prefix} }`,
    "optimizer: { name: sgdm, lr: 0.1 }",
    "schedule: { epochs: 1 }",
  ].join("\n");
}

Deno.test("data.idx_prefix loads gzipped IDX files with other names", () =>
  withTempDir(async (dir) => {
    const put = async (name: string, bytes: Uint8Array) =>
      await Deno.writeFile(`${dir}/${name}.gz`, await gzip(bytes));
    await put("digits-train-images-idx3-ubyte", idx([4, 28, 28], (i) => i % 251));
    await put("digits-train-labels-idx1-ubyte", idx([4], (i) => i));
    await put("digits-test-images-idx3-ubyte", idx([2, 28, 28], (i) => 100 + (i % 100)));
    await put("digits-test-labels-idx1-ubyte", idx([2], (i) => 9 - i));

    const spec = parseRunSpecYaml(
      yaml(dir, ", idx_prefix: { train: digits-train, test: digits-test }"),
      "m.yaml",
    );
    const ds = await loadDataset(spec);
    assertEquals([ds.train.count, ds.test.count], [4, 2]);
    assertEquals([...ds.train.labels], [0, 1, 2, 3]);
    assertEquals([...ds.test.labels], [9, 8]);
    assertEquals(ds.test.images[0], 100);
    assertEquals(ds.inputShape, [28, 28, 1]);

    // Without the prefix the default names are looked up, and the error names one.
    const plain = parseRunSpecYaml(yaml(dir, ""), "m.yaml");
    await assertRejects(() => loadDataset(plain), DataError, "train-images-idx3-ubyte");
  }));

Deno.test("data.idx_prefix: defaults, and bad values rejected with their line", () => {
  const spec = parseRunSpecYaml(yaml("d", ", idx_prefix: { test: other }"), "m.yaml");
  assertEquals(spec.data.idx_prefix, { train: "train", test: "other" });
  const slash = assertThrows(
    () => parseRunSpecYaml(yaml("d", ", idx_prefix: { train: ../x }"), "m.yaml"),
    SpecError,
  );
  assert(slash.message.includes("m.yaml:2:") && slash.message.includes("idx_prefix.train"));
  const synthetic = assertThrows(
    () =>
      parseRunSpecYaml(
        [
          "model: { input: [4], layers: [{ type: linear, out: 2 }] }",
          "optimizer: { name: sgdm, lr: 0.1 }",
          "schedule: { epochs: 1 }",
          "data:",
          "  dataset: synthetic",
          "  synthetic: { samples: 8, classes: 2, shape: [4] }",
          "  idx_prefix: { train: a }",
        ].join("\n"),
        "s.yaml",
      ),
    SpecError,
  );
  assert(synthetic.message.includes("s.yaml:7:") && synthetic.message.includes("only for mnist"));
});
