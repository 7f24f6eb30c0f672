/**
 * Conv2d geometry: output size, validation, and the tensor-shape checks every
 * conv kernel builder runs before generating code.
 *
 * Conventions: activations NHWC, weights [Cout, Cin/groups, kh, kw] (PyTorch
 * order), output size as in PyTorch:
 * `out = floor((in + 2·pad − dilation·(k − 1) − 1) / stride) + 1`.
 * @module
 */

import type { Tensor } from "../../gpu/tensor.ts";
import { shapeStr } from "../../gpu/tensor.ts";

/** Every number that defines a 2-D convolution (NHWC in, NHWC out). */
export interface Conv2dGeometry {
  /** Images per batch (N). */
  batch: number;
  /** Input height. */
  inH: number;
  /** Input width. */
  inW: number;
  /** Input channels (Cin). */
  inC: number;
  /** Output channels (Cout). */
  outC: number;
  /** Kernel height. */
  kh: number;
  /** Kernel width. */
  kw: number;
  /** Vertical stride. */
  strideH: number;
  /** Horizontal stride. */
  strideW: number;
  /** Zero padding added above and below. */
  padH: number;
  /** Zero padding added left and right. */
  padW: number;
  /** Vertical dilation (1 = dense kernel). */
  dilationH: number;
  /** Horizontal dilation. */
  dilationW: number;
  /** Channel groups (1 = dense, inC = outC = groups for depthwise). */
  groups: number;
}

/**
 * Output spatial size of `g` (PyTorch's formula). Throws a RangeError naming
 * the sizes when the kernel (with dilation) does not fit the padded input.
 */
export function convOutputSize(g: Conv2dGeometry): { outH: number; outW: number } {
  const outH = Math.floor((g.inH + 2 * g.padH - g.dilationH * (g.kh - 1) - 1) / g.strideH) + 1;
  const outW = Math.floor((g.inW + 2 * g.padW - g.dilationW * (g.kw - 1) - 1) / g.strideW) + 1;
  if (!(outH >= 1 && outW >= 1)) {
    throw new RangeError(
      `conv2d: input ${g.inH}x${g.inW} with padding ${g.padH}x${g.padW} is smaller than the ` +
        `kernel ${g.kh}x${g.kw} at dilation ${g.dilationH}x${g.dilationW} (output would be ${outH}x${outW})`,
    );
  }
  return { outH, outW };
}

const POSITIVE: readonly (keyof Conv2dGeometry)[] = [
  "batch",
  "inH",
  "inW",
  "inC",
  "outC",
  "kh",
  "kw",
  "strideH",
  "strideW",
  "dilationH",
  "dilationW",
  "groups",
];

/**
 * Checks that every field is an integer in range, that both channel counts
 * divide by `groups`, and that the output is non-empty; RangeError otherwise.
 */
export function validateConv2d(g: Conv2dGeometry): void {
  for (const k of POSITIVE) {
    const v = g[k];
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`conv2d: ${k} must be a positive integer, got ${v}`);
    }
  }
  for (const k of ["padH", "padW"] as const) {
    const v = g[k];
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`conv2d: ${k} must be a non-negative integer, got ${v}`);
    }
  }
  if (g.inC % g.groups !== 0 || g.outC % g.groups !== 0) {
    throw new RangeError(
      `conv2d: channels in ${g.inC} and out ${g.outC} must both be divisible by groups ${g.groups}`,
    );
  }
  convOutputSize(g);
}

/** Shapes of the tensors a conv with geometry `g` reads and writes. */
export function convShapes(g: Conv2dGeometry): {
  x: number[];
  w: number[];
  bias: number[];
  y: number[];
} {
  const { outH, outW } = convOutputSize(g);
  return {
    x: [g.batch, g.inH, g.inW, g.inC],
    w: [g.outC, g.inC / g.groups, g.kh, g.kw],
    bias: [g.outC],
    y: [g.batch, outH, outW, g.outC],
  };
}

/**
 * Throws a RangeError naming `what`, the tensor and both shapes unless `t` has
 * exactly `shape` (shared by the conv, pooling and Gram builders).
 */
export function expectShape(what: string, role: string, t: Tensor, shape: readonly number[]): void {
  const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!same) {
    throw new RangeError(
      `${what}: ${role} "${t.name}" has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)}`,
    );
  }
}

/** Derived sizes used by every conv generator (per-group counts, reduction length). */
export interface ConvDims extends Conv2dGeometry {
  /** Output height. */
  outH: number;
  /** Output width. */
  outW: number;
  /** Input channels per group. */
  cinG: number;
  /** Output channels per group. */
  coutG: number;
  /** Kernel positions kh·kw. */
  kpos: number;
}

/** One of the three conv passes. */
export type ConvPass = "forward" | "input" | "weight";

/**
 * A conv pass as an implicit GEMM, per group: C (m × n) = A (m × k) · B (k × n).
 * Forward: output pixels × Cout_g over kh·kw·Cin_g taps; input gradient: input
 * pixels × Cin_g over kh·kw·Cout_g; weight gradient: Cout_g × (kh·kw·Cin_g,
 * plus the bias column) over output pixels.
 */
export interface PassProduct {
  /** Rows per group. */
  m: number;
  /** Columns per group. */
  n: number;
  /** Reduction length. */
  k: number;
  /** Independent products. */
  groups: number;
}

/** The implicit-GEMM sizes of pass `which` of `d` (`bias`: the weight gradient's bias column). */
export function passProduct(d: ConvDims, which: ConvPass, bias = false): PassProduct {
  const outPixels = d.batch * d.outH * d.outW;
  const { groups } = d;
  if (which === "forward") return { m: outPixels, n: d.coutG, k: d.kpos * d.cinG, groups };
  if (which === "input") {
    return { m: d.batch * d.inH * d.inW, n: d.cinG, k: d.kpos * d.coutG, groups };
  }
  return { m: d.coutG, n: d.kpos * d.cinG + (bias ? 1 : 0), k: outPixels, groups };
}

/** Validates `g` and returns it with the derived sizes. */
export function convDims(g: Conv2dGeometry): ConvDims {
  validateConv2d(g);
  const { outH, outW } = convOutputSize(g);
  return { ...g, outH, outW, cinG: g.inC / g.groups, coutG: g.outC / g.groups, kpos: g.kh * g.kw };
}
