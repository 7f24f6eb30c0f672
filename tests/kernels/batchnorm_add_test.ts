/**
 * Batch norm with a residual add fused in (kernels/reduce/batchnorm.ts `skip`,
 * batchnorm_backward.ts `skipGrad`): y = [relu](bn(x) + skip) and its
 * gradients, training and evaluation, against the float64 references of
 * tests/ref/batchnorm.ts.
 */
import { submit } from "../../lib/gpu/commands.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";
import {
  batchNormBackward,
  batchNormEvalForward,
  batchNormTrainForward,
} from "../../lib/kernels/reduce/batchnorm.ts";
import type { ReduceVariant } from "../../lib/kernels/reduce/reduce.ts";
import { batchNormBackwardRef, batchNormEvalRef, batchNormTrainRef } from "../ref/batchnorm.ts";
import { assert } from "../assert.ts";
import { assertClose, download, f32, gpuTest, maxAbs, randn, upload, withArena } from "../util.ts";
import { assertBackward, sumDepth, U } from "./batchnorm_bounds.ts";

const EPS = 1e-5;
const MOMENTUM = 0.1;

async function check(
  gpu: Gpu,
  arena: BufferArena,
  rows: number,
  C: number,
  relu: boolean,
  variant: ReduceVariant,
) {
  const seed = rows * 7 + C;
  const xv = f32(randn(seed, rows * C, 2).map((v) => v + 1));
  const sv = f32(randn(seed + 1, rows * C));
  const gv = f32(randn(seed + 2, C).map((v) => 1 + 0.5 * v));
  const bv = f32(randn(seed + 3, C, 0.5));
  const rmv = f32(randn(seed + 4, C, 0.1));
  const rvv = f32(randn(seed + 5, C).map((v) => 1 + Math.abs(v)));
  const dyv = f32(randn(seed + 6, rows * C));
  const x = upload(gpu, arena, "x", [rows, C], xv);
  const skip = upload(gpu, arena, "skip", [rows, C], sv);
  const gamma = upload(gpu, arena, "gamma", [C], gv);
  const beta = upload(gpu, arena, "beta", [C], bv);
  const runningMean = upload(gpu, arena, "rm", [C], rmv);
  const runningVar = upload(gpu, arena, "rv", [C], rvv);
  const dy = upload(gpu, arena, "dy", [rows, C], dyv);
  const y = arena.tensor("y", [rows, C]);
  const yEval = arena.tensor("yEval", [rows, C]);
  const saveMean = arena.tensor("saveMean", [C]);
  const saveInvStd = arena.tensor("saveInvStd", [C]);
  const dx = arena.tensor("dx", [rows, C]);
  const dskip = upload(gpu, arena, "dskip", [rows, C], new Float64Array(rows * C).fill(7));
  const dgamma = arena.tensor("dgamma", [C]);
  const dbeta = arena.tensor("dbeta", [C]);
  const common = { x, rows, channels: C, gamma, variant, arena };
  const affine = { ...common, beta, eps: EPS, runningMean, runningVar, relu, skip };
  submit(gpu, [
    ...batchNormEvalForward(gpu, { ...affine, y: yEval }), // before the running update
    ...batchNormTrainForward(gpu, { ...affine, momentum: MOMENTUM, y, saveMean, saveInvStd }),
    ...batchNormBackward(gpu, {
      ...common,
      dy,
      saveMean,
      saveInvStd,
      dx,
      dgamma,
      dbeta,
      reluOutput: relu ? y : undefined,
      skipGrad: dskip,
    }),
  ]);
  const what = `${rows}x${C} ${variant}${relu ? " relu" : ""}`;
  const f = batchNormTrainRef(xv, rows, C, gv, bv, EPS, MOMENTUM, rmv, rvv);
  const addRelu = (v: number, i: number) => relu ? Math.max(v + sv[i], 0) : v + sv[i];
  // The mask comes from the GPU output (as the plan's relu-from-output
  // backward takes it), so a value within rounding of 0 cannot flip it.
  const yGot = await download(gpu, y);
  const g = relu ? dyv.map((d, i) => (yGot[i] > 0 ? d : 0)) : dyv;
  if (relu) assert(g.some((v) => v === 0) && g.some((v) => v !== 0), `${what}: mask is trivial`);
  const b = batchNormBackwardRef(xv, g, rows, C, gv, EPS);
  // As in batchnorm_test.ts: D bounds the chain of f32 additions in a column
  // sum plus a few roundings; the add is one rounding more of |y| + |skip|.
  const D = sumDepth(variant, rows, C);
  const s = maxAbs(f.invStd);
  const yScale = maxAbs(xv) * s * maxAbs(gv) + maxAbs(bv) + maxAbs(sv);
  assertClose(yGot, f.y.map(addRelu), { atol: 4 * D * U * yScale, rtol: 0 }, `y ${what}`);
  const ev = batchNormEvalRef(xv, rows, C, gv, bv, EPS, rmv, rvv).map(addRelu);
  const evScale = (maxAbs(xv) + maxAbs(rmv)) * maxAbs(gv) + maxAbs(bv) + maxAbs(sv);
  assertClose(await download(gpu, yEval), ev, { atol: 10 * U * evScale, rtol: 0 }, `eval ${what}`);
  assertClose(await download(gpu, runningVar), f.runningVar, { atol: 0, rtol: 2 * D * U }, what);
  // The skip's gradient is the (masked) dy itself: exact.
  assertClose(await download(gpu, dskip), g, { atol: 0, rtol: 0 }, `dskip ${what}`);
  const xhat = maxAbs(f.y.map((v, i) => (v - bv[i % C]) / gv[i % C]));
  const scale = { rows, D, dy: dyv, gamma: gv, invStd: s, xhat };
  await assertBackward(gpu, { dx, dgamma, dbeta }, b, scale, what);
}

Deno.test(
  "batch norm + residual add (+ ReLU) in one kernel each way vs the float64 reference",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const relu of [true, false]) {
        for (const [rows, C] of [[105, 5], [35, 8], [513, 3]]) {
          await check(gpu, arena, rows, C, relu, "serial");
        }
        await check(gpu, arena, 105, 7, relu, "tree");
      }
    }),
);
