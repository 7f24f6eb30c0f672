import { assertEquals, assertThrows } from "../assert.ts";
import {
  channelStats,
  NORMALIZATION,
  sampleSize,
  type Split,
  validateSplit,
} from "../../lib/data/dataset.ts";
import { DataError } from "../../lib/data/errors.ts";
import { assertClose, randu } from "../util.ts";

Deno.test("channelStats equals a two-pass float64 mean/std per channel", () => {
  const shape = [3, 5, 3];
  const n = 7;
  const vals = randu(5, n * 45, 0, 255).map(Math.floor);
  const split: Split = { images: Uint8Array.from(vals), labels: new Uint8Array(n), count: n };
  const got = channelStats(split, shape, 1 / 255);
  for (let c = 0; c < 3; c++) {
    const xs = Array.from(vals).filter((_, i) => i % 3 === c).map((v) => v / 255);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    // One-pass E[x²]-E[x]² over 105 values in [0,1] loses ~1e-15 relative: 1e-12 is generous.
    assertClose(
      [got.mean[c], got.std[c]],
      [mean, std],
      { atol: 1e-12, rtol: 1e-12 },
      `channel ${c}`,
    );
  }
  const flat = channelStats({
    images: new Float32Array(8).fill(2),
    labels: new Uint8Array(2),
    count: 2,
  }, [2, 2, 1]);
  assertEquals(flat, { mean: [2], std: [0] });
});

Deno.test("validateSplit and sampleSize reject inconsistent data", () => {
  const split: Split = { images: new Uint8Array(12), labels: Uint8Array.from([1, 2, 3]), count: 3 };
  validateSplit("ok", split, [2, 2, 1], 4);
  assertThrows(
    () => validateSplit("s", split, [2, 2, 1], 3),
    DataError,
    "s: label 3 at index 2 is not below 3",
  );
  assertThrows(
    () => validateSplit("s", split, [3, 2, 1], 4),
    DataError,
    "12 image values for 3 images of [3,2,1]",
  );
  assertThrows(
    () => validateSplit("s", { ...split, labels: new Uint8Array(2) }, [2, 2, 1], 4),
    DataError,
    "2 labels for 3",
  );
  assertThrows(() => sampleSize([2, 0, 1]), RangeError, "[H, W, C]");
  assertThrows(() => sampleSize([28, 28]), RangeError, "[H, W, C] or [features]");
  assertEquals(sampleSize([28, 28, 1]), 784);
  assertEquals(sampleSize([784]), 784);
});

Deno.test("default normalisations have one mean and one positive std per channel", () => {
  for (const [name, n] of Object.entries(NORMALIZATION)) {
    const c = name.startsWith("cifar") ? 3 : 1;
    assertEquals([n.mean.length, n.std.length], [c, c], name);
    for (const s of n.std) if (!(s > 0 && s < 1)) throw new Error(`${name}: std ${s}`);
  }
});
