/**
 * What the batch-norm forward and backward builders share: variant
 * overrides, the backward's per-channel arguments, and argument checks.
 * @module
 */

import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { checkDims, checkSize, type WidthChoice } from "../elementwise/elementwise.ts";
import type { ReduceVariant } from "./reduce.ts";

/** Variant overrides for tests and benchmarks. */
export interface BatchNormVariants {
  /** Reduction strategy (default by adapter). */
  variant?: ReduceVariant;
  /** Width of the elementwise step (default vec4 when C % 4 = 0). */
  width?: WidthChoice;
  /** Rows per invocation of the elementwise step (default by adapter). */
  rowsPerInvocation?: number;
}

/** Checks rows × channels of `x` and the per-channel tensors (RangeError naming the bad one). */
export function checkCommon(
  label: string,
  x: Tensor,
  rows: number,
  C: number,
  perChannel: [string, Tensor][],
): void {
  checkDims(label, rows, C);
  checkSize(label, "x", x, rows * C, `rows ${rows} × channels ${C}`);
  for (const [what, t] of perChannel) checkSize(label, what, t, C, `channels`);
}

/** The per-channel tensors every batch-norm backward reads and writes, and its scratch. */
export interface BatchNormBackwardChannels {
  /** Scale γ [C]. */
  gamma: Tensor;
  /** Batch mean saved by the training forward. */
  saveMean: Tensor;
  /** Inverse standard deviation saved by the training forward. */
  saveInvStd: Tensor;
  /** Gradient w.r.t. γ, overwritten. */
  dgamma: Tensor;
  /** Gradient w.r.t. β, overwritten. */
  dbeta: Tensor;
  /** Scratch for the reduction's two-pass split. */
  arena?: BufferArena;
}

/** The per-channel tensors of `a` by name, for {@link checkCommon}. */
export function backwardChannels(a: BatchNormBackwardChannels): [string, Tensor][] {
  return [
    ["gamma", a.gamma],
    ["saveMean", a.saveMean],
    ["saveInvStd", a.saveInvStd],
    ["dgamma", a.dgamma],
    ["dbeta", a.dbeta],
  ];
}
