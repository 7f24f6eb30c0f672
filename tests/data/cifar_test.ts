import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { DataError } from "../../lib/data/errors.ts";
import { gzip } from "../../lib/data/gzip.ts";
import { loadCifar10, loadCifar100, parseCifar } from "../../lib/data/cifar.ts";
import { withTempDir } from "./tmp.ts";

/** Value of record r at (y, x, channel c): distinct per position so a transposition shows. */
function pix(r: number, y: number, x: number, c: number): number {
  return (r * 31 + y * 7 + x * 3 + c * 101) & 255;
}

/**
 * Writes records the way the CIFAR docs describe them: label byte(s), then
 * the red plane, green plane, blue plane, each 32 rows of 32 bytes.
 */
function encodeRecords(labels: number[][]): Uint8Array {
  const rec = labels[0].length + 3072;
  const out = new Uint8Array(labels.length * rec);
  labels.forEach((ls, r) => {
    let o = r * rec;
    for (const l of ls) out[o++] = l;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[o++] = pix(r, y, x, c);
    }
  });
  return out;
}

/** Checks HWC placement of every value of every record. */
function checkHwc(images: Uint8Array, count: number, recordOffset = 0): void {
  for (let r = 0; r < count; r++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          const got = images[((r * 32 + y) * 32 + x) * 3 + c];
          const want = pix(r + recordOffset, y, x, c);
          if (got !== want) throw new Error(`record ${r} (${y},${x},${c}): ${got} != ${want}`);
        }
      }
    }
  }
}

Deno.test("CIFAR-10 records: labels, CHW → HWC", () => {
  const bytes = encodeRecords([[3], [0], [9]]);
  const r = parseCifar(bytes, "b.bin", "cifar10");
  assertEquals(r.count, 3);
  assertEquals(Array.from(r.labels), [3, 0, 9]);
  assertEquals(r.coarseLabels, undefined);
  checkHwc(r.images, 3);
});

Deno.test("CIFAR-100 records: coarse and fine labels, CHW → HWC", () => {
  const bytes = encodeRecords([[19, 99], [0, 5], [7, 42]]);
  const r = parseCifar(bytes, "train.bin", "cifar100");
  assertEquals(Array.from(r.labels), [99, 5, 42]);
  assertEquals(Array.from(r.coarseLabels!), [19, 0, 7]);
  checkHwc(r.images, 3);
});

Deno.test("CIFAR: truncated, empty, wrong variant, bad labels → DataError naming the file", () => {
  const ten = encodeRecords([[1], [2]]);
  assertThrows(
    () => parseCifar(ten.subarray(0, ten.length - 100), "data_batch_1.bin", "cifar10"),
    DataError,
    "data_batch_1.bin: length 6046 is not a whole number of 3073-byte CIFAR-10 records (1 records + 2973 bytes)",
  );
  assertThrows(
    () => parseCifar(new Uint8Array(0), "e.bin", "cifar10"),
    DataError,
    "e.bin: empty file",
  );
  // Two CIFAR-10 records are not a whole number of CIFAR-100 records.
  assertThrows(
    () => parseCifar(ten, "x.bin", "cifar100"),
    DataError,
    "3074-byte CIFAR-100 records",
  );
  assertThrows(
    () => parseCifar(encodeRecords([[1], [10]]), "l.bin", "cifar10"),
    DataError,
    "record 1 has label 10",
  );
  assertThrows(
    () => parseCifar(encodeRecords([[20, 1]]), "c.bin", "cifar100"),
    DataError,
    "record 0 has coarse label 20 / fine label 1",
  );
  assertThrows(
    () => parseCifar(encodeRecords([[2, 100]]), "f.bin", "cifar100"),
    DataError,
    "fine label 100",
  );
});

Deno.test("loadCifar10 concatenates the five batches in order (subfolder layout, gzip accepted)", () =>
  withTempDir(async (root) => {
    const dir = `${root}/cifar-10-batches-bin`;
    await Deno.mkdir(dir);
    // Batch i holds records with labels i-1 and 9 (all encoded as record 0 and 1 values).
    for (let i = 1; i <= 5; i++) {
      const b = encodeRecords([[i - 1], [9]]);
      await Deno.writeFile(`${dir}/data_batch_${i}.bin`, i === 2 ? await gzip(b) : b);
    }
    await Deno.writeFile(`${dir}/test_batch.bin`, encodeRecords([[4]]));
    const ds = await loadCifar10({ dir: root });
    assertEquals(ds.inputShape, [32, 32, 3]);
    assertEquals(ds.train.count, 10);
    assertEquals(Array.from(ds.train.labels), [0, 9, 1, 9, 2, 9, 3, 9, 4, 9]);
    checkHwc(ds.train.images.subarray(2 * 3072 * 4, 2 * 3072 * 5) as Uint8Array, 2); // batch 5
    assertEquals(ds.test.count, 1);
    assert(ds.normalization.mean.length === 3 && ds.normalization.std.length === 3);
    // A truncated batch names itself.
    const b3 = encodeRecords([[1], [2]]);
    await Deno.writeFile(`${dir}/data_batch_3.bin`, b3.subarray(0, 5000));
    await assertRejects(
      () => loadCifar10({ dir }),
      DataError,
      `${dir}/data_batch_3.bin: length 5000`,
    );
    await Deno.remove(`${dir}/data_batch_4.bin`);
    await Deno.writeFile(`${dir}/data_batch_3.bin`, b3);
    await assertRejects(() => loadCifar10({ dir }), DataError, "data_batch_4.bin: file not found");
  }));

Deno.test("loadCifar100 fine and coarse labels", () =>
  withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/train.bin`, encodeRecords([[3, 30], [4, 41], [19, 99]]));
    await Deno.writeFile(`${dir}/test.bin`, encodeRecords([[0, 1]]));
    const fine = await loadCifar100({ dir });
    assertEquals(fine.classes, 100);
    assertEquals(Array.from(fine.train.labels), [30, 41, 99]);
    checkHwc(fine.train.images as Uint8Array, 3);
    const coarse = await loadCifar100({ dir, labels: "coarse" });
    assertEquals(coarse.classes, 20);
    assertEquals(Array.from(coarse.train.labels), [3, 4, 19]);
    assertEquals(Array.from(coarse.test.labels), [0]);
    await assertRejects(
      () => loadCifar100({ dir: `${dir}/nope` }),
      DataError,
      "test.bin: file not found",
    );
  }));
