/**
 * The softmax cross-entropy head: loss, its gradient, and GPU-side metric
 * accumulators (loss sum and correct count) that the trainer reads late.
 * @module
 */

import type { Command } from "../gpu/commands.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { softmaxCrossEntropy } from "../kernels/loss/loss.ts";
import type { BuildContext } from "./types.ts";

/** Tensors of the loss head. */
export interface CrossEntropyIO {
  /** Logits [B, classes]. */
  logits: Tensor;
  /** Labels [B] as f32 class indices. */
  labels: Tensor;
  /** Gradient of the mean loss w.r.t. the logits [B, classes]. */
  dLogits: Tensor;
  /** [1]: += Σ per-sample loss (metrics). */
  lossSum: Tensor;
  /** [1]: += number of correct predictions (metrics). */
  correct: Tensor;
  /** [classes]: receives Σ_rows dLogits in training (the head's bias gradient), when given. */
  dLogitsColSum?: Tensor;
}

/** Commands of the loss head in training (with gradient) and evaluation. */
export interface CrossEntropyInstance {
  /** Loss, gradient and metric accumulation. */
  train: Command[];
  /** Loss and metric accumulation only. */
  eval: Command[];
}

/**
 * Builds the loss head for `classes` classes at the context's batch size.
 * Label smoothing applies to training only; evaluation reports the plain
 * cross-entropy so test losses compare across settings.
 */
export function buildCrossEntropy(
  ctx: BuildContext,
  io: CrossEntropyIO,
  classes: number,
  labelSmoothing = 0,
): CrossEntropyInstance {
  const common = {
    logits: io.logits,
    labels: io.labels,
    batch: ctx.batch,
    classes,
    lossSum: io.lossSum,
    correct: io.correct,
    arena: ctx.arena,
  };
  return {
    train: softmaxCrossEntropy(ctx.gpu, {
      ...common,
      dLogits: io.dLogits,
      dLogitsColSum: io.dLogitsColSum,
      labelSmoothing,
    }),
    eval: softmaxCrossEntropy(ctx.gpu, common),
  };
}
