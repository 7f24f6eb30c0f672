/**
 * Backward pass of training-mode batch normalisation over [rows = N·H·W, C]:
 * one reduction gives Σdy and Σdy·x̂ together (dβ, dγ), then
 * dx = γ·σ⁻¹/N · (N·dy − dβ − x̂·dγ) elementwise. With a fused ReLU in front
 * (the forward's `relu`), dy is first masked by the forward output > 0.
 * With a fused residual add (the forward's `skip`), that gradient is also
 * the skip's gradient, written by the dx kernel (`skipGrad`).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { checkSize, mapKernel, pickWidth } from "../elementwise/elementwise.ts";
import { activationGradExpr, f32Lit } from "../wgsl.ts";
import { axisReduce } from "./reduce.ts";
import type { Operand } from "../elementwise/operands.ts";
import {
  backwardChannels,
  type BatchNormBackwardChannels,
  type BatchNormVariants,
  checkCommon,
} from "./batchnorm_common.ts";

/** Arguments of {@link batchNormBackward}. */
export interface BatchNormBackwardArgs extends BatchNormVariants, BatchNormBackwardChannels {
  /** The forward input [rows, channels]. */
  x: Tensor;
  /** Gradient w.r.t. the output. */
  dy: Tensor;
  /** Rows. */
  rows: number;
  /** Channels. */
  channels: number;
  /** Gradient w.r.t. x, overwritten (may be dy). */
  dx: Tensor;
  /**
   * The forward output when the forward fused a ReLU (`relu`): dy then
   * counts only where it is positive, as the ReLU's own backward would pass it.
   */
  reluOutput?: Tensor;
  /**
   * With a residual add fused into the forward (`skip`): receives the
   * gradient reaching the batch norm (dy, masked when `reluOutput` is set),
   * which is the add's gradient for its other input, overwritten.
   */
  skipGrad?: Tensor;
}

/** Gradients of training-mode batch norm w.r.t. x, γ and β (all overwritten). */
export function batchNormBackward(gpu: Gpu, a: BatchNormBackwardArgs): Command[] {
  const label = "batchnorm_backward";
  const { rows, channels: C } = a;
  checkCommon(label, a.x, rows, C, backwardChannels(a));
  checkSize(label, "dy", a.dy, rows * C, `rows ${rows} × channels ${C}`);
  if (a.reluOutput) {
    checkSize(label, "reluOutput", a.reluOutput, rows * C, `rows ${rows} × channels ${C}`);
  }
  checkSize(label, "dx", a.dx, rows * C, `rows ${rows} × channels ${C}`);
  if (a.skipGrad) {
    checkSize(label, "skipGrad", a.skipGrad, rows * C, `rows ${rows} × channels ${C}`);
  }
  const xs = { name: "x", tensor: a.x };
  const dys = { name: "dy", tensor: a.dy };
  const relu = a.reluOutput ? [{ name: "reluOut", tensor: a.reluOutput }] : [];
  // The gradient reaching the batch norm: dy, or the ReLU's backward of it.
  const grad = (n: Record<string, string>, i: string, T = "f32") =>
    a.reluOutput
      ? activationGradExpr("relu", `${n.reluOut}[${i}]`, `${n.dy}[${i}]`, T)
      : `${n.dy}[${i}]`;
  const sums = gradientSums(gpu, label, a, rows, {
    inputs: relu,
    grad,
    xAt: (n, i) => `${n.x}[${i}]`,
  });
  const width = pickWidth(label, [C], a.width);
  const step = dxStep(a);
  const skip = a.skipGrad ? [{ name: "dskip", tensor: a.skipGrad, write: true }] : [];
  const dx = mapKernel(gpu, {
    label: `${label}${a.skipGrad ? "_add" : ""}${a.reluOutput ? "_relu" : ""}_dx_w${width}`,
    n: rows * C,
    width,
    cols: C,
    operands: [
      xs,
      dys,
      ...step.operands,
      ...relu,
      { name: "dx", tensor: a.dx, write: true },
      ...skip,
    ],
    rowsPerInvocation: a.rowsPerInvocation,
    colPrelude: step.prelude,
    body: (n) =>
      `  let gi = ${grad(n, "i", "T")};\n` +
      (a.skipGrad ? `  ${n.dskip}[i] = gi;\n` : "") +
      step.store(n, "i", "gi"),
  });
  return [...sums, ...dx];
}

/** How {@link gradientSums} reads the gradient and the input of each element. */
export interface GradientSumParts {
  /** Operands the expressions read beyond x, dy, mean and invStd. */
  inputs?: Operand[];
  /** Module-scope WGSL the expressions call. */
  prelude?: string;
  /** The gradient g reaching the batch norm at element `i` (u32 `k * C + m`). */
  grad: (n: Record<string, string>, i: string) => string;
  /** The input value x̂ normalises for that element. */
  xAt: (n: Record<string, string>, i: string) => string;
}

/**
 * dβ = Σg and dγ = Σg·x̂ per channel over `rows` rows of the gradient, in
 * one reduction (x̂ = (x − mean)·σ⁻¹); shared by the batch-norm backward
 * and the fused batch-norm + max-pool backward, so both sum alike.
 */
export function gradientSums(
  gpu: Gpu,
  label: string,
  a: BatchNormBackwardChannels & Pick<BatchNormVariants, "variant"> & { x: Tensor; dy: Tensor },
  rows: number,
  parts: GradientSumParts,
): Command[] {
  const C = a.dgamma.size;
  return axisReduce(gpu, {
    label: `${label}_sums`,
    M: C,
    L: rows,
    width: 2,
    combine: "sum",
    inputs: [
      { name: "x", tensor: a.x },
      { name: "dy", tensor: a.dy },
      { name: "mean", tensor: a.saveMean },
      { name: "invStd", tensor: a.saveInvStd },
      ...(parts.inputs ?? []),
    ],
    outputs: [
      { name: "dgamma", tensor: a.dgamma, write: true },
      { name: "dbeta", tensor: a.dbeta, write: true },
    ],
    prelude: parts.prelude,
    load: (n) => {
      const i = `k * ${C}u + m`;
      const g = parts.grad(n, i);
      return `vec2<f32>(${g}, ${g} * ((${parts.xAt(n, i)} - ${n.mean}[m]) * ${n.invStd}[m]))`;
    },
    store: (n) => `  ${n.dbeta}[m] = acc.x;\n  ${n.dgamma}[m] = acc.y;`,
  }, { variant: a.variant, arena: a.arena, contiguous: "m", requireSplit: true });
}

/**
 * The dx step dx = γ·σ⁻¹/N · (N·g − dβ − x̂·dγ) of gradient g: its
 * per-channel operands, the WGSL binding their values at vector column `c`
 * (type `T`), and the statement storing element `i` (operands `x` and `dx`
 * named by the caller). Shared with the kernels that fuse it
 * (batchnorm_pool_backward.ts), so they round alike.
 */
export function dxStep(
  a: BatchNormBackwardChannels & { rows: number },
): {
  operands: Operand[];
  prelude: (n: Record<string, string>) => string;
  store: (n: Record<string, string>, i: string, g: string) => string;
} {
  return {
    operands: [
      { name: "mean", tensor: a.saveMean },
      { name: "invStd", tensor: a.saveInvStd },
      { name: "gamma", tensor: a.gamma },
      { name: "dgamma", tensor: a.dgamma },
      { name: "dbeta", tensor: a.dbeta },
    ],
    prelude: (n) =>
      `  let mu = ${n.mean}[c];
  let istd = ${n.invStd}[c];
  let g = ${n.gamma}[c] * istd * T(${f32Lit(1 / a.rows)});
  let db = ${n.dbeta}[c];
  let dg = ${n.dgamma}[c];`,
    store: (n, i, g) =>
      `  let xh = (${n.x}[${i}] - mu) * istd;
  ${n.dx}[${i}] = g * (T(${f32Lit(a.rows)}) * ${g} - db - xh * dg);`,
  };
}
