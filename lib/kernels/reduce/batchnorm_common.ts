/**
 * What the batch-norm forward and backward builders share: variant
 * overrides and argument checks.
 * @module
 */

import type { Tensor } from "../../gpu/tensor.ts";
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
