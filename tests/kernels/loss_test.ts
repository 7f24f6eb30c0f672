import { assert, assertEquals, assertThrows } from "../assert.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { softmaxCrossEntropy, type SoftmaxCrossEntropyArgs } from "../../lib/kernels/loss/loss.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";
import { FUSED_MAX_LOGITS, fusedFits } from "../../lib/kernels/loss/fused.ts";
import type { ReduceVariant } from "../../lib/kernels/reduce/reduce.ts";
import { numericGrad } from "../ref/finite_diff.ts";
import { softmaxCrossEntropyRef } from "../ref/loss.ts";
import {
  assertClose,
  download,
  f32,
  gpuTest,
  maxAbs,
  randn,
  randu,
  upload,
  withArena,
} from "../util.ts";

/** Integer labels in [0, C). */
function labelsFor(seed: number, B: number, C: number): Float64Array {
  return randu(seed, B, 0, C).map((v) => Math.min(C - 1, Math.floor(v)));
}

/**
 * Gradient tolerance: p = exp(z − max)/Σ carries a few ulp from exp (WGSL
 * allows 3 + 2|x| ulp; |x| ≲ 10 here) plus the C-term sum's rounding
 * (≤ C·2^-24 relative), and p − 1 on the label column adds an absolute
 * 2^-24 cancellation; everything is then scaled by 1/B.
 */
function gradTol(B: number, C: number) {
  return { atol: (C + 32) * 2 ** -24 / B, rtol: (C + 32) * 2 ** -24 };
}

/**
 * Loss-sum tolerance: each row's loss errs by ≲ (C + 8)·2^-24 relative to
 * 1 + |loss| + 2·max|z| (the sum of exponentials, the log, z_label − max);
 * summing B rows in f32 adds ≤ B·2^-24·Σ|loss|.
 */
function lossTol(loss: Float64Array, z: Float64Array, C: number) {
  const zmax = maxAbs(z);
  let atol = 0;
  let abs = 0;
  for (const l of loss) {
    atol += (C + 8) * 2 ** -24 * (1 + Math.abs(l) + 2 * zmax);
    abs += Math.abs(l);
  }
  return { atol: atol + loss.length * 2 ** -24 * abs, rtol: 0 };
}

Deno.test("reference softmax-CE gradient matches central differences", () => {
  const B = 3, C = 5;
  const z = randn(1, B * C, 2);
  const y = labelsFor(2, B, C);
  const num = numericGrad((zs) => softmaxCrossEntropyRef(zs, y, B, C).meanLoss, z);
  // f64 central differences, h = 1e-5: error ~h²·|f'''| ≈ 1e-10.
  assertClose(
    softmaxCrossEntropyRef(z, y, B, C).dLogits,
    num,
    { atol: 1e-8, rtol: 1e-6 },
    "dLogits ref",
  );
});

/**
 * A softmax-CE problem on the GPU: logits `zv` [B, C] and labels `yv`
 * uploaded, a fresh gradient and zeroed metric sums (`extra` may replace
 * any of them or add options), and the commands of one loss over them.
 */
function ceProblem(
  gpu: Gpu,
  arena: BufferArena,
  zv: ArrayLike<number>,
  yv: ArrayLike<number>,
  [B, C]: [number, number],
  extra: Partial<SoftmaxCrossEntropyArgs> = {},
) {
  const args = {
    logits: upload(gpu, arena, "logits", [B, C], zv),
    labels: upload(gpu, arena, "labels", [B], yv),
    dLogits: arena.tensor("dLogits", [B, C]),
    lossSum: upload(gpu, arena, "lossSum", [1], [0]),
    correct: upload(gpu, arena, "correct", [1], [0]),
    batch: B,
    classes: C,
    arena,
    ...extra,
  };
  return { ...args, cmds: softmaxCrossEntropy(gpu, args) };
}

Deno.test(
  "softmax-CE on awkward shapes: gradient, loss sum and correct count (both reduction variants)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const shapes: [number, number][] = [[1, 1], [7, 10], [128, 10], [3, 257], [513, 3]];
      for (const variant of ["serial", "tree"] as ReduceVariant[]) {
        for (const [B, C] of shapes) {
          const zv = f32(randn(B * 31 + C, B * C, 3));
          const yv = labelsFor(B + C, B, C);
          const { dLogits, lossSum, correct, cmds } = ceProblem(gpu, arena, zv, yv, [B, C], {
            variant,
          });
          // Two submissions: the metrics must accumulate, the gradient be overwritten.
          submit(gpu, cmds);
          submit(gpu, cmds);
          const ref = softmaxCrossEntropyRef(zv, yv, B, C);
          const what = `${B}x${C} ${variant}`;
          assertClose(await download(gpu, dLogits), ref.dLogits, gradTol(B, C), `dLogits ${what}`);
          const lt = lossTol(ref.loss, zv, C);
          assertClose(await download(gpu, lossSum), [2 * ref.lossSum], {
            atol: 2 * lt.atol,
            rtol: 0,
          }, `lossSum ${what}`);
          assertEquals((await download(gpu, correct))[0], 2 * ref.correct, `correct ${what}`);
        }
      }
    }),
);

Deno.test(
  "softmax-CE in one dispatch and split: gradient, its column sums, metrics (odd shapes)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // One row; one class; rows not a multiple of 256 and above it (several
      // rows per thread); more than 256 classes (columns strided over
      // threads); and a batch too large for one workgroup (split only).
      const shapes: [number, number][] = [[1, 1], [257, 1], [5, 13], [128, 10], [1000, 10], [
        3,
        300,
      ], [300, 257]];
      for (const [B, C] of shapes) {
        const fits = fusedFits(B, C);
        assertEquals(fits, B * C <= FUSED_MAX_LOGITS, `${B}x${C} fits`);
        for (const fused of fits ? [true, false] : [false]) {
          const zv = f32(randn(B * 7 + C, B * C, 3));
          const yv = labelsFor(B + 3 * C, B, C).map((v, i) => (i % 11 === 10 ? -1 : v));
          // Stale values: the column sums must be overwritten, the metrics added to.
          const colSum = upload(gpu, arena, "colSum", [C], new Float64Array(C).fill(7));
          const { dLogits, lossSum, correct, cmds } = ceProblem(gpu, arena, zv, yv, [B, C], {
            dLogitsColSum: colSum,
            lossSum: upload(gpu, arena, "lossSum", [1], [0.5]),
            correct: upload(gpu, arena, "correct", [1], [3]),
            fused,
          });
          // Split: the row kernel plus three reductions of one or two passes each.
          assert(
            fused ? cmds.length === 1 : cmds.length >= 4,
            `${B}x${C}: ${cmds.length} dispatches`,
          );
          submit(gpu, cmds);
          const ref = softmaxCrossEntropyRef(zv, yv, B, C);
          const what = `${B}x${C} ${fused ? "fused" : "split"}`;
          const gt = gradTol(B, C);
          assertClose(await download(gpu, dLogits), ref.dLogits, gt, `dLogits ${what}`);
          // Column sums: B gradient entries, each within the gradient tolerance,
          // added in f32 (≤ B·2^-24·Σ|entries|).
          const want = new Float64Array(C);
          const absSum = new Float64Array(C);
          ref.dLogits.forEach((v, i) => {
            want[i % C] += v;
            absSum[i % C] += Math.abs(v);
          });
          const colTol = B * (gt.atol + gt.rtol * maxAbs(ref.dLogits)) +
            B * 2 ** -24 * maxAbs(absSum);
          assertClose(
            await download(gpu, colSum),
            want,
            { atol: colTol, rtol: 0 },
            `column sums ${what}`,
          );
          const lt = lossTol(ref.loss, zv, C);
          assertClose(await download(gpu, lossSum), [0.5 + ref.lossSum], {
            atol: lt.atol + 2 ** -24 * (0.5 + ref.lossSum),
            rtol: 0,
          }, `lossSum ${what}`);
          assertEquals((await download(gpu, correct))[0], 3 + ref.correct, `correct ${what}`);
        }
      }
    }),
);

Deno.test(
  "softmax-CE stays finite for logits of ±1e4",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const B = 4, C = 3;
      const zv = [1e4, -1e4, 0, -1e4, 1e4, 1e4, -1e4, -1e4, -1e4, 1e4, 0, -1e4];
      const yv = [1, 0, 2, 0];
      const { dLogits, lossSum, correct, cmds } = ceProblem(gpu, arena, zv, yv, [B, C]);
      submit(gpu, cmds);
      const ref = softmaxCrossEntropyRef(zv, yv, B, C);
      const d = await download(gpu, dLogits);
      assert(d.every(Number.isFinite), `dLogits not finite: ${d}`);
      assertClose(d, ref.dLogits, gradTol(B, C), "dLogits at ±1e4");
      // Losses: 2e4, 2e4 + log 2 (rounds to 2e4 in f32), log 3, 1e4; f32 spacing at 5e4 is 2^-8.
      assertClose(
        await download(gpu, lossSum),
        [ref.lossSum],
        { atol: 2 ** -6, rtol: 0 },
        "lossSum at ±1e4",
      );
      assertEquals((await download(gpu, correct))[0], ref.correct);
    }),
);

Deno.test(
  "argmax ties go to the first maximum; invalid labels give NaN loss",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const C = 4;
      const rows = [
        [[2, 5, 5, 1], 1, 1], // tie between 1 and 2, label 1: first max ⇒ correct
        [[2, 5, 5, 1], 2, 0], // label 2: the argmax is 1 ⇒ incorrect
        [[3, 3, 3, 3], 0, 1], // all equal: argmax 0
        [[3, 3, 3, 3], 3, 0],
      ] as const;
      const zv = rows.flatMap((r) => [...r[0]]);
      const yv = rows.map((r) => r[1]);
      const logits = upload(gpu, arena, "logits", [4, C], zv);
      const labels = upload(gpu, arena, "labels", [4], yv);
      const correct = arena.tensor("correct", [1]);
      submit(
        gpu,
        softmaxCrossEntropy(gpu, { logits, labels, batch: 4, classes: C, correct, arena }),
      );
      assertEquals((await download(gpu, correct))[0], rows.reduce((s, r) => s + r[2], 0));
      assertEquals(softmaxCrossEntropyRef(zv, yv, 4, C).correct, 2);

      const bad = upload(gpu, arena, "bad", [4], [1, 4, -1, 1.5]);
      const lossSum = arena.tensor("lossSum", [1]);
      const c2 = arena.tensor("c2", [1]);
      submit(
        gpu,
        softmaxCrossEntropy(gpu, {
          logits,
          labels: bad,
          batch: 4,
          classes: C,
          lossSum,
          correct: c2,
          arena,
        }),
      );
      assert(
        Number.isNaN((await download(gpu, lossSum))[0]),
        "invalid labels must poison the loss sum",
      );
      assertEquals(
        (await download(gpu, c2))[0],
        1,
        "only row 0 (valid label 1, the first max) counts",
      );
    }),
);

Deno.test(
  "softmax-CE in place (dLogits = logits), eval mode, gradient only",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const B = 9, C = 6;
      const zv = f32(randn(5, B * C, 2));
      const yv = labelsFor(6, B, C);
      const ref = softmaxCrossEntropyRef(zv, yv, B, C);
      const logits = upload(gpu, arena, "logits", [B, C], zv);
      const labels = upload(gpu, arena, "labels", [B], yv);
      // Eval: metrics only, logits untouched.
      const lossSum = arena.tensor("lossSum", [1]);
      submit(
        gpu,
        softmaxCrossEntropy(gpu, { logits, labels, batch: B, classes: C, lossSum, arena }),
      );
      assertClose(
        await download(gpu, lossSum),
        [ref.lossSum],
        lossTol(ref.loss, zv, C),
        "eval lossSum",
      );
      assertEquals(await download(gpu, logits), zv);
      // Gradient only, written over the logits; needs no arena.
      submit(
        gpu,
        softmaxCrossEntropy(gpu, { logits, labels, batch: B, classes: C, dLogits: logits }),
      );
      assertClose(await download(gpu, logits), ref.dLogits, gradTol(B, C), "in-place dLogits");
    }),
);

Deno.test("reference with label smoothing: gradient matches central differences", () => {
  const B = 4, C = 6;
  const z = randn(11, B * C, 2);
  const y = [2, -1, 0, 5]; // row 1 is padding
  const num = numericGrad((zs) => softmaxCrossEntropyRef(zs, y, B, C, 0.1).meanLoss, z);
  // As above: f64 central differences, h = 1e-5.
  assertClose(
    softmaxCrossEntropyRef(z, y, B, C, 0.1).dLogits,
    num,
    { atol: 1e-8, rtol: 1e-6 },
    "smoothed dLogits ref",
  );
});

Deno.test(
  "softmax-CE with label smoothing 0.1 and padding rows (label −1)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const B = 37, C = 10;
      const zv = f32(randn(21, B * C, 3));
      const yv = labelsFor(22, B, C).map((v, i) => (i % 5 === 4 ? -1 : v));
      const { dLogits, lossSum, correct, cmds } = ceProblem(gpu, arena, zv, yv, [B, C], {
        labelSmoothing: 0.1,
      });
      submit(gpu, cmds);
      const ref = softmaxCrossEntropyRef(zv, yv, B, C, 0.1);
      // Tolerances as in the unsmoothed test; the ε/C·Σz term adds C more ulps per row.
      assertClose(await download(gpu, dLogits), ref.dLogits, gradTol(B, C), "smoothed dLogits");
      const lt = lossTol(ref.loss, zv, 2 * C);
      assertClose(await download(gpu, lossSum), [ref.lossSum], lt, "smoothed lossSum");
      assertEquals((await download(gpu, correct))[0], ref.correct, "correct excludes padding rows");
    }),
);

Deno.test(
  "softmax-CE rejects bad shapes and a missing arena",
  gpuTest,
  () =>
    withArena((gpu, arena) => {
      const logits = arena.tensor("logits", [4, 3]);
      const labels = arena.tensor("labels", [4]);
      const sum = arena.tensor("sum", [1]);
      assertThrows(
        () => softmaxCrossEntropy(gpu, { logits, labels, batch: 4, classes: 4 }),
        RangeError,
        '"logits" [4, 3]',
      );
      assertThrows(
        () => softmaxCrossEntropy(gpu, { logits, labels, batch: 3, classes: 4 }),
        RangeError,
        "labels",
      );
      assertThrows(
        () => softmaxCrossEntropy(gpu, { logits, labels, batch: 4, classes: 3, lossSum: sum }),
        RangeError,
        "arena",
      );
      assertThrows(
        () => softmaxCrossEntropy(gpu, { logits, labels, batch: 4, classes: 3, dLogits: labels }),
        RangeError,
        "dLogits",
      );
      assertThrows(
        () =>
          softmaxCrossEntropy(gpu, {
            logits,
            labels,
            batch: 4,
            classes: 3,
            dLogitsColSum: arena.tensor("cs", [3]),
            arena,
          }),
        RangeError,
        "dLogitsColSum needs dLogits",
      );
      const big = { ...logits, shape: [1 << 10, 1 << 7], size: 1 << 17 };
      assertThrows(
        () =>
          softmaxCrossEntropy(gpu, {
            logits: big,
            labels: { ...labels, shape: [1 << 10], size: 1 << 10 },
            batch: 1 << 10,
            classes: 1 << 7,
            dLogits: big,
            fused: true,
          }),
        RangeError,
        "does not fit one workgroup",
      );
      return Promise.resolve();
    }),
);
