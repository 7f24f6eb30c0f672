/**
 * Evaluation as a function of a plan: the plan's evaluation stages over
 * every batch of a split bound to its input tensors, with the loss and the
 * correct predictions summed on the GPU and read once at the end.
 * @module
 */

import { type Command, encode } from "../gpu/commands.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { readTensors } from "../gpu/transfer.ts";
import type { Plan } from "../plan/plan.ts";
import type { GpuSplit } from "./gpu_split.ts";

/** What {@link evaluate} measured. */
export interface Evaluation {
  /** Mean loss over the split. */
  loss: number;
  /** Accuracy in [0, 1]. */
  accuracy: number;
  /** Samples evaluated. */
  samples: number;
}

/** Reads tensors back after the work submitted so far; one array per tensor. */
export type ReadBack = (tensors: readonly Tensor[]) => Promise<Float32Array[]>;

/** The commands that zero the plan's metric sums. */
export function clearMetrics(plan: Plan): Command[] {
  const { lossSum, correct } = plan.metrics;
  return [
    { kind: "clear", label: "metrics.clear", dst: lossSum },
    { kind: "clear", label: "metrics.clear", dst: correct },
  ];
}

/**
 * Evaluates `plan` on `data` (bound to the plan's input tensors): one submit
 * per batch (the last one partial), then one read of the sums. `read`
 * defaults to a one-off staging buffer; the trainer passes its readback ring.
 */
export async function evaluate(
  plan: Plan,
  data: GpuSplit,
  read?: ReadBack,
): Promise<Evaluation> {
  const gpu = plan.gpu;
  const batches = Math.ceil(data.count / plan.batch);
  const evalCommands = plan.evalStages.flatMap((s) => s.commands);
  const clear = clearMetrics(plan);
  for (let b = 0; b < batches; b++) {
    data.setStart(b * plan.batch);
    const enc = gpu.device.createCommandEncoder({ label: `eval ${b}` });
    encode(enc, [...(b === 0 ? clear : []), ...data.gather, ...evalCommands]);
    gpu.device.queue.submit([enc.finish()]);
  }
  const [loss, correct] = await (read ?? ((ts) => readTensors(gpu, ts)))([
    plan.metrics.lossSum,
    plan.metrics.correct,
  ]);
  gpu.checkAlive();
  return { loss: loss[0] / data.count, accuracy: correct[0] / data.count, samples: data.count };
}
