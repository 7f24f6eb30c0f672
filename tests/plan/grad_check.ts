/**
 * A plan's gradients against central finite differences of an independent
 * float64 forward (tests/ref/net.ts): graph_grad_test.ts,
 * bn_pool_fusion_test.ts.
 * @module
 */
import type { Plan } from "../../lib/plan/plan.ts";
import { encode } from "../../lib/gpu/commands.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import { assert } from "../assert.ts";

/** What one training step of a plan computed: the parameters (as float64, by name) and gradients. */
export interface StepGradients {
  /** Each parameter's values, a float64 copy the caller may perturb. */
  params: Map<string, Float64Array>;
  /** Each parameter's gradient, in `plan.params` order. */
  grads: Float32Array[];
}

/** Initialises `plan` and runs one training step on `x`, `labels`. */
export async function stepGradients(
  plan: Plan,
  x: Float64Array,
  labels: number[],
): Promise<StepGradients> {
  const gpu = plan.gpu;
  writeTensor(gpu, plan.input, x);
  writeTensor(gpu, plan.labels, labels);
  const enc = gpu.device.createCommandEncoder();
  encode(enc, [...plan.init, ...plan.stages.flatMap((s) => s.commands)]);
  gpu.device.queue.submit([enc.finish()]);
  const values = await readTensors(gpu, plan.params.map((p) => p.value));
  const grads = await readTensors(gpu, plan.params.map((p) => p.grad));
  const params = new Map(plan.params.map((p, i) => [p.name, Float64Array.from(values[i])]));
  return { params, grads };
}

/**
 * Asserts the gradient entries `entries(length)` of each of `plan`'s
 * parameters against the central difference of `loss` (which reads
 * `step.params`) with h = 1e-4, to 2e-5 plus 2e-3 relative: GPU gradients
 * carry f32 rounding (~1e-6 relative per op through ~15 ops) on values of
 * order 1e-3..1; the f64 central difference has truncation error
 * ~h²·f''' ≈ 1e-8 (max pooling and ReLU kinks are avoided by random data
 * with probability ≈ 1). Returns how many entries were checked.
 */
export function assertFiniteDifferences(
  plan: Plan,
  step: StepGradients,
  loss: () => number,
  entries: (length: number) => Iterable<number>,
): number {
  const h = 1e-4;
  let checked = 0;
  plan.params.forEach((p, i) => {
    const v = step.params.get(p.name)!;
    for (const j of entries(v.length)) {
      const old = v[j];
      v[j] = old + h;
      const up = loss();
      v[j] = old - h;
      const down = loss();
      v[j] = old;
      const numeric = (up - down) / (2 * h);
      const got = step.grads[i][j];
      assert(
        Math.abs(got - numeric) <= 2e-5 + 2e-3 * Math.abs(numeric),
        `${p.name}[${j}]: GPU ${got} vs finite difference ${numeric}`,
      );
      checked++;
    }
  });
  return checked;
}
