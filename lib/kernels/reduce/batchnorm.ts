/**
 * Batch normalisation over NHWC activations viewed as [rows = N·H·W, C].
 *
 * Training forward: per-channel mean and centred sum of squares in one
 * reduction (Welford states of the values shifted by each channel's first
 * value, merged with Chan's rule: no E[x²] − E[x]² cancellation, and accurate
 * however far the data sits from zero), the PyTorch running-statistics
 * update, and the affine normalisation: two dispatches for the statistics
 * (one when a single chunk suffices) and one for the normalisation.
 * Backward (batchnorm_backward.ts): one reduction gives Σdy and Σdy·x̂
 * together (dβ, dγ), then dx = γ·σ⁻¹/N · (N·dy − dβ − x̂·dγ) elementwise.
 * A ReLU that follows the batch norm can run inside it (`relu`), forward and
 * backward, with the results of the two separate ops; so can a residual
 * add before that ReLU (`skip`: y = [relu](bn(x) + skip), the backward then
 * also writes the skip's gradient) and a max pooling of disjoint windows
 * (batchnorm_pool.ts, sharing this file's affine step).
 *
 * Reductions are the deterministic column reductions of reduce.ts; the
 * elementwise steps use vec4 when C is a multiple of 4.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { checkSize, mapKernel, pickWidth, type WidthChoice } from "../elementwise/elementwise.ts";
import { activationExpr, f32Lit } from "../wgsl.ts";
import { axisReduce } from "./reduce.ts";
import type { Operand } from "../elementwise/operands.ts";
import { type BatchNormVariants, checkCommon } from "./batchnorm_common.ts";

export type { BatchNormVariants } from "./batchnorm_common.ts";

/** A ReLU fused after the affine step (forward passes). */
export interface FusedRelu {
  /**
   * Apply y = max(y, 0) after the affine step (a batch norm followed by a
   * ReLU in one kernel; the backward pass then needs `reluOutput`).
   */
  relu?: boolean;
}

/** A residual add fused after the affine step, before any fused ReLU (forward passes). */
export interface FusedAdd {
  /**
   * The add's other input [rows, channels]: y = [relu](bn(x) + skip), the
   * normalised value rounded to f32 before the add as the separate ops do.
   */
  skip?: Tensor;
}

/** Arguments of {@link batchNormTrainForward}. */
export interface BatchNormTrainArgs extends BatchNormVariants, FusedRelu, FusedAdd {
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
export interface BatchNormEvalArgs extends BatchNormVariants, FusedRelu, FusedAdd {
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

/** Throws a RangeError unless eps is finite and ≥ 0. */
export function checkEps(label: string, eps: number): void {
  if (!(Number.isFinite(eps) && eps >= 0)) {
    throw new RangeError(`${label}: eps must be finite and ≥ 0, got ${eps}`);
  }
}

/**
 * The per-channel affine step y = (x − mu)·sc + sh: the per-channel operands
 * it reads and the WGSL that binds mu, sc and sh at vector column `c` (type
 * `T`), shared by the normalisation and the kernels that fuse it
 * (batchnorm_pool.ts), so they round alike.
 */
export interface ChannelAffine {
  /** Per-channel operands (bound with the kernel's element type). */
  operands: Operand[];
  /** WGSL `let` bindings of mu, sc and sh, given resolved operand names. */
  prelude: (n: Record<string, string>) => string;
}

/** The training affine step: batch mean and 1/σ saved by the statistics, γ and β. */
export function trainAffine(
  a: { saveMean: Tensor; saveInvStd: Tensor; gamma: Tensor; beta: Tensor },
): ChannelAffine {
  return {
    operands: [
      { name: "mean", tensor: a.saveMean },
      { name: "invStd", tensor: a.saveInvStd },
      { name: "gamma", tensor: a.gamma },
      { name: "beta", tensor: a.beta },
    ],
    prelude: (n) =>
      `  let mu = ${n.mean}[c];
  let sc = ${n.invStd}[c] * ${n.gamma}[c];
  let sh = ${n.beta}[c];`,
  };
}

/** The evaluation affine step: running mean and variance, γ and β. */
export function evalAffine(
  a: { runningMean: Tensor; runningVar: Tensor; gamma: Tensor; beta: Tensor; eps: number },
): ChannelAffine {
  return {
    operands: [
      { name: "runMean", tensor: a.runningMean },
      { name: "runVar", tensor: a.runningVar },
      { name: "gamma", tensor: a.gamma },
      { name: "beta", tensor: a.beta },
    ],
    prelude: (n) =>
      `  let mu = ${n.runMean}[c];
  let sc = ${n.gamma}[c] / sqrt(${n.runVar}[c] + T(${f32Lit(a.eps)}));
  let sh = ${n.beta}[c];`,
  };
}

/** y = (x − mu)·sc + sh per channel (then + skip, then max(y, 0) with `relu`). */
function perChannelAffine(
  gpu: Gpu,
  label: string,
  a: {
    x: Tensor;
    rows: number;
    channels: number;
    y: Tensor;
    width?: WidthChoice;
    rowsPerInvocation?: number;
    relu?: boolean;
    skip?: Tensor;
  },
  affine: ChannelAffine,
): Command[] {
  const { rows, channels: C } = a;
  const width = pickWidth(label, [C], a.width);
  if (a.skip) checkSize(label, "skip", a.skip, rows * C, `rows ${rows} × channels ${C}`);
  const skip = a.skip ? [{ name: "skip", tensor: a.skip }] : [];
  return mapKernel(gpu, {
    label: `${label}${a.skip ? "_add" : ""}${a.relu ? "_relu" : ""}_w${width}`,
    n: rows * C,
    width,
    cols: C,
    operands: [{ name: "x", tensor: a.x }, ...affine.operands, ...skip, {
      name: "y",
      tensor: a.y,
      write: true,
    }],
    rowsPerInvocation: a.rowsPerInvocation,
    colPrelude: affine.prelude,
    body: (n) => {
      // The separate ops store the normalised value (f32) before adding.
      const v = a.skip ? `bn + ${n.skip}[i]` : "bn";
      return `  let bn = (${n.x}[i] - mu) * sc + sh;
  ${n.y}[i] = ${a.relu ? activationExpr("relu", v) : v};`;
    },
  });
}

/**
 * Training-mode batch norm: normalises with the batch statistics, saves them
 * for backward and updates the running statistics (PyTorch semantics:
 * biased variance to normalise, unbiased variance for the running estimate).
 */
export function batchNormTrainForward(gpu: Gpu, a: BatchNormTrainArgs): Command[] {
  const label = "batchnorm_train";
  const stats = batchNormTrainStats(gpu, a);
  checkSize(label, "y", a.y, a.rows * a.channels, `rows ${a.rows} × channels ${a.channels}`);
  const normalise = perChannelAffine(gpu, `${label}_normalise`, a, trainAffine(a));
  return [...stats, ...normalise];
}

/**
 * The statistics of {@link batchNormTrainForward} alone: saves the batch
 * mean and 1/σ and updates the running statistics (the output is left to
 * the caller: the normalisation, or a kernel that fuses it).
 */
export function batchNormTrainStats(
  gpu: Gpu,
  a: Omit<BatchNormTrainArgs, "y" | "relu" | "width" | "rowsPerInvocation">,
): Command[] {
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
  // One pass: Welford states per chunk, merged with Chan's rule (axis.ts),
  // of the values shifted by the channel's first value K = x[0, c]: the
  // states then hold means of size ~σ rather than ~|mean|, so their rounding
  // stays relative to the spread even for data far from zero (shifting
  // changes neither variance nor, exactly, the differences). acc = (count,
  // mean of x − K, Σ(x − mean)²).
  return axisReduce(gpu, {
    label: `${label}_stats`,
    M: C,
    L: rows,
    width: 1,
    combine: "welford",
    inputs: [xs],
    outputs: [
      { name: "shift", tensor: a.x },
      { ...mean, write: true },
      { name: "invStd", tensor: a.saveInvStd, write: true },
      { name: "runMean", tensor: a.runningMean, write: true },
      { name: "runVar", tensor: a.runningVar, write: true },
    ],
    load: (n) => `${n.x}[k * ${C}u + m] - ${n.x}[m]`,
    store: (n) =>
      `  let mu = ${n.shift}[m] + acc.y;
  ${n.mean}[m] = mu;
  ${n.invStd}[m] = 1.0 / sqrt(acc.z / ${f32Lit(rows)} + ${f32Lit(a.eps)});
  ${n.runMean}[m] = (1.0 - ${m}) * ${n.runMean}[m] + ${m} * mu;
  ${n.runVar}[m] = (1.0 - ${m}) * ${n.runVar}[m] + ${m} * (acc.z / ${f32Lit(rows - 1)});`,
  }, opts);
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
  return perChannelAffine(gpu, label, a, evalAffine(a));
}

export { batchNormBackward } from "./batchnorm_backward.ts";
export type { BatchNormBackwardArgs } from "./batchnorm_backward.ts";
