import { assertThrows } from "../assert.ts";
import { submit } from "../../lib/gpu/commands.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";
import {
  batchNormBackward,
  batchNormEvalForward,
  batchNormTrainForward,
} from "../../lib/kernels/reduce/batchnorm.ts";
import type { WidthChoice } from "../../lib/kernels/elementwise/elementwise.ts";
import type { ReduceVariant } from "../../lib/kernels/reduce/reduce.ts";
import { batchNormBackwardRef, batchNormEvalRef, batchNormTrainRef } from "../ref/batchnorm.ts";
import { dot, numericGrad } from "../ref/finite_diff.ts";
import { assertClose, download, f32, gpuTest, maxAbs, randn, upload, withArena } from "../util.ts";
import { assertBackward, sumDepth, U } from "./batchnorm_bounds.ts";

const EPS = 1e-5;
const MOMENTUM = 0.1;

Deno.test("reference batch-norm backward matches central differences (x, γ, β)", () => {
  const rows = 5, C = 3;
  const x = randn(1, rows * C, 2);
  const gamma = randn(2, C).map((v) => 1 + 0.5 * v);
  const beta = randn(3, C);
  const w = randn(4, rows * C);
  const zeros = new Float64Array(C);
  const loss = (xs: Float64Array, g: Float64Array, b: Float64Array) =>
    dot(w, batchNormTrainRef(xs, rows, C, g, b, EPS, MOMENTUM, zeros, zeros).y);
  const ref = batchNormBackwardRef(x, w, rows, C, gamma, EPS);
  // f64 central differences with h = 1e-5 on O(1) data: error ≲ 1e-9.
  const tol = { atol: 1e-7, rtol: 1e-6 };
  assertClose(ref.dx, numericGrad((xs) => loss(xs, gamma, beta), x), tol, "dx");
  assertClose(ref.dgamma, numericGrad((g) => loss(x, g, beta), gamma), tol, "dgamma");
  assertClose(ref.dbeta, numericGrad((b) => loss(x, gamma, b), beta), tol, "dbeta");
});

Deno.test(
  "running statistics follow PyTorch: biased variance normalises, unbiased updates",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // x = 1, 2, 3, 4 in one channel: mean 2.5, biased var 1.25, unbiased 5/3.
      const x = upload(gpu, arena, "x", [4, 1], [1, 2, 3, 4]);
      const one = (name: string, v: number) => upload(gpu, arena, name, [1], [v]);
      const runningMean = one("rm", 0);
      const runningVar = one("rv", 1);
      const saveMean = one("mean", 0);
      const saveInvStd = one("istd", 0);
      const y = arena.tensor("y", [4, 1]);
      submit(
        gpu,
        batchNormTrainForward(gpu, {
          x,
          rows: 4,
          channels: 1,
          gamma: one("g", 1),
          beta: one("b", 0),
          eps: 0,
          momentum: 0.1,
          runningMean,
          runningVar,
          y,
          saveMean,
          saveInvStd,
        }),
      );
      // Each value below is one or two f32 roundings from the exact one.
      const tol = { atol: 0, rtol: 4 * U };
      assertClose(await download(gpu, runningMean), [0.25], tol, "running mean 0.9·0 + 0.1·2.5");
      assertClose(
        await download(gpu, runningVar),
        [0.9 + 0.1 * 5 / 3],
        tol,
        "running var 0.9·1 + 0.1·5/3",
      );
      assertClose(await download(gpu, saveInvStd), [1 / Math.sqrt(1.25)], tol, "1/√1.25");
      const s = 1 / Math.sqrt(1.25);
      assertClose(await download(gpu, y), [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s], {
        atol: 0,
        rtol: 8 * U,
      }, "y");
    }),
);

interface Case {
  rows: number;
  C: number;
  variant: ReduceVariant;
  width?: WidthChoice;
  rowsPerInvocation?: number;
  /** Fuse a ReLU after the batch norm (forward `relu`, backward `reluOutput`). */
  relu?: boolean;
}

async function checkTrainAndBackward(
  gpu: Gpu,
  arena: BufferArena,
  { rows, C, variant, width, rowsPerInvocation, relu }: Case,
) {
  const seed = rows * 13 + C;
  const xv = f32(randn(seed, rows * C, 3).map((v) => v + 2));
  const gv = f32(randn(seed + 1, C).map((v) => 1 + 0.5 * v));
  const bv = f32(randn(seed + 2, C, 0.5));
  const rmv = f32(randn(seed + 3, C, 0.1));
  const rvv = f32(randn(seed + 4, C).map((v) => 1 + Math.abs(v)));
  const dyv = f32(randn(seed + 5, rows * C));
  const x = upload(gpu, arena, "x", [rows, C], xv);
  const gamma = upload(gpu, arena, "gamma", [C], gv);
  const beta = upload(gpu, arena, "beta", [C], bv);
  const runningMean = upload(gpu, arena, "rm", [C], rmv);
  const runningVar = upload(gpu, arena, "rv", [C], rvv);
  const dy = upload(gpu, arena, "dy", [rows, C], dyv);
  const y = arena.tensor("y", [rows, C]);
  const saveMean = arena.tensor("saveMean", [C]);
  const saveInvStd = arena.tensor("saveInvStd", [C]);
  const dx = arena.tensor("dx", [rows, C]);
  const dgamma = arena.tensor("dgamma", [C]);
  const dbeta = arena.tensor("dbeta", [C]);
  const common = { x, rows, channels: C, gamma, variant, width, rowsPerInvocation, arena };
  submit(gpu, [
    ...batchNormTrainForward(gpu, {
      ...common,
      beta,
      eps: EPS,
      momentum: MOMENTUM,
      runningMean,
      runningVar,
      y,
      saveMean,
      saveInvStd,
      relu,
    }),
    ...batchNormBackward(gpu, {
      ...common,
      dy,
      saveMean,
      saveInvStd,
      dx,
      dgamma,
      dbeta,
      reluOutput: relu ? y : undefined,
    }),
  ]);
  const f = batchNormTrainRef(xv, rows, C, gv, bv, EPS, MOMENTUM, rmv, rvv);
  // With a fused ReLU: the reference is the batch norm, then the ReLU; its
  // backward gets dy where the output is positive (the GPU output decides,
  // so an output within rounding of 0 cannot flip the mask between the two).
  const yGot = await download(gpu, y);
  const dyIn = relu ? dyv.map((d, i) => (yGot[i] > 0 ? d : 0)) : dyv;
  const b = batchNormBackwardRef(xv, dyIn, rows, C, gv, EPS);
  const what = `${rows}x${C} ${variant} ${width ?? "auto"} R=${rowsPerInvocation ?? "auto"}${
    relu ? " relu" : ""
  }`;

  // Each reduction errs by ≤ D·2^-24·Σ|terms| (batchnorm_bounds.ts); the
  // bounds below propagate that to each output.
  const D = sumDepth(variant, rows, C);
  const s = maxAbs(f.invStd);
  const xhat = maxAbs(f.y.map((v, i) => (v - bv[i % C]) / gv[i % C]));
  assertClose(
    await download(gpu, saveMean),
    f.mean,
    { atol: D * U * maxAbs(xv), rtol: 0 },
    `mean ${what}`,
  );
  // Centred squares are all positive: the variance is relatively accurate, and
  // the mean's error enters only to second order.
  assertClose(
    await download(gpu, saveInvStd),
    f.invStd,
    { atol: 0, rtol: 2 * D * U },
    `invStd ${what}`,
  );
  const yScale = maxAbs(xv) * s * maxAbs(gv) + maxAbs(bv);
  const yWant = relu ? f.y.map((v) => Math.max(v, 0)) : f.y;
  assertClose(yGot, yWant, { atol: 4 * D * U * yScale, rtol: 0 }, `y ${what}`);
  assertClose(await download(gpu, runningMean), f.runningMean, {
    atol: D * U * maxAbs(xv),
    rtol: 4 * U,
  }, `running mean ${what}`);
  assertClose(
    await download(gpu, runningVar),
    f.runningVar,
    { atol: 0, rtol: 2 * D * U },
    `running var ${what}`,
  );

  const scale = { rows, D, dy: dyv, gamma: gv, invStd: s, xhat };
  await assertBackward(gpu, { dx, dgamma, dbeta }, b, scale, what);
}

Deno.test(
  "batch-norm training forward and backward vs the reference (awkward shapes, both variants)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const shapes: [number, number][] = [[2, 1], [7, 3], [3, 257], [513, 3], [8192, 8]];
      for (const variant of ["serial", "tree"] as ReduceVariant[]) {
        for (const [rows, C] of shapes) {
          await checkTrainAndBackward(gpu, arena, { rows, C, variant });
        }
      }
      await checkTrainAndBackward(gpu, arena, {
        rows: 33,
        C: 8,
        variant: "serial",
        width: "scalar",
      });
      await checkTrainAndBackward(gpu, arena, { rows: 33, C: 8, variant: "serial", width: "vec4" });
      await checkTrainAndBackward(gpu, arena, {
        rows: 33,
        C: 8,
        variant: "tree",
        rowsPerInvocation: 1,
      });
      await checkTrainAndBackward(gpu, arena, {
        rows: 33,
        C: 3,
        variant: "tree",
        rowsPerInvocation: 7,
      });
    }),
);

Deno.test(
  "batch norm with a fused ReLU: relu(bn(x)) and its gradients vs the reference",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const variant of ["serial", "tree"] as ReduceVariant[]) {
        for (const [rows, C] of [[7, 3], [513, 3], [8192, 8]]) {
          await checkTrainAndBackward(gpu, arena, { rows, C, variant, relu: true });
        }
        await checkTrainAndBackward(gpu, arena, {
          rows: 33,
          C: 8,
          variant,
          width: "scalar",
          relu: true,
        });
      }
    }),
);

/**
 * The naive one-pass variance E[x²] − E[x]² in f32 (what a single pass
 * without shifts or Welford states would compute), for one channel.
 */
function naiveVarianceF32(x: ArrayLike<number>, rows: number, C: number, c: number): number {
  let s1 = 0, s2 = 0;
  for (let r = 0; r < rows; r++) {
    const v = x[r * C + c];
    s1 = Math.fround(s1 + v);
    s2 = Math.fround(s2 + Math.fround(v * v));
  }
  return Math.fround(Math.fround(s2 / rows) - Math.fround(Math.fround(s1 / rows) ** 2));
}

Deno.test(
  "batch-norm statistics in one pass stay accurate on data with a large mean (μ/σ = 1e5)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const variant of ["serial", "tree"] as ReduceVariant[]) {
        for (const [rows, C] of [[1001, 3], [100352, 5]]) {
          // Channel c has mean 1e5·(c + 1) and unit spread.
          const xv = f32(randn(rows + C, rows * C).map((v, i) => v + 1e5 * (1 + (i % C))));
          const ones = new Float64Array(C).fill(1);
          const f = batchNormTrainRef(xv, rows, C, ones, new Float64Array(C), EPS, 0.5, ones, ones);
          const x = upload(gpu, arena, "x", [rows, C], xv);
          const per = (name: string, v: number) => upload(gpu, arena, name, [C], ones.map(() => v));
          const saveMean = per("mean", 0);
          const saveInvStd = per("istd", 0);
          const runningVar = per("rv", 1);
          submit(
            gpu,
            batchNormTrainForward(gpu, {
              x,
              rows,
              channels: C,
              gamma: per("g", 1),
              beta: per("b", 0),
              eps: EPS,
              momentum: 0.5,
              runningMean: per("rm", 1),
              runningVar,
              y: arena.tensor("y", [rows, C]),
              saveMean,
              saveInvStd,
              arena,
              variant,
            }),
          );
          const what = `${rows}x${C} ${variant}`;
          // The states see x − K with K the channel's first value, so every
          // rounding is relative to R = max|x − K| (not to |x| ~ 1e5): a chain
          // of D = chunk + chunks + 8 steps errs by ≤ D·2^-24·R² in Σ(x − x̄)²,
          // i.e. relatively by D·2^-24·(R/σ)² in the variance and half that in
          // 1/σ. The mean adds its own f32 rounding of |x̄|.
          const D = sumDepth(variant, rows, C);
          let R = 0;
          for (let i = 0; i < rows * C; i++) R = Math.max(R, Math.abs(xv[i] - xv[i % C]));
          const sigma2 = Math.min(...f.varBiased);
          const rel = D * U * R * R / sigma2;
          assertClose(await download(gpu, saveInvStd), f.invStd, { atol: 0, rtol: rel }, what);
          assertClose(
            await download(gpu, runningVar),
            f.runningVar,
            { atol: 0, rtol: rel },
            `running var ${what}`,
          );
          assertClose(await download(gpu, saveMean), f.mean, {
            atol: D * U * R,
            rtol: U,
          }, `mean ${what}`);
          // The data is hard: the naive f32 one-pass variance misses by far more.
          const naive = naiveVarianceF32(xv, rows, C, C - 1);
          const varExact = f.varBiased[C - 1];
          if (!(Math.abs(naive - varExact) > 1000 * rel * varExact)) {
            throw new Error(
              `${what}: naive variance ${naive} is unexpectedly close to ${varExact}`,
            );
          }
        }
      }
    }),
);

Deno.test(
  "batch-norm eval forward uses the running statistics; with a ReLU; in place",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const [rows, C] of [[1, 5], [7, 3], [64, 16]]) {
        const xv = f32(randn(rows + C, rows * C, 2));
        const gv = f32(randn(C, C).map((v) => 1 + 0.5 * v));
        const bv = f32(randn(C + 1, C));
        const rmv = f32(randn(C + 2, C));
        const rvv = f32(randn(C + 3, C).map((v) => 0.5 + Math.abs(v)));
        const x = upload(gpu, arena, "x", [rows, C], xv);
        const args = {
          x,
          rows,
          channels: C,
          gamma: upload(gpu, arena, "g", [C], gv),
          beta: upload(gpu, arena, "b", [C], bv),
          eps: EPS,
          runningMean: upload(gpu, arena, "rm", [C], rmv),
          runningVar: upload(gpu, arena, "rv", [C], rvv),
          y: arena.tensor("y", [rows, C]),
        };
        const want = batchNormEvalRef(xv, rows, C, gv, bv, EPS, rmv, rvv);
        // About six f32 roundings (subtract, add eps, sqrt, divide, multiply, add),
        // relative to the largest intermediate |x − m|·|γ|/σ + |β|.
        const scale = (maxAbs(xv) + maxAbs(rmv)) * maxAbs(gv) / Math.sqrt(0.5) + maxAbs(bv);
        const tol = { atol: 8 * U * scale, rtol: 0 };
        submit(gpu, batchNormEvalForward(gpu, args));
        assertClose(await download(gpu, args.y), want, tol, `eval ${rows}x${C}`);
        submit(gpu, batchNormEvalForward(gpu, { ...args, relu: true }));
        const relu = want.map((v) => Math.max(v, 0));
        assertClose(await download(gpu, args.y), relu, tol, `eval with ReLU ${rows}x${C}`);
        submit(gpu, batchNormEvalForward(gpu, { ...args, y: x }));
        assertClose(await download(gpu, x), want, tol, `eval in place ${rows}x${C}`);
      }
    }),
);

Deno.test(
  "batch-norm backward may write dx over dy",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const rows = 40, C = 4;
      const xv = f32(randn(1, rows * C, 2));
      const dyv = f32(randn(2, rows * C));
      const gv = f32(randn(3, C).map((v) => 1 + 0.3 * v));
      const x = upload(gpu, arena, "x", [rows, C], xv);
      const dy = upload(gpu, arena, "dy", [rows, C], dyv);
      const gamma = upload(gpu, arena, "g", [C], gv);
      const saveMean = arena.tensor("m", [C]);
      const saveInvStd = arena.tensor("s", [C]);
      const y = arena.tensor("y", [rows, C]);
      const zeros = () => arena.tensor("z", [C]);
      submit(gpu, [
        ...batchNormTrainForward(gpu, {
          x,
          rows,
          channels: C,
          gamma,
          beta: zeros(),
          eps: EPS,
          momentum: MOMENTUM,
          runningMean: zeros(),
          runningVar: zeros(),
          y,
          saveMean,
          saveInvStd,
        }),
        ...batchNormBackward(gpu, {
          x,
          dy,
          rows,
          channels: C,
          gamma,
          saveMean,
          saveInvStd,
          dx: dy,
          dgamma: zeros(),
          dbeta: zeros(),
        }),
      ]);
      const b = batchNormBackwardRef(xv, dyv, rows, C, gv, EPS);
      const f = batchNormTrainRef(
        xv,
        rows,
        C,
        gv,
        new Float64Array(C),
        EPS,
        MOMENTUM,
        new Float64Array(C),
        new Float64Array(C),
      );
      const xhat = maxAbs(f.y.map((v, i) => v / gv[i % C]));
      // The dx bound of the test above, with D = rows + 8 ≥ chunk + chunks for any plan.
      const D = rows + 8;
      const atol = 4 * D * U * maxAbs(dyv) * (1 + xhat) ** 2 * maxAbs(gv) * maxAbs(f.invStd);
      assertClose(await download(gpu, dy), b.dx, { atol, rtol: 0 }, "dx over dy");
    }),
);

Deno.test(
  "batch norm rejects one row in training, mismatched shapes and a missing arena",
  gpuTest,
  () =>
    withArena((gpu, arena) => {
      const c = (n: number) => arena.tensor(`c${n}`, [n]);
      const base = (rows: number, C: number) => ({
        x: arena.tensor("x", [rows, C]),
        rows,
        channels: C,
        gamma: c(C),
        beta: c(C),
        eps: EPS,
        momentum: MOMENTUM,
        runningMean: c(C),
        runningVar: c(C),
        y: arena.tensor("y", [rows, C]),
        saveMean: c(C),
        saveInvStd: c(C),
      });
      assertThrows(() => batchNormTrainForward(gpu, base(1, 3)), RangeError, "at least 2");
      assertThrows(
        () => batchNormTrainForward(gpu, { ...base(4, 3), gamma: c(4) }),
        RangeError,
        "gamma",
      );
      assertThrows(
        () => batchNormTrainForward(gpu, { ...base(4, 3), rows: 5 }),
        RangeError,
        '"x" [4, 3]',
      );
      assertThrows(
        () => batchNormTrainForward(gpu, { ...base(4, 3), momentum: 2 }),
        RangeError,
        "momentum",
      );
      assertThrows(
        () => batchNormTrainForward(gpu, { ...base(100000, 1), variant: "serial" }),
        RangeError,
        "arena",
      );
      return Promise.resolve();
    }),
);
