import { adam, adamFamily, adamw, sgd } from "../../lib/optim/first_order.ts";
import { adabelief, adagrad, radam } from "../../lib/optim/adaptive.ts";
import type { OptimizerFactory } from "../../lib/optim/types.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { writeTensor } from "../../lib/gpu/transfer.ts";
import {
  adabeliefStep,
  adagradStep,
  adamStep,
  adamwBkStep,
  radamStep,
  type RefState,
  sgdStep,
} from "../ref/optim.ts";
import { assertClose, download, f32, gpuTest, randn, upload, withArena } from "../util.ts";

const STEPS = 6;

/**
 * Runs `STEPS` updates with fresh gradients each step on the GPU and in the
 * float64 reference. Tolerance: each step is a handful of f32 operations per
 * element, so relative error stays within ~1e-6 per step; over 6 steps and
 * values of order 1 we allow 2e-5 absolute + 2e-5 relative.
 */
async function compare(
  factory: OptimizerFactory,
  reference: (s: RefState, g: Float64Array, k: number) => void,
  lrAt: (k: number) => number,
) {
  await withArena(async (gpu, arena) => {
    const n = 1031; // not a multiple of the workgroup size
    const p0 = f32(randn(1, n));
    const value = upload(gpu, arena, "w", [n], p0);
    const grad = upload(gpu, arena, "w.grad", [n], new Float32Array(n));
    const inst = factory.build(gpu, arena, [{ name: "w", value, grad, role: "weight" }]);
    submit(gpu, inst.init.flatMap((s) => s.commands));
    const ref: RefState = { p: Float64Array.from(p0), t: 0 };
    for (let k = 0; k < STEPS; k++) {
      const g = f32(randn(100 + k, n, 0.5));
      writeTensor(gpu, grad, g);
      inst.prepareStep(k, lrAt(k));
      submit(gpu, inst.stages.flatMap((s) => s.commands));
      reference(ref, g, k);
    }
    assertClose(await download(gpu, value), ref.p, { atol: 2e-5, rtol: 2e-5 }, factory.name);
  });
}

const lrAt = (k: number) => 0.05 * (1 + 0.1 * k); // a changing lr exercises the uniform

Deno.test("SGD without momentum, with weight decay, matches PyTorch's rule", gpuTest, () =>
  compare(
    sgd({ lr: 0.05, weightDecay: 0.01 }),
    (s, g, k) =>
      sgdStep(s, g, { lr: lrAt(k), momentum: 0, dampening: 0, nesterov: false, weightDecay: 0.01 }),
    lrAt,
  ));

Deno.test("SGD with momentum and dampening (first step takes d unscaled)", gpuTest, () =>
  compare(
    sgd({ lr: 0.05, momentum: 0.9, dampening: 0.2, weightDecay: 5e-4 }),
    (s, g, k) =>
      sgdStep(s, g, {
        lr: lrAt(k),
        momentum: 0.9,
        dampening: 0.2,
        nesterov: false,
        weightDecay: 5e-4,
      }),
    lrAt,
  ));

Deno.test("SGD with Nesterov momentum", gpuTest, () =>
  compare(
    sgd({ lr: 0.05, momentum: 0.9, nesterov: true }),
    (s, g, k) =>
      sgdStep(s, g, { lr: lrAt(k), momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0 }),
    lrAt,
  ));

Deno.test("Adam with coupled L2 decay and bias correction", gpuTest, () =>
  compare(
    adam({ lr: 0.05, weightDecay: 0.1 }),
    (s, g, k) =>
      adamStep(s, g, { lr: lrAt(k), beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 }, false),
    lrAt,
  ));

Deno.test("AdamW with decoupled decay applied before the moment update", gpuTest, () =>
  compare(
    adamw({ lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.3 }),
    (s, g, k) =>
      adamStep(s, g, { lr: lrAt(k), beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.3 }, true),
    lrAt,
  ));

Deno.test("reference AdamW differs from Adam when decay is on (the tests can tell them apart)", () => {
  const g = randn(5, 8);
  const a: RefState = { p: randn(6, 8), t: 0 };
  const b: RefState = { p: Float64Array.from(a.p), t: 0 };
  const o = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 };
  adamStep(a, g, o, false);
  adamStep(b, g, o, true);
  let diff = 0;
  for (let i = 0; i < 8; i++) diff = Math.max(diff, Math.abs(a.p[i] - b.p[i]));
  if (diff < 1e-4) throw new Error("Adam and AdamW references coincide");
});

const adamLike = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

Deno.test(
  "AdamW_BK decay is scaled by lr/(1−β₁ᵗ) and applied with the update",
  gpuTest,
  () =>
    compare(
      adamFamily({ lr: 0.05, weightDecay: 0.3 }, "bk", "adamw_bk"),
      (s, g, k) => adamwBkStep(s, g, { lr: lrAt(k), ...adamLike, weightDecay: 0.3 }),
      lrAt,
    ),
);

Deno.test("Adagrad with lr decay and L2 decay", gpuTest, () =>
  compare(
    adagrad({ lr: 0.05, lrDecay: 0.01, weightDecay: 0.02 }),
    (s, g, k) => adagradStep(s, g, { lr: lrAt(k), lrDecay: 0.01, eps: 1e-10, weightDecay: 0.02 }),
    lrAt,
  ));

Deno.test("RAdam: unrectified for the first steps, rectified afterwards", gpuTest, () =>
  // β₂ = 0.9 makes ρ_t exceed 5 from t = 6 (ρ₅ ≈ 4.58, ρ₆ ≈ 5.39): the last step is rectified.
  compare(
    radam({ lr: 0.05, betas: [0.9, 0.9], weightDecay: 0.01 }),
    (s, g, k) =>
      radamStep(s, g, { lr: lrAt(k), beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0.01 }),
    lrAt,
  ));

Deno.test("AdaBelief with decoupled decay", gpuTest, () =>
  compare(
    adabelief({ lr: 0.05, weightDecay: 0.1, eps: 1e-8 }),
    (s, g, k) =>
      adabeliefStep(s, g, { lr: lrAt(k), beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 }),
    lrAt,
  ));
