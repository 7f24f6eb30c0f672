/**
 * Batch normalisation over NHWC activations viewed as [rows = N·H·W, C].
 *
 * Training forward: per-channel mean, then the centred sum of squares in a
 * second reduction (exact two-pass variance: no E[x²] − E[x]² cancellation),
 * the PyTorch running-statistics update, and the affine normalisation.
 * Backward: one reduction gives Σdy and Σdy·x̂ together (dβ, dγ), then
 * dx = γ·σ⁻¹/N · (N·dy − dβ − x̂·dγ) elementwise.
 *
 * Reductions are the deterministic column reductions of reduce.ts; the
 * elementwise steps use vec4 when C is a multiple of 4.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import {
  checkDims,
  checkSize,
  mapKernel,
  pickWidth,
  type WidthChoice,
} from "../elementwise/elementwise.ts";
import { f32Lit } from "../wgsl.ts";
import { axisReduce, type ReduceVariant } from "./reduce.ts";

/** Variant overrides for tests and benchmarks. */
export interface BatchNormVariants {
  /** Reduction strategy (default by adapter). */
  variant?: ReduceVariant;
  /** Width of the elementwise step (default vec4 when C % 4 = 0). */
  width?: WidthChoice;
  /** Rows per invocation of the elementwise step (default by adapter). */
  rowsPerInvocation?: number;
}

/** Arguments of {@link batchNormTrainForward}. */
export interface BatchNormTrainArgs extends BatchNormVariants {
  /** Input [rows, channels] (NHWC flattened). */
  x: Tensor;
  /** N·H·W (at least 2: the running variance is unbiased). */
  rows: number;
  /** C. */
  channels: number;
  /** Scale γ [C]. */
  gamma: Tensor;
  /** Shift β [C]. */
  beta: Tensor;
  /** Added to the variance before the square root. */
  eps: number;
  /** PyTorch momentum: running = (1 − m)·running + m·batch statistic. */
  momentum: number;
  /** Running mean [C], updated in place. */
  runningMean: Tensor;
  /** Running variance [C] (unbiased batch variance), updated in place. */
  runningVar: Tensor;
  /** Output [rows, channels]; may be x only if the backward pass does not need x. */
  y: Tensor;
  /** Receives the batch mean [C] (for backward). */
  saveMean: Tensor;
  /** Receives 1/√(biased batch variance + eps) [C] (for backward). */
  saveInvStd: Tensor;
  /** Scratch for the reductions' two-pass split; required for more than a few hundred rows. */
  arena?: BufferArena;
}

/** Arguments of {@link batchNormEvalForward}. */
export interface BatchNormEvalArgs extends BatchNormVariants {
  /** Input [rows, channels]. */
  x: Tensor;
  /** Rows. */
  rows: number;
  /** Channels. */
  channels: number;
  /** Scale γ [C]. */
  gamma: Tensor;
  /** Shift β [C]. */
  beta: Tensor;
  /** Added to the running variance. */
  eps: number;
  /** Running mean [C]. */
  runningMean: Tensor;
  /** Running variance [C]. */
  runningVar: Tensor;
  /** Output [rows, channels] (may be x). */
  y: Tensor;
}

/** Arguments of {@link batchNormBackward}. */
export interface BatchNormBackwardArgs extends BatchNormVariants {
  /** The forward input [rows, channels]. */
  x: Tensor;
  /** Gradient w.r.t. the output. */
  dy: Tensor;
  /** Rows. */
  rows: number;
  /** Channels. */
  channels: number;
  /** Scale γ [C]. */
  gamma: Tensor;
  /** Batch mean saved by the training forward. */
  saveMean: Tensor;
  /** Inverse standard deviation saved by the training forward. */
  saveInvStd: Tensor;
  /** Gradient w.r.t. x, overwritten (may be dy). */
  dx: Tensor;
  /** Gradient w.r.t. γ, overwritten. */
  dgamma: Tensor;
  /** Gradient w.r.t. β, overwritten. */
  dbeta: Tensor;
  /** Scratch for the reduction's two-pass split. */
  arena?: BufferArena;
}

function checkCommon(
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

function checkEps(label: string, eps: number): void {
  if (!(Number.isFinite(eps) && eps >= 0)) {
    throw new RangeError(`${label}: eps must be finite and ≥ 0, got ${eps}`);
  }
}

/**
 * y = (x − mu)·sc + sh per channel, with mu, sc and sh defined by `prelude`
 * from the per-channel operands (`x` must be the first operand).
 */
function perChannelAffine(
  gpu: Gpu,
  label: string,
  a: { rows: number; channels: number; y: Tensor; width?: WidthChoice; rowsPerInvocation?: number },
  operands: { name: string; tensor: Tensor }[],
  prelude: (n: Record<string, string>) => string,
): Command[] {
  const { rows, channels: C } = a;
  const width = pickWidth(label, [C], a.width);
  return mapKernel(gpu, {
    label: `${label}_w${width}`,
    n: rows * C,
    width,
    cols: C,
    operands: [...operands, { name: "y", tensor: a.y, write: true }],
    rowsPerInvocation: a.rowsPerInvocation,
    colPrelude: prelude,
    body: (n) => `  ${n.y}[i] = (${n.x}[i] - mu) * sc + sh;`,
  });
}

/**
 * Training-mode batch norm: normalises with the batch statistics, saves them
 * for backward and updates the running statistics (PyTorch semantics:
 * biased variance to normalise, unbiased variance for the running estimate).
 */
export function batchNormTrainForward(gpu: Gpu, a: BatchNormTrainArgs): Command[] {
  const label = "batchnorm_train";
  const { rows, channels: C } = a;
  checkCommon(label, a.x, rows, C, [
    ["gamma", a.gamma],
    ["beta", a.beta],
    ["runningMean", a.runningMean],
    ["runningVar", a.runningVar],
    ["saveMean", a.saveMean],
    ["saveInvStd", a.saveInvStd],
  ]);
  checkSize(label, "y", a.y, rows * C, `rows ${rows} × channels ${C}`);
  checkEps(label, a.eps);
  if (rows < 2) {
    throw new RangeError(
      `${label}: training needs at least 2 values per channel (rows = ${rows}) for the unbiased variance`,
    );
  }
  if (!(a.momentum >= 0 && a.momentum <= 1)) {
    throw new RangeError(`${label}: momentum must be in [0, 1], got ${a.momentum}`);
  }
  const opts = { variant: a.variant, arena: a.arena, contiguous: "m" as const, requireSplit: true };
  const xs = { name: "x", tensor: a.x };
  const mean = { name: "mean", tensor: a.saveMean };
  const m = f32Lit(a.momentum);
  const meanPass = axisReduce(gpu, {
    label: `${label}_mean`,
    M: C,
    L: rows,
    width: 1,
    combine: "sum",
    inputs: [xs],
    outputs: [{ ...mean, write: true }],
    load: (n) => `${n.x}[k * ${C}u + m]`,
    store: (n) => `  ${n.mean}[m] = acc / ${f32Lit(rows)};`,
  }, opts);
  const varPass = axisReduce(gpu, {
    label: `${label}_var`,
    M: C,
    L: rows,
    width: 1,
    combine: "sum",
    inputs: [xs, mean],
    outputs: [
      mean,
      { name: "invStd", tensor: a.saveInvStd, write: true },
      { name: "runMean", tensor: a.runningMean, write: true },
      { name: "runVar", tensor: a.runningVar, write: true },
    ],
    load: (n) => `(${n.x}[k * ${C}u + m] - ${n.mean}[m]) * (${n.x}[k * ${C}u + m] - ${n.mean}[m])`,
    store: (n) =>
      `  ${n.invStd}[m] = 1.0 / sqrt(acc / ${f32Lit(rows)} + ${f32Lit(a.eps)});
  ${n.runMean}[m] = (1.0 - ${m}) * ${n.runMean}[m] + ${m} * ${n.mean}[m];
  ${n.runVar}[m] = (1.0 - ${m}) * ${n.runVar}[m] + ${m} * (acc / ${f32Lit(rows - 1)});`,
  }, opts);
  const normalise = perChannelAffine(gpu, `${label}_normalise`, a, [
    xs,
    mean,
    { name: "invStd", tensor: a.saveInvStd },
    { name: "gamma", tensor: a.gamma },
    { name: "beta", tensor: a.beta },
  ], (n) =>
    `  let mu = ${n.mean}[c];
  let sc = ${n.invStd}[c] * ${n.gamma}[c];
  let sh = ${n.beta}[c];`);
  return [...meanPass, ...varPass, ...normalise];
}

/** Evaluation-mode batch norm: y = (x − running mean)·γ/√(running var + eps) + β. */
export function batchNormEvalForward(gpu: Gpu, a: BatchNormEvalArgs): Command[] {
  const label = "batchnorm_eval";
  const { rows, channels: C } = a;
  checkCommon(label, a.x, rows, C, [
    ["gamma", a.gamma],
    ["beta", a.beta],
    ["runningMean", a.runningMean],
    ["runningVar", a.runningVar],
  ]);
  checkSize(label, "y", a.y, rows * C, `rows ${rows} × channels ${C}`);
  checkEps(label, a.eps);
  return perChannelAffine(gpu, label, a, [
    { name: "x", tensor: a.x },
    { name: "runMean", tensor: a.runningMean },
    { name: "runVar", tensor: a.runningVar },
    { name: "gamma", tensor: a.gamma },
    { name: "beta", tensor: a.beta },
  ], (n) =>
    `  let mu = ${n.runMean}[c];
  let sc = ${n.gamma}[c] / sqrt(${n.runVar}[c] + T(${f32Lit(a.eps)}));
  let sh = ${n.beta}[c];`);
}

/** Gradients of training-mode batch norm w.r.t. x, γ and β (all overwritten). */
export function batchNormBackward(gpu: Gpu, a: BatchNormBackwardArgs): Command[] {
  const label = "batchnorm_backward";
  const { rows, channels: C } = a;
  checkCommon(label, a.x, rows, C, [
    ["gamma", a.gamma],
    ["saveMean", a.saveMean],
    ["saveInvStd", a.saveInvStd],
    ["dgamma", a.dgamma],
    ["dbeta", a.dbeta],
  ]);
  checkSize(label, "dy", a.dy, rows * C, `rows ${rows} × channels ${C}`);
  checkSize(label, "dx", a.dx, rows * C, `rows ${rows} × channels ${C}`);
  const xs = { name: "x", tensor: a.x };
  const dys = { name: "dy", tensor: a.dy };
  const mean = { name: "mean", tensor: a.saveMean };
  const invStd = { name: "invStd", tensor: a.saveInvStd };
  const sums = axisReduce(gpu, {
    label: `${label}_sums`,
    M: C,
    L: rows,
    width: 2,
    combine: "sum",
    inputs: [xs, dys, mean, invStd],
    outputs: [{ name: "dgamma", tensor: a.dgamma, write: true }, {
      name: "dbeta",
      tensor: a.dbeta,
      write: true,
    }],
    load: (n) => {
      const i = `k * ${C}u + m`;
      return `vec2<f32>(${n.dy}[${i}], ${n.dy}[${i}] * ((${n.x}[${i}] - ${n.mean}[m]) * ${n.invStd}[m]))`;
    },
    store: (n) => `  ${n.dbeta}[m] = acc.x;\n  ${n.dgamma}[m] = acc.y;`,
  }, { variant: a.variant, arena: a.arena, contiguous: "m", requireSplit: true });
  const width = pickWidth(label, [C], a.width);
  const dx = mapKernel(gpu, {
    label: `${label}_dx_w${width}`,
    n: rows * C,
    width,
    cols: C,
    operands: [
      xs,
      dys,
      mean,
      invStd,
      { name: "gamma", tensor: a.gamma },
      { name: "dgamma", tensor: a.dgamma },
      { name: "dbeta", tensor: a.dbeta },
      { name: "dx", tensor: a.dx, write: true },
    ],
    rowsPerInvocation: a.rowsPerInvocation,
    colPrelude: (n) =>
      `  let mu = ${n.mean}[c];
  let istd = ${n.invStd}[c];
  let g = ${n.gamma}[c] * istd * T(${f32Lit(1 / rows)});
  let db = ${n.dbeta}[c];
  let dg = ${n.dgamma}[c];`,
    body: (n) =>
      `  let xh = (${n.x}[i] - mu) * istd;
  ${n.dx}[i] = g * (T(${f32Lit(rows)}) * ${n.dy}[i] - db - xh * dg);`,
  });
  return [...sums, ...dx];
}
