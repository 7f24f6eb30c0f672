/**
 * examples/one_step.ts computes the step it describes: its loss and updated
 * weights match a float64 reference (forward, backward and SGD-momentum
 * step written independently in tests/ref/), and the loss decreases.
 */
import {
  DIMS,
  initialWeights,
  type MlpWeights,
  oneStep,
  syntheticBatch,
} from "../../examples/one_step.ts";
import { type MlpParams, mlpStep } from "../ref/mlp.ts";
import { sgdStep } from "../ref/optim.ts";
import { assert } from "../assert.ts";
import { assertClose, gpuTest, testGpu } from "../util.ts";

const OPTS = { lr: 0.1, momentum: 0.9 };

function f64(w: MlpWeights): MlpParams {
  return {
    w1: Float64Array.from(w.w1),
    b1: Float64Array.from(w.b1),
    w2: Float64Array.from(w.w2),
    b2: Float64Array.from(w.b2),
  };
}

/** The float64 step: loss of the batch, then SGD momentum (first step: buffer = gradient). */
function referenceStep(w: MlpWeights, x: Float32Array, labels: Float32Array) {
  const p = f64(w);
  const dims = { inF: DIMS.inF, hidden: DIMS.hidden, classes: DIMS.classes };
  const xs = Float64Array.from(x);
  const { loss, grads } = mlpStep(p, dims, xs, labels);
  for (const k of ["w1", "b1", "w2", "b2"] as const) {
    sgdStep({ p: p[k], t: 0 }, grads[k], {
      ...OPTS,
      dampening: 0,
      nesterov: false,
      weightDecay: 0,
    });
  }
  return { loss, after: p, lossAfter: mlpStep(p, dims, xs, labels).loss };
}

Deno.test(
  "examples/one_step.ts: one step matches the float64 reference and lowers the loss",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const weights = initialWeights(1);
    const batch = syntheticBatch(2);
    const got = await oneStep(gpu, weights, batch, OPTS);
    const want = referenceStep(weights, batch.x, batch.labels);
    // f32 forward: each sum has ≤ 32 terms, so its error is ≤ 32·2^-24 of the sum of
    // |terms| (≈ 2e-6 relative); exp/log add a few ulp. 1e-5 relative covers the loss.
    assertClose([got.loss], [want.loss], { atol: 0, rtol: 1e-5 }, "loss");
    assertClose([got.lossAfter], [want.lossAfter], { atol: 0, rtol: 1e-5 }, "loss after");
    // Weights: the rounding of p to f32 (2^-24·|p| ≤ 7e-8, |p| ≤ 1.2) plus lr × the
    // gradient's f32 error (a sum of 16 products: ≤ 16·2^-24·Σ|terms|, Σ|terms| ≲ 5, so
    // ≤ 0.1·5e-6); 1e-6 holds that bound (measured on llvmpipe: ≤ 6e-8).
    for (const k of ["w1", "b1", "w2", "b2"] as const) {
      assertClose(got.weights[k], want.after[k], { atol: 1e-6, rtol: 0 }, k);
    }
    assert(got.lossAfter < 0.9 * got.loss, `loss ${got.loss} → ${got.lossAfter}`);
  },
);
