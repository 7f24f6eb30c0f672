/**
 * Error bounds of the batch-norm kernels against the float64 references
 * (batchnorm_test.ts, batchnorm_add_test.ts).
 * @module
 */
import type { Gpu } from "../../lib/gpu/device.ts";
import type { Tensor } from "../../lib/gpu/tensor.ts";
import {
  parseReducePlan,
  planReduction,
  type ReduceVariant,
} from "../../lib/kernels/reduce/reduce.ts";
import type { BatchNormBackwardRef } from "../ref/batchnorm.ts";
import { assertClose, download, maxAbs } from "../util.ts";

/** The unit roundoff of f32. */
export const U = 2 ** -24;

/**
 * D bounds the chain of f32 additions in a column sum (chunk + chunks) plus
 * a few roundings for the divisions, sqrt and affine step; each reduction
 * errs by ≤ D·2^-24·Σ|terms|.
 */
export function sumDepth(variant: ReduceVariant, rows: number, C: number): number {
  const p = variant === "serial" || variant === "tree"
    ? planReduction(variant, C, rows, "m", true)
    : parseReducePlan(variant, rows)!;
  return p.chunk + p.splits + 8;
}

/** What scales the backward's errors. */
export interface BackwardScale {
  /** Rows of the batch norm. */
  rows: number;
  /** {@link sumDepth}. */
  D: number;
  /** The output gradient. */
  dy: ArrayLike<number>;
  /** γ. */
  gamma: ArrayLike<number>;
  /** The largest σ⁻¹. */
  invStd: number;
  /** The largest |x̂|. */
  xhat: number;
}

/**
 * Asserts the GPU's dβ, dγ and dx against the float64 reference `want`:
 * the sums err by ≤ D·2^-24·Σ|terms| (N·|dy|, times |x̂| for dγ); dx =
 * γσ⁻¹/N·(N·dy − dβ − x̂·dγ): the bracket's terms are each ≲ N·|dy|·(1 + |x̂|)²
 * and cancel, so its absolute error is D·2^-24 times that, scaled by γσ⁻¹/N.
 */
export async function assertBackward(
  gpu: Gpu,
  got: { dx: Tensor; dgamma: Tensor; dbeta: Tensor },
  want: BatchNormBackwardRef,
  { rows, D, dy, gamma, invStd, xhat }: BackwardScale,
  what: string,
): Promise<void> {
  const sumDy = rows * maxAbs(dy);
  const dbetaTol = { atol: D * U * sumDy, rtol: 0 };
  assertClose(await download(gpu, got.dbeta), want.dbeta, dbetaTol, `dbeta ${what}`);
  const dgammaTol = { atol: 3 * D * U * sumDy * xhat, rtol: 0 };
  assertClose(await download(gpu, got.dgamma), want.dgamma, dgammaTol, `dgamma ${what}`);
  const dxScale = maxAbs(dy) * (1 + xhat) ** 2 * maxAbs(gamma) * invStd;
  const dxTol = { atol: 4 * D * U * dxScale, rtol: 0 };
  assertClose(await download(gpu, got.dx), want.dx, dxTol, `dx ${what}`);
}
