/**
 * Batch norm fused with max pooling over disjoint windows
 * (lib/kernels/reduce/batchnorm_pool.ts) against the float64 references of
 * the separate ops: batch norm (training and evaluation), ReLU, max pooling
 * and their backward passes, with ties, ReLU-zeroed windows, odd channel
 * counts, partial windows (floor mode) and both reduction variants.
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { submit } from "../../lib/gpu/commands.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";
import { batchNormTrainStats } from "../../lib/kernels/reduce/batchnorm.ts";
import {
  batchNormPoolEvalForward,
  batchNormPoolTrainForward,
  windowsPerInvocation,
} from "../../lib/kernels/reduce/batchnorm_pool.ts";
import { batchNormPoolBackward } from "../../lib/kernels/reduce/batchnorm_pool_backward.ts";
import { NO_ARGMAX, type Pool2dGeometry } from "../../lib/kernels/pool/pool.ts";
import type { ReduceVariant } from "../../lib/kernels/reduce/reduce.ts";
import { batchNormBackwardRef, batchNormEvalRef, batchNormTrainRef } from "../ref/batchnorm.ts";
import { maxPoolBackwardRef, maxPoolRef, poolOutRef } from "../ref/pool.ts";
import { assertClose, download, f32, gpuTest, maxAbs, randn, upload, withArena } from "../util.ts";

const U = 2 ** -24;
const EPS = 1e-5;
const MOMENTUM = 0.1;

interface Case {
  n: number;
  h: number;
  w: number;
  c: number;
  k: [number, number];
  relu: boolean;
  variant: ReduceVariant;
  /** Windows per invocation (default: the adapter's). */
  per?: number;
}

function geometry({ n, h, w, c, k }: Case): Pool2dGeometry {
  return {
    batch: n,
    inH: h,
    inW: w,
    channels: c,
    kh: k[0],
    kw: k[1],
    strideH: k[0],
    strideW: k[1],
    padH: 0,
    padW: 0,
  };
}

async function check(gpu: Gpu, arena: BufferArena, tc: Case) {
  const g = geometry(tc);
  const C = tc.c;
  const rows = tc.n * tc.h * tc.w;
  const [oh, ow] = poolOutRef(g);
  const pooled = tc.n * oh * ow * C;
  const seed = rows + 7 * C;
  // x on a grid of 0.5: many windows hold equal values (the first in scan
  // order must win), and distinct values stay far apart after rounding.
  const xv = randn(seed, rows * C, 1.5).map((v) => Math.round(2 * v) / 2 + 1);
  const gv = f32(randn(seed + 1, C).map((v) => (v < -0.8 ? -1 : 1) * (0.5 + Math.abs(v))));
  const bv = f32(randn(seed + 2, C, 0.5).map((v) => v - 0.3));
  const rmv = f32(randn(seed + 3, C, 0.1));
  const rvv = f32(randn(seed + 4, C).map((v) => 1 + Math.abs(v)));
  const dyv = f32(randn(seed + 5, pooled));
  const x = upload(gpu, arena, "x", [tc.n, tc.h, tc.w, C], xv);
  const gamma = upload(gpu, arena, "gamma", [C], gv);
  const beta = upload(gpu, arena, "beta", [C], bv);
  const runningMean = upload(gpu, arena, "rm", [C], rmv);
  const runningVar = upload(gpu, arena, "rv", [C], rvv);
  const dy = upload(gpu, arena, "dy", [tc.n, oh, ow, C], dyv);
  const y = arena.tensor("y", [tc.n, oh, ow, C]);
  const yEval = arena.tensor("yEval", [tc.n, oh, ow, C]);
  const argmax = arena.tensor("argmax", [tc.n, oh, ow, C]);
  const saveMean = arena.tensor("saveMean", [C]);
  const saveInvStd = arena.tensor("saveInvStd", [C]);
  const dx = arena.tensor("dx", [tc.n, tc.h, tc.w, C]);
  const dgamma = arena.tensor("dgamma", [C]);
  const dbeta = arena.tensor("dbeta", [C]);
  const stats = { saveMean, saveInvStd, runningMean, runningVar };
  const common = { geom: g, x, gamma, beta, relu: tc.relu, windowsPerInvocation: tc.per };
  submit(gpu, [
    ...batchNormTrainStats(gpu, {
      x,
      rows,
      channels: C,
      gamma,
      beta,
      eps: EPS,
      momentum: MOMENTUM,
      variant: tc.variant,
      arena,
      ...stats,
    }),
    ...batchNormPoolTrainForward(gpu, { ...common, ...stats, y, argmax }),
    ...batchNormPoolBackward(gpu, {
      ...common,
      ...stats,
      dy,
      argmax,
      dx,
      dgamma,
      dbeta,
      variant: tc.variant,
      arena,
    }),
    // Evaluation reads the running statistics this step updated.
    ...batchNormPoolEvalForward(gpu, { ...common, ...stats, y: yEval, eps: EPS }),
  ]);
  const what = `${tc.n}x${tc.h}x${tc.w}x${C} window ${tc.k} ${tc.variant}${tc.relu ? " relu" : ""}`;
  const relu = (v: Float64Array) => (tc.relu ? v.map((e) => Math.max(e, 0)) : v);

  // Reference: the separate ops in f64 (batch norm, ReLU, max pool).
  const f = batchNormTrainRef(xv, rows, C, gv, bv, EPS, MOMENTUM, rmv, rvv);
  const pool = maxPoolRef(g, f.y);
  const yGot = await download(gpu, y);
  // Values are O(|x − mean|·|γ|σ⁻¹ + |β|), each a few roundings off (see
  // batchnorm_test.ts); the ReLU and the max pick among them exactly.
  const yScale = maxAbs(xv) * maxAbs(f.invStd) * maxAbs(gv) + maxAbs(bv);
  assertClose(yGot, relu(pool.y), { atol: 64 * U * yScale, rtol: 0 }, `y ${what}`);
  // The argmax is the reference's (ties included), or NO_ARGMAX where a
  // ReLU zeroed the window (the GPU output decides, as in batchnorm_test.ts).
  const amWant = pool.argmax.map((a, o) => (tc.relu && !(yGot[o] > 0) ? NO_ARGMAX : a));
  assertClose(await download(gpu, argmax), amWant, { atol: 0, rtol: 0 }, `argmax ${what}`);
  assertClose(await download(gpu, runningMean), f.runningMean, {
    atol: 64 * U * maxAbs(xv),
    rtol: 0,
  }, `running mean ${what}`);
  assertClose(await download(gpu, runningVar), f.runningVar, {
    atol: 0,
    rtol: 64 * U,
  }, `running var ${what}`);

  // Backward: the pooled gradient at the argmax, cut where the ReLU zeroed.
  const dyIn = dyv.map((d, o) => (tc.relu && !(yGot[o] > 0) ? 0 : d));
  const full = maxPoolBackwardRef(g, dyIn, pool.argmax);
  const b = batchNormBackwardRef(xv, full, rows, C, gv, EPS);
  // As in batchnorm_test.ts: sums of ≤ `pooled` terms, each ≲ |dy|·(1 + |x̂|);
  // 256 roundings cover the chunked sums with a wide margin. dx's bracket
  // N·g − dβ − x̂·dγ cancels, so its error scales with those sums.
  const xhat = maxAbs(f.y.map((v, i) => (v - bv[i % C]) / gv[i % C]));
  const sums = 256 * U * (pooled / C) * maxAbs(dyv) * (1 + xhat);
  assertClose(await download(gpu, dbeta), b.dbeta, { atol: sums, rtol: 0 }, `dbeta ${what}`);
  assertClose(await download(gpu, dgamma), b.dgamma, {
    atol: sums * xhat,
    rtol: 0,
  }, `dgamma ${what}`);
  const dxScale = maxAbs(f.invStd) * maxAbs(gv) / rows;
  assertClose(await download(gpu, dx), b.dx, {
    atol: 4 * sums * (1 + xhat) * dxScale + 64 * U * maxAbs(b.dx),
    rtol: 0,
  }, `dx ${what}`);

  const e = batchNormEvalRef(xv, rows, C, gv, bv, EPS, f.runningMean, f.runningVar);
  assertClose(await download(gpu, yEval), relu(maxPoolRef(g, e).y), {
    atol: 64 * U * yScale,
    rtol: 0,
  }, `evaluation y ${what}`);
}

Deno.test(
  "batch norm + max pool (disjoint windows) vs the separate f64 references",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const cases: Omit<Case, "relu" | "variant">[] = [
        { n: 3, h: 6, w: 10, c: 3, k: [2, 2] }, // odd channels: scalar kernels
        { n: 3, h: 6, w: 10, c: 8, k: [3, 3] }, // vec4; one partial column of windows
        { n: 2, h: 7, w: 9, c: 5, k: [2, 2] }, // partial row and column
        { n: 2, h: 7, w: 9, c: 4, k: [2, 3] }, // non-square window, partial row
        { n: 4, h: 32, w: 34, c: 4, k: [2, 2] }, // 1088 pooled rows: two-pass sums
      ];
      for (const variant of ["serial", "tree"] as ReduceVariant[]) {
        for (const tc of cases) {
          for (const relu of [false, true]) await check(gpu, arena, { ...tc, relu, variant });
        }
      }
      // One window per invocation (GPUs), and blocks that end mid-row and mid-batch.
      for (const per of [1, 3, 7]) {
        for (const tc of cases.slice(0, 4)) {
          await check(gpu, arena, { ...tc, relu: true, variant: "serial", per });
        }
      }
    }),
);

Deno.test(
  "batch norm + max pool refuses overlapping or padded windows and bad blocks",
  gpuTest,
  () =>
    withArena((gpu, arena) => {
      const x = arena.tensor("x", [1, 4, 4, 2]);
      const c = arena.tensor("c", [2]);
      const g = geometry({ n: 1, h: 4, w: 4, c: 2, k: [2, 2], relu: false, variant: "serial" });
      const args = { x, gamma: c, beta: c, saveMean: c, saveInvStd: c };
      const y = arena.tensor("y", [1, 3, 3, 2]);
      assertThrows(
        () =>
          batchNormPoolTrainForward(gpu, {
            ...args,
            geom: { ...g, strideH: 1, strideW: 1 },
            y,
            argmax: y,
          }),
        RangeError,
        "windows must not overlap",
      );
      assertThrows(
        () => batchNormPoolTrainForward(gpu, { ...args, geom: { ...g, padH: 1 }, y, argmax: y }),
        RangeError,
        "windows must not overlap",
      );
      const y2 = arena.tensor("y2", [1, 2, 2, 2]);
      assertThrows(
        () =>
          batchNormPoolTrainForward(gpu, {
            ...args,
            geom: g,
            y: y2,
            argmax: y2,
            windowsPerInvocation: 0,
          }),
        RangeError,
        "windowsPerInvocation must be an integer in [1, 256], got 0",
      );
      // llvmpipe's loop budget (60000 iterations) caps the block: 16 windows of 100×100 would pass it.
      assertEquals(windowsPerInvocation(gpu, "t", { ...g, kh: 100, kw: 100 }, 16), 5);
      assertEquals(windowsPerInvocation(gpu, "t", g, 16), 16);
      return Promise.resolve();
    }),
);
