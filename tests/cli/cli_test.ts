/**
 * The command line: every error path gives a clear message and exit code,
 * and a tiny run trains, writes its run directory and resumes.
 */
import { main } from "../../cli/main.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest } from "../util.ts";

async function run(args: string[], simulateUnavailable = false) {
  let out = "", err = "";
  const code = await main(args, {
    out: (s) => (out += s),
    err: (s) => (err += s),
    acquire: { simulateUnavailable },
  });
  return { code, out, err };
}

Deno.test("unknown command, unknown flag and missing argument are rejected with usage hints", async () => {
  const a = await run(["fly"]);
  assertEquals(a.code, 2);
  assert(a.err.includes("unknown command 'fly'"), a.err);
  const b = await run(["train", "x.yaml", "--bogus"]);
  assertEquals(b.code, 2);
  assert(b.err.includes("unknown option '--bogus'"), b.err);
  const c = await run(["train"]);
  assertEquals(c.code, 2);
  assert(c.err.includes("missing required argument 'file'"), c.err);
  const d = await run(["train", "x.yaml", "--set", "novalue"]);
  assertEquals(d.code, 2);
  assert(d.err.includes("--set expects key.path=value"), d.err);
});

Deno.test("--help lists the commands and exits 0", async () => {
  const h = await run(["--help"]);
  assertEquals(h.code, 0);
  assert(h.out.includes("train") && h.out.includes("inspect"), h.out);
  const t = await run(["train", "--help"]);
  assertEquals(t.code, 0);
  assert(t.out.includes("--resume"), t.out);
});

Deno.test("a missing file and an invalid model file give one-line errors, no stack trace", async () => {
  const a = await run(["train", "tests/fixtures/cli/nope.yaml"]);
  assertEquals(a.code, 1);
  assert(a.err.includes("nope.yaml") && a.err.includes("no such file"), a.err);
  assert(!a.err.includes("    at "), "no stack trace");
  const b = await run([
    "train",
    "tests/fixtures/cli/tiny.yaml",
    "--set",
    "model.layers.0.kernel=-3",
  ]);
  assertEquals(b.code, 1);
  assert(b.err.includes("model.layers[0].kernel"), b.err);
  const c = await run(["train", "tests/fixtures/cli/tiny.yaml", "--set", "model.layers.3.out=0"]);
  assertEquals(c.code, 1);
});

Deno.test("a shape error names the layer before any GPU work", async () => {
  const r = await run([
    "inspect",
    "tests/fixtures/cli/tiny.yaml",
    "--set",
    "model.layers.2.type=relu",
  ]);
  assertEquals(r.code, 1);
  assert(r.err.includes('layer "fc" (linear)') && r.err.includes("flatten"), r.err);
});

Deno.test(
  "train writes spec, metrics and checkpoints; --resume continues to the end",
  gpuTest,
  async () => {
    const dir = ".cache/cli-test/tiny";
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    const a = await run([
      "train",
      "tests/fixtures/cli/tiny.yaml",
      "--quiet",
      "--set",
      "schedule.epochs=1",
    ]);
    assertEquals(a.code, 0, a.err);
    assert(/final test accuracy \d+\.\d+%/.test(a.out), a.out);
    // The header names the run directory, the adapter and the backend, also with --quiet.
    assert(/^training tiny → \.cache\/cli-test\/tiny on .+ via (Vulkan|GL)/m.test(a.err), a.err);
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(files, ["best", "checkpoints", "metrics.jsonl", "spec.json"]);
    const latest = JSON.parse(Deno.readTextFileSync(`${dir}/checkpoints/latest.json`));
    assertEquals(latest.step, 6);
    // The run recorded epochs=1: a longer run is asked for with --set (the file alone must agree).
    const b = await run([
      "train",
      "tests/fixtures/cli/tiny.yaml",
      "--quiet",
      "--resume",
      dir,
      "--set",
      "schedule.epochs=2",
    ]);
    assertEquals(b.code, 0, b.err);
    assert(
      b.out.includes("after 6 steps"),
      `resumed run should do the remaining 6 steps: ${b.out}`,
    );
    assertEquals(JSON.parse(Deno.readTextFileSync(`${dir}/checkpoints/latest.json`)).step, 12);
    const lines = Deno.readTextFileSync(`${dir}/metrics.jsonl`).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert(
      lines.filter((l) => l.kind === "eval").length === 2,
      "one evaluation per epoch across both runs",
    );
  },
);

Deno.test("without WebGPU (the ADABK_NO_WEBGPU switch) train and inspect fail with the install hint", async () => {
  for (const cmd of ["train", "inspect"]) {
    const r = await run([
      cmd,
      "tests/fixtures/cli/tiny.yaml",
      "--set",
      "run.out_dir=.cache/cli-test/nogpu",
    ], true);
    assertEquals(r.code, 1, `${cmd}: ${r.err}`);
    assert(
      r.err.startsWith("error: WebGPU is not available") && r.err.includes("mesa-vulkan-drivers"),
      r.err,
    );
    assert(!r.err.includes("    at "), "no stack trace");
  }
});
