import { assert, assertEquals, assertThrows } from "../assert.ts";
import { f32, gpuTest, randn, upload, withArena } from "../util.ts";
import { dot, numericGrad } from "../ref/finite_diff.ts";
import {
  avgPoolBackwardRef,
  avgPoolRef,
  globalAvgPoolBackwardRef,
  globalAvgPoolRef,
  maxPoolBackwardRef,
  maxPoolRef,
  poolOutRef,
} from "../ref/pool.ts";
import {
  avgPool2dBackward,
  avgPool2dForward,
  globalAvgPoolBackward,
  globalAvgPoolForward,
  maxPool2dBackward,
  maxPool2dForward,
  type Pool2dGeometry,
  poolOutputSize,
} from "../../lib/kernels/pool/pool.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import type { Tensor } from "../../lib/gpu/tensor.ts";

function pool(
  p: Partial<Pool2dGeometry> & Pick<Pool2dGeometry, "inH" | "inW" | "kh" | "kw">,
): Pool2dGeometry {
  return { batch: 2, channels: 3, strideH: p.kh, strideW: p.kw, padH: 0, padW: 0, ...p };
}

const CASES: Record<string, Pool2dGeometry> = {
  "2x2 stride 2 on odd 7x9 (last row/column dropped)": pool({ inH: 7, inW: 9, kh: 2, kw: 2 }),
  "3x3 stride 2 pad 1 (overlapping windows)": pool({
    inH: 8,
    inW: 7,
    kh: 3,
    kw: 3,
    strideH: 2,
    strideW: 2,
    padH: 1,
    padW: 1,
  }),
  "3x2 window, strides (1,2), pad (1,0), batch 1, one channel": pool({
    batch: 1,
    channels: 1,
    inH: 5,
    inW: 6,
    kh: 3,
    kw: 2,
    strideH: 1,
    strideW: 2,
    padH: 1,
  }),
  // Channels in fours: the vec4 forward kernel; windows tiling the input: the
  // per-window backward kernel (vec4 and scalar).
  "2x2 stride 2 tiling 6x8, 8 channels (vec4, per-window backward)": pool({
    channels: 8,
    inH: 6,
    inW: 8,
    kh: 2,
    kw: 2,
  }),
  "3x3 stride 3 tiling 6x9, 3 channels (per-window backward, scalar)": pool({
    inH: 6,
    inW: 9,
    kh: 3,
    kw: 3,
  }),
  "3x3 stride 2 pad 1, 4 channels (vec4 forward, gather backward)": pool({
    channels: 4,
    inH: 7,
    inW: 6,
    kh: 3,
    kw: 3,
    strideH: 2,
    strideW: 2,
    padH: 1,
    padW: 1,
  }),
  "5x5 stride 3 pad 2, 5 channels": pool({
    channels: 5,
    inH: 11,
    inW: 10,
    kh: 5,
    kw: 5,
    strideH: 3,
    strideW: 3,
    padH: 2,
    padW: 2,
  }),
};

const U = 2 ** -24;

/**
 * An fp32 sum of m terms (then at most one division) differs from the exact
 * value by at most γ_{m+1}·Σ|terms| (Higham Thm 3.1; the division adds one
 * rounding, the +1). `absSum` is the reference on absolute values; 1e-30
 * admits exact zeros only.
 */
function assertSumBound(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  absSum: ArrayLike<number>,
  m: number,
  what: string,
) {
  assertEquals(actual.length, expected.length, `${what}: length`);
  const gamma = ((m + 1) * U) / (1 - (m + 1) * U);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= gamma * absSum[i] + 1e-30)) {
      throw new Error(
        `${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (bound ${
          gamma * absSum[i]
        })`,
      );
    }
  }
}

const abs = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>, Math.abs);

Deno.test("reference pooling: backward passes match central finite differences", () => {
  const g = CASES["3x3 stride 2 pad 1 (overlapping windows)"];
  const [oh, ow] = poolOutRef(g);
  const x = randn(1, g.batch * g.inH * g.inW * g.channels);
  const dy = randn(2, g.batch * oh * ow * g.channels);
  // Max pooling is linear near x when no two window values are within h of
  // each other (true for these normals with h = 1e-6); avg pooling is linear.
  const h = 1e-6;
  const close = (num: Float64Array, ana: Float64Array, what: string) => {
    // Errors are float64 rounding of the loss over 2h: ~1e-16·|loss|/h ≈ 1e-9.
    for (let i = 0; i < num.length; i++) {
      assert(Math.abs(num[i] - ana[i]) < 1e-6, `${what}[${i}]: ${num[i]} vs ${ana[i]}`);
    }
  };
  const { argmax } = maxPoolRef(g, x);
  close(
    numericGrad((v) => dot(dy, maxPoolRef(g, v).y), Float64Array.from(x), h),
    maxPoolBackwardRef(g, dy, argmax),
    "max",
  );
  close(
    numericGrad((v) => dot(dy, avgPoolRef(g, v)), Float64Array.from(x), h),
    avgPoolBackwardRef(g, dy),
    "avg",
  );
  const gy = randn(3, 2 * 3);
  close(
    numericGrad((v) => dot(gy, globalAvgPoolRef(2, 3, 5, 3, v)), randn(4, 2 * 3 * 5 * 3), h),
    globalAvgPoolBackwardRef(2, 3, 5, 3, gy),
    "global",
  );
});

Deno.test(
  "pool geometry: output size, padding limit and shape errors",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      await Promise.resolve();
      for (const g of Object.values(CASES)) {
        const [oh, ow] = poolOutRef(g);
        assertEquals(poolOutputSize(g), { outH: oh, outW: ow });
      }
      assertThrows(
        () => poolOutputSize(pool({ inH: 5, inW: 5, kh: 3, kw: 3, padH: 2 })),
        RangeError,
        "padH",
      );
      assertThrows(() => poolOutputSize(pool({ inH: 1, inW: 5, kh: 3, kw: 3 })), RangeError, "1x5");
      const g = pool({ inH: 4, inW: 4, kh: 2, kw: 2 });
      const x = arena.tensor("x", [2, 4, 4, 3]);
      const y = arena.tensor("y", [2, 2, 2, 3]);
      const bad = arena.tensor("argmaxBad", [2, 2, 2, 2]);
      assertThrows(
        () => maxPool2dForward(gpu, { geom: g, x, y, argmax: bad }),
        RangeError,
        '"argmaxBad" has shape [2, 2, 2, 2]',
      );
      assertThrows(() => avgPool2dBackward(gpu, { geom: g, dy: x, dx: y }), RangeError, "dy");
      assertThrows(
        () => globalAvgPoolForward(gpu, { batch: 2, h: 4, w: 4, channels: 3, x, y }),
        RangeError,
        '"y"',
      );
      // argmax indices are f32: inputs beyond 2^24 elements are refused (a
      // shape-only stand-in: the check runs before any GPU work).
      const big = { ...x, shape: [1, 4097, 4096, 1], size: 4097 * 4096, name: "huge" } as Tensor;
      const bg = { ...g, batch: 1, inH: 4097, inW: 4096, channels: 1 };
      const by = { ...y, shape: [1, 2048, 2048, 1], size: 2048 * 2048 } as Tensor;
      assertThrows(
        () => maxPool2dForward(gpu, { geom: bg, x: big, y: by, argmax: by }),
        RangeError,
        "2^24",
      );
    }),
);

for (const [name, g] of Object.entries(CASES)) {
  Deno.test(
    `pool ${name}: max and average, forward and backward, match the reference`,
    gpuTest,
    () =>
      withArena(async (gpu, arena) => {
        const [oh, ow] = poolOutRef(g);
        const xs = [g.batch, g.inH, g.inW, g.channels];
        const ys = [g.batch, oh, ow, g.channels];
        const x = f32(randn(5, xs.reduce((a, b) => a * b)));
        const dy = f32(randn(6, ys.reduce((a, b) => a * b)));
        const X = upload(gpu, arena, "x", xs, x);
        const DY = upload(gpu, arena, "dy", ys, dy);
        // Outputs start with stale values: every kernel must overwrite them.
        const Y = upload(gpu, arena, "y", ys, dy);
        const AM = upload(gpu, arena, "argmax", ys, dy);
        const DX = upload(gpu, arena, "dx", xs, x);
        const YA = upload(gpu, arena, "yAvg", ys, dy);
        const DXA = upload(gpu, arena, "dxAvg", xs, x);
        submit(gpu, [
          ...maxPool2dForward(gpu, { geom: g, x: X, y: Y, argmax: AM }),
          ...maxPool2dBackward(gpu, { geom: g, dy: DY, argmax: AM, dx: DX }),
          ...avgPool2dForward(gpu, { geom: g, x: X, y: YA }),
          ...avgPool2dBackward(gpu, { geom: g, dy: DY, dx: DXA }),
        ]);
        const [y, am, dx, ya, dxa] = await readTensors(gpu, [Y, AM, DX, YA, DXA]);
        const ref = maxPoolRef(g, x);
        // Max and argmax are selections: exact.
        assertEquals(Float64Array.from(y), ref.y, "max values");
        assertEquals(Float64Array.from(am), ref.argmax, "argmax");
        const over = Math.ceil(g.kh / g.strideH) * Math.ceil(g.kw / g.strideW); // windows reaching one input
        assertSumBound(
          dx,
          maxPoolBackwardRef(g, dy, ref.argmax),
          maxPoolBackwardRef(g, abs(dy), ref.argmax),
          over,
          "max backward",
        );
        assertSumBound(ya, avgPoolRef(g, x), avgPoolRef(g, abs(x)), g.kh * g.kw, "avg forward");
        assertSumBound(
          dxa,
          avgPoolBackwardRef(g, dy),
          avgPoolBackwardRef(g, abs(dy)),
          over,
          "avg backward",
        );
      }),
  );
}

Deno.test(
  "max pool ties: the first element in scan order wins, on GPU as in the reference",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const g = CASES["3x3 stride 2 pad 1 (overlapping windows)"];
      const [oh, ow] = poolOutRef(g);
      const n = g.batch * g.inH * g.inW * g.channels;
      // Values in {0, 1, 2}: almost every window holds ties for its maximum.
      const x = Float64Array.from(randn(8, n), (v) => Math.min(2, Math.floor(Math.abs(v) * 2)));
      const X = upload(gpu, arena, "x", [g.batch, g.inH, g.inW, g.channels], x);
      const Y = arena.tensor("y", [g.batch, oh, ow, g.channels]);
      const AM = arena.tensor("argmax", [g.batch, oh, ow, g.channels]);
      submit(gpu, maxPool2dForward(gpu, { geom: g, x: X, y: Y, argmax: AM }));
      const [, am] = await readTensors(gpu, [Y, AM]);
      assertEquals(Float64Array.from(am), maxPoolRef(g, x).argmax);
      // The same with 4 channels (the vec4 kernel decides ties per channel).
      const g4 = CASES["3x3 stride 2 pad 1, 4 channels (vec4 forward, gather backward)"];
      const [oh4, ow4] = poolOutRef(g4);
      const n4 = g4.batch * g4.inH * g4.inW * g4.channels;
      const x4 = Float64Array.from(randn(9, n4), (v) => Math.min(2, Math.floor(Math.abs(v) * 2)));
      const X4 = upload(gpu, arena, "x4", [g4.batch, g4.inH, g4.inW, g4.channels], x4);
      const Y4 = arena.tensor("y4", [g4.batch, oh4, ow4, g4.channels]);
      const AM4 = arena.tensor("argmax4", [g4.batch, oh4, ow4, g4.channels]);
      submit(gpu, maxPool2dForward(gpu, { geom: g4, x: X4, y: Y4, argmax: AM4 }));
      const [am4] = await readTensors(gpu, [AM4]);
      assertEquals(Float64Array.from(am4), maxPoolRef(g4, x4).argmax, "vec4 ties");
      // All-equal input: each window picks its top-left in-image element.
      const ones = upload(
        gpu,
        arena,
        "ones",
        [g.batch, g.inH, g.inW, g.channels],
        new Float64Array(n).fill(1),
      );
      submit(gpu, maxPool2dForward(gpu, { geom: g, x: ones, y: Y, argmax: AM }));
      const [, am1] = await readTensors(gpu, [Y, AM]);
      // Output (0, 1) of image 0, channel 2: window rows -1..1 (row 0 first in image), cols 1..3.
      assertEquals(am1[(0 * ow + 1) * g.channels + 2], (0 * g.inW + 1) * g.channels + 2);
      // Output (0, 0): window starts in the padding; first in-image element is (0, 0).
      assertEquals(am1[1], 1);
    }),
);

Deno.test(
  "global average pool forward and backward match the reference",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const [b, h, w, c] of [[2, 7, 5, 6], [1, 1, 1, 3], [3, 4, 4, 1]]) {
        const x = f32(randn(b + h, b * h * w * c));
        const dy = f32(randn(c + w, b * c));
        const X = upload(gpu, arena, "x", [b, h, w, c], x);
        const DY = upload(gpu, arena, "dy", [b, c], dy);
        const Y = upload(gpu, arena, "y", [b, c], dy); // stale
        const DX = upload(gpu, arena, "dx", [b, h, w, c], x); // stale
        submit(gpu, [
          ...globalAvgPoolForward(gpu, { batch: b, h, w, channels: c, x: X, y: Y }),
          ...globalAvgPoolBackward(gpu, { batch: b, h, w, channels: c, dy: DY, dx: DX }),
        ]);
        const [y, dx] = await readTensors(gpu, [Y, DX]);
        assertSumBound(
          y,
          globalAvgPoolRef(b, h, w, c, x),
          globalAvgPoolRef(b, h, w, c, abs(x)),
          h * w,
          `global ${b}x${h}x${w}x${c}`,
        );
        // One division per element: within one rounding (γ_1 bound via m = 0).
        assertSumBound(
          dx,
          globalAvgPoolBackwardRef(b, h, w, c, dy),
          globalAvgPoolBackwardRef(b, h, w, c, abs(dy)),
          0,
          "global backward",
        );
      }
    }),
);

for (const [name, g] of Object.entries(CASES)) {
  Deno.test(
    `max pool with a fused ReLU, ${name}: relu(maxpool) and its gradient`,
    gpuTest,
    () =>
      withArena(async (gpu, arena) => {
        const [oh, ow] = poolOutRef(g);
        const xs = [g.batch, g.inH, g.inW, g.channels];
        const ys = [g.batch, oh, ow, g.channels];
        // Shifted so that about a third of the windows have a negative maximum.
        const x = f32(randn(7, xs.reduce((a, b) => a * b)).map((v) => v - 1));
        const dy = f32(randn(8, ys.reduce((a, b) => a * b)));
        const X = upload(gpu, arena, "x", xs, x);
        const DY = upload(gpu, arena, "dy", ys, dy);
        const Y = upload(gpu, arena, "y", ys, dy);
        const AM = upload(gpu, arena, "argmax", ys, dy);
        const DX = upload(gpu, arena, "dx", xs, x);
        submit(gpu, [
          ...maxPool2dForward(gpu, { geom: g, x: X, y: Y, argmax: AM, relu: true }),
          ...maxPool2dBackward(gpu, { geom: g, dy: DY, argmax: AM, dx: DX }),
        ]);
        const [y, dx] = await readTensors(gpu, [Y, DX]);
        // The reference: max pooling, then a ReLU (relu'(0) = 0) on its output.
        const ref = maxPoolRef(g, x);
        const negative = ref.y.filter((v) => v <= 0).length;
        assert(negative > 0 && negative < ref.y.length, "some windows are zeroed, some not");
        assertEquals(Float64Array.from(y), ref.y.map((v) => Math.max(v, 0)), "relu(max)");
        const masked = dy.map((d, o) => (ref.y[o] > 0 ? d : 0));
        const over = Math.ceil(g.kh / g.strideH) * Math.ceil(g.kw / g.strideW);
        assertSumBound(
          dx,
          maxPoolBackwardRef(g, masked, ref.argmax),
          maxPoolBackwardRef(g, abs(masked), ref.argmax),
          over,
          "relu(max) backward",
        );
      }),
  );
}
