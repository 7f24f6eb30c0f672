import { assert, assertEquals, assertThrows } from "../assert.ts";
import { augmentBatchRef, augmentDraw, augmentImageRef } from "../../lib/data/augment_ref.ts";
import { assertClose } from "../util.ts";
import { augmentLiteral } from "./augment_literal.ts";

const norm3 = { scale: 1 / 255, mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] };

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 73 + seed * 19 + ((i * i) >> 3)) & 255);
}

Deno.test("augmentDraw: deterministic, in range, every offset reached, flips about half", () => {
  const pad = 4;
  const seenDy = new Set<number>(), seenDx = new Set<number>();
  let flips = 0;
  const n = 4000;
  for (let s = 0; s < n; s++) {
    const d = augmentDraw(11, 2, s, pad, true);
    assertEquals(d, augmentDraw(11, 2, s, pad, true));
    assert(d.dy >= 0 && d.dy <= 2 * pad && d.dx >= 0 && d.dx <= 2 * pad, JSON.stringify(d));
    seenDy.add(d.dy);
    seenDx.add(d.dx);
    if (d.flip) flips++;
  }
  assertEquals(seenDy.size, 9);
  assertEquals(seenDx.size, 9);
  // Binomial(4000, ½): sd 32; ±200 is a 6-sd bound.
  assert(Math.abs(flips - n / 2) < 200, `${flips} flips of ${n}`);
  assertEquals(augmentDraw(11, 2, 5, 0, false), { dy: 0, dx: 0, flip: false });
  let differ = 0;
  for (let s = 0; s < 50; s++) {
    if (
      JSON.stringify(augmentDraw(11, 2, s, pad, true)) !==
        JSON.stringify(augmentDraw(11, 3, s, pad, true))
    ) differ++;
  }
  assert(differ > 40, `epoch changes the draws (${differ}/50 differ)`);
  assertThrows(() => augmentDraw(1, 0, 0, 128, true), RangeError, "pad");
});

Deno.test("augmentImageRef equals the literal pad→crop→flip→normalise reference", () => {
  // Awkward shapes: non-square, odd sizes, a 1×1 image with pad larger than it, C = 1 and 3.
  const cases = [
    { shape: [5, 7, 3], pad: 2, norm: norm3 },
    { shape: [28, 28, 1], pad: 4, norm: { scale: 1 / 255, mean: [0.286], std: [0.3528] } },
    { shape: [1, 1, 1], pad: 3, norm: { scale: 1, mean: [0], std: [1] } },
    { shape: [3, 2, 3], pad: 0, norm: norm3 },
  ];
  for (const { shape, pad, norm } of cases) {
    const size = shape[0] * shape[1] * shape[2];
    const src = bytes(2 * size, shape[0]);
    const out = new Float32Array(3 * size);
    for (let dy = 0; dy <= 2 * pad; dy++) {
      for (let dx = 0; dx <= 2 * pad; dx++) {
        for (const flip of [false, true]) {
          const draw = { dy, dx, flip };
          augmentImageRef(src, shape, 1, out, 2, draw, pad, norm);
          const want = augmentLiteral(src.subarray(size), shape, draw, pad, norm);
          // Same float64 formula on the same inputs, then one f32 rounding: equal to f32 precision.
          assertClose(
            out.subarray(2 * size),
            want,
            { atol: 0, rtol: 2 ** -24 },
            `[${shape}] pad ${pad} ${JSON.stringify(draw)}`,
          );
        }
      }
    }
    assert(out.subarray(0, 2 * size).every((v) => v === 0), "other images untouched");
  }
});

Deno.test("augmentBatchRef: per-sample determinism independent of batch position; epochs differ", () => {
  const shape = [6, 5, 3];
  const size = 90;
  const images = bytes(10 * size, 3);
  const opts = { seed: 77, epoch: 1, pad: 2, flip: true, normalization: norm3 };
  const a = new Float32Array(3 * size);
  const b = new Float32Array(3 * size);
  augmentBatchRef(images, shape, [4, 9, 0], opts, a);
  augmentBatchRef(images, shape, [0, 4, 9], opts, b);
  assertEquals(a.subarray(0, size), b.subarray(size, 2 * size)); // sample 4
  assertEquals(a.subarray(2 * size), b.subarray(0, size)); // sample 0
  const again = new Float32Array(3 * size);
  augmentBatchRef(images, shape, [4, 9, 0], opts, again);
  assertEquals(again, a);
  const next = new Float32Array(3 * size);
  augmentBatchRef(images, shape, [4, 9, 0], { ...opts, epoch: 2 }, next);
  assert(next.some((v, i) => v !== a[i]), "another epoch gives other crops/flips");
  // No augmentation = normalisation only.
  const plain = new Float32Array(size);
  augmentBatchRef(images, shape, [9], { ...opts, pad: 0, flip: false }, plain);
  const want = Array.from(
    images.subarray(9 * size, 10 * size),
    (v, i) => (v / 255 - norm3.mean[i % 3]) / norm3.std[i % 3],
  );
  assertClose(plain, want, { atol: 0, rtol: 2 ** -23 }, "normalise only"); // two roundings: v/255 vs v·(1/255), then f32
  assertThrows(() => augmentBatchRef(images, shape, [10], opts, plain), RangeError, "index 10");
  assertThrows(() => augmentBatchRef(images, shape, [1, 2], opts, plain), RangeError, "needs 180");
});
