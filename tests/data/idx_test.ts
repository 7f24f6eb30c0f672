import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { DataError } from "../../lib/data/errors.ts";
import { gzip } from "../../lib/data/gzip.ts";
import { encodeIdx, parseIdx, readIdxFile } from "../../lib/data/idx.ts";
import { loadMnist } from "../../lib/data/mnist.ts";
import { tableNormalization } from "../../lib/data/dataset.ts";
import { concat, idxHeader, withTempDir } from "./tmp.ts";

/** n images of h×w with a known byte pattern, and labels i mod 10. */
function mnistLike(n: number, h: number, w: number) {
  const images = new Uint8Array(n * h * w);
  for (let i = 0; i < images.length; i++) images[i] = (i * 37 + 11) & 255;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  return { images, labels };
}

Deno.test("encodeIdx writes the documented header; parseIdx reads it back", () => {
  const data = Uint8Array.from({ length: 2 * 3 * 5 }, (_, i) => i);
  const bytes = encodeIdx([2, 3, 5], data);
  // Hand-written header: 00 00 08 03, then 2, 3, 5 as big-endian u32.
  assertEquals(bytes.subarray(0, 16), idxHeader(0x08, [2, 3, 5]));
  const back = parseIdx(bytes, "x");
  assertEquals(back.dims, [2, 3, 5]);
  assertEquals(back.data, data);
});

Deno.test("IDX plain and gzip files round-trip through readIdxFile", () =>
  withTempDir(async (dir) => {
    const { images } = mnistLike(7, 5, 3); // odd sizes: nothing is a multiple of anything
    const bytes = concat(idxHeader(0x08, [7, 5, 3]), images);
    await Deno.writeFile(`${dir}/a`, bytes);
    await Deno.writeFile(`${dir}/a.gz`, await gzip(bytes));
    for (const p of [`${dir}/a`, `${dir}/a.gz`]) {
      const r = await readIdxFile(p, { dims: [undefined, 5, 3] });
      assertEquals(r.dims, [7, 5, 3]);
      assertEquals(r.data, images);
    }
  }));

Deno.test("IDX: bad magic, other element types, truncation, trailing bytes → DataError", () => {
  const good = concat(idxHeader(0x08, [4, 2]), new Uint8Array(8));
  assertThrows(() => parseIdx(new Uint8Array([0, 0, 8]), "f1"), DataError, "f1: truncated");
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]);
  assertThrows(() => parseIdx(png, "f2"), DataError, "f2: bad magic number 0x89504e47");
  const floats = concat(idxHeader(0x0d, [2]), new Uint8Array(8));
  assertThrows(() => parseIdx(floats, "f3"), DataError, "0xd (float32) is not supported");
  assertThrows(
    () => parseIdx(good.subarray(0, 10), "f4"),
    DataError,
    "rank-2 header needs 12 bytes",
  );
  assertThrows(
    () => parseIdx(good.subarray(0, good.length - 1), "f5"),
    DataError,
    "f5: truncated: header says 4×2 = 8 data bytes, file has 7",
  );
  assertThrows(
    () => parseIdx(concat(good, new Uint8Array(3)), "f6"),
    DataError,
    "3 unexpected bytes",
  );
  assertThrows(
    () => parseIdx(good, "f7", { dims: [undefined, 3] }),
    DataError,
    "dimensions 4×2 do not match the expected N×3",
  );
  assertThrows(() => parseIdx(good, "f8", { dims: [4] }), DataError, "do not match");
});

Deno.test("readIdxFile: truncated gzip and missing file name the file", () =>
  withTempDir(async (dir) => {
    const gz = await gzip(concat(idxHeader(0x08, [100]), new Uint8Array(100)));
    await Deno.writeFile(`${dir}/t.gz`, gz.subarray(0, gz.length - 6));
    await assertRejects(
      () => readIdxFile(`${dir}/t.gz`),
      DataError,
      `${dir}/t.gz: gzip data is truncated`,
    );
    await assertRejects(() => readIdxFile(`${dir}/none`), DataError, `${dir}/none: file not found`);
  }));

Deno.test("loadMnist reads plain and gzip files, NHWC with C = 1", () =>
  withTempDir(async (dir) => {
    const tr = mnistLike(12, 4, 6);
    const te = mnistLike(5, 4, 6);
    await Deno.writeFile(
      `${dir}/train-images-idx3-ubyte.gz`,
      await gzip(encodeIdx([12, 4, 6], tr.images)),
    );
    await Deno.writeFile(`${dir}/train-labels-idx1-ubyte`, encodeIdx([12], tr.labels));
    await Deno.writeFile(`${dir}/t10k-images.idx3-ubyte`, encodeIdx([5, 4, 6], te.images)); // dotted name
    await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte.gz`, await gzip(encodeIdx([5], te.labels)));
    const ds = await loadMnist({ dir });
    assertEquals(ds.inputShape, [4, 6, 1]);
    assertEquals(ds.train.count, 12);
    assertEquals(ds.test.count, 5);
    assertEquals(ds.train.images, tr.images);
    assertEquals(ds.test.labels, te.labels);
    assertEquals(ds.normalization, tableNormalization("mnist"));
  }));

Deno.test("loadMnist: count mismatch, label out of range, missing file → DataError", () =>
  withTempDir(async (dir) => {
    const tr = mnistLike(6, 2, 2);
    await Deno.writeFile(`${dir}/train-images-idx3-ubyte`, encodeIdx([6, 2, 2], tr.images));
    await Deno.writeFile(
      `${dir}/train-labels-idx1-ubyte`,
      encodeIdx([5], tr.labels.subarray(0, 5)),
    );
    await assertRejects(() => loadMnist({ dir }), DataError, "5 labels, but");
    const bad = tr.labels.slice();
    bad[3] = 10;
    await Deno.writeFile(`${dir}/train-labels-idx1-ubyte`, encodeIdx([6], bad));
    await assertRejects(() => loadMnist({ dir }), DataError, "label 10 at index 3 is not below 10");
    await Deno.writeFile(`${dir}/train-labels-idx1-ubyte`, encodeIdx([6], tr.labels));
    const err = await assertRejects(() => loadMnist({ dir }), DataError, "t10k-images-idx3-ubyte");
    assert(err.message.includes("file not found"), err.message);
  }));
