/**
 * Gram problems: the shape-only description every Gram variant is built
 * from (validated), and the finishing function of the split-K reduction
 * (scale, EMA, column permutation, mirrored write).
 * @module
 */

import type { Tensor } from "../../gpu/tensor.ts";
import { shapeStr } from "../../gpu/tensor.ts";
import { type Conv2dGeometry, type ConvDims, convDims, expectShape } from "../conv/geometry.ts";
import type { RowOperand } from "../conv/tex_outer.ts";
import { f32Lit } from "../wgsl.ts";

/** A dense Gram problem: X is [rows, cols] (read row-major). */
export interface GramDenseProblem {
  /** Rows of X (the reduction length). */
  rows: number;
  /** Columns of X. */
  cols: number;
  /** A column of ones is appended (bias): d' = cols + 1. */
  appendOnes: boolean;
}

/** A patch Gram problem: X̃ = im2col(x) of a conv input. */
export interface GramPatchProblem {
  /** The conv whose input patches are gathered (outC only sets the groups' validity). */
  geom: Conv2dGeometry;
  /** A column of ones is appended (bias). */
  appendOnes: boolean;
}

/** What every Gram variant needs, after validation. */
export interface GramShape {
  /** Builder name, for messages. */
  what: string;
  /** Reduction length (rows of X or X̃). */
  rows: number;
  /** Independent products. */
  groups: number;
  /** Row operand (columns per group, ones included). */
  op: RowOperand;
  /** d' per group. */
  dp: number;
  /** WGSL expression mapping internal column `j` to its output index. */
  perm: string;
  /** Floats of the input X. */
  xFloats: number;
  /** Conv dims (patches only). */
  d?: ConvDims;
}

function positive(what: string, k: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`${what}: ${k} must be a positive integer, got ${v}`);
  }
}

/** The shape of a dense Gram problem (RangeError on bad sizes). */
export function denseShape(p: GramDenseProblem): GramShape {
  const what = "gramDense";
  positive(what, "rows", p.rows);
  positive(what, "cols", p.cols);
  const ones = p.appendOnes;
  return {
    what,
    rows: p.rows,
    groups: 1,
    op: { kind: "dense", cols: p.cols, stride: p.cols, groupOffset: 0, ones },
    dp: p.cols + (ones ? 1 : 0),
    perm: "j",
    xFloats: p.rows * p.cols,
  };
}

/** The shape of a patch Gram problem (RangeError on a bad geometry). */
export function patchShape(p: GramPatchProblem): GramShape {
  const d = convDims(p.geom);
  const k = d.kpos * d.cinG;
  return {
    what: "gramConvPatches",
    rows: d.batch * d.outH * d.outW,
    groups: d.groups,
    op: { kind: "patch", d, ones: p.appendOnes },
    dp: k + (p.appendOnes ? 1 : 0),
    // Internal column (ky·kw + kx)·Cin_g + ci → output column ci·kh·kw + ky·kw + kx.
    perm: `select(j, (j % ${d.cinG}u) * ${d.kpos}u + j / ${d.cinG}u, j < ${k}u)`,
    xFloats: d.batch * d.inH * d.inW * d.inC,
    d,
  };
}

/** Checks the tensors of a dense Gram against its shape. */
export function checkDenseTensors(
  s: GramShape,
  x: Tensor,
  out: Tensor,
  rows: number,
  cols: number,
) {
  if (x.size !== rows * cols) {
    throw new RangeError(
      `${s.what}: x "${x.name}" ${
        shapeStr(x.shape)
      } holds ${x.size} values, not rows·cols = ${rows}·${cols}`,
    );
  }
  expectShape(s.what, "out", out, [s.dp, s.dp]);
}

/** Checks the tensors of a patch Gram against its shape. */
export function checkPatchTensors(s: GramShape, x: Tensor, out: Tensor) {
  const d = s.d!;
  expectShape(s.what, "x", x, [d.batch, d.inH, d.inW, d.inC]);
  if (d.groups === 1 && out.shape.length === 2) expectShape(s.what, "out", out, [s.dp, s.dp]);
  else expectShape(s.what, "out", out, [d.groups, s.dp, s.dp]);
}

/** How the reduction turns a raw sum into the stored statistic. */
export interface GramFinishOptions {
  /** Multiplier of XᵀX; default 1/rows. */
  scale?: number;
  /** α: out = α·out + (1 − α)·scale·XᵀX. Omitted: out = scale·XᵀX. */
  ema?: number;
}

/** WGSL `finish(g, i, j, v)`: scale / EMA, then write (a, b) and (b, a) of `out` at `base`. */
export function gramFinishWgsl(s: GramShape, o: GramFinishOptions, base: number): string {
  const scale = o.scale ?? 1 / s.rows;
  const value = o.ema === undefined
    ? `${f32Lit(scale)} * v`
    : `${f32Lit(o.ema)} * out[ia] + ${f32Lit((1 - o.ema) * scale)} * v`;
  return `@group(0) @binding(${base}) var<storage, read_write> out: array<f32>;
fn perm(j: u32) -> u32 {
  return ${s.perm};
}
fn finish(g: u32, i: u32, j: u32, v: f32) {
  let a = perm(i);
  let b = perm(j);
  let ia = (g * ${s.dp}u + a) * ${s.dp}u + b;
  let ib = (g * ${s.dp}u + b) * ${s.dp}u + a;
  let nv = ${value};
  out[ia] = nv;
  out[ib] = nv;
}
`;
}
