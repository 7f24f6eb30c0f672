/**
 * Gram matrices for the Kronecker optimizers: `R = X̃ᵀX̃ / rows` from layer
 * inputs and `L = DᵀD / rows` from output gradients, optionally folded into
 * an exponential moving average (`out = α·out + (1 − α)·scale·XᵀX`).
 *
 * - {@link gramDense}: X is a [rows, cols] matrix (linear layers, or conv
 *   output gradients viewed as [N·Ho·Wo, Cout]).
 * - {@link gramConvPatches}: X̃ = im2col(x) of a conv, one row per (image,
 *   output pixel), columns ordered channel, kernel row, kernel column (the
 *   order of W reshaped to Cout × Cin·kh·kw); padding gives zeros; dilation
 *   and stride are honoured. X̃ is never materialised: rows are gathered from
 *   the input on the fly. With groups > 1 there is one factor per group.
 *
 * `appendOnes` adds a trailing column of ones (bias), so d' = d + 1. Only the
 * upper triangle is computed; each result is written to both (a, b) and
 * (b, a), so `out` is exactly symmetric. The long reduction over rows is
 * split into chunks added in a fixed order by a second pass (which also
 * applies scale and EMA): results are deterministic.
 * Variants as for conv: `tex_<t>x<t>` (texture operands, llvmpipe) and
 * `tiled` (storage buffers, real GPUs).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { shapeStr } from "../../gpu/tensor.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import { f32Lit } from "../wgsl.ts";
import { type Conv2dGeometry, type ConvDims, convDims, expectShape } from "../conv/geometry.ts";
import { fitsTexture, mirrorOf, scratchTensor } from "../conv/operands.ts";
import { outerInvocations, type OuterSpec, outerWgsl, type RowOperand } from "../conv/tex_outer.ts";
import { tiledGrid, type TiledSpec, tiledWgsl } from "../conv/tiled.ts";
import { chooseSplits, patchElementWgsl } from "../conv/elements.ts";
import { type PartialShape, partialStoreWgsl, reduceWgsl } from "../conv/reduce.ts";

/** Output and accumulation options shared by both Gram builders. */
export interface GramArgs {
  /** [d', d'] (or [groups, d', d'] for grouped patches), d' = d (+1 with appendOnes). */
  out: Tensor;
  /** Append a column of ones to X (bias): d' = d + 1. */
  appendOnes?: boolean;
  /** Multiplier of XᵀX; default 1/rows. */
  scale?: number;
  /** α: out = α·out + (1 − α)·scale·XᵀX. Omitted: out = scale·XᵀX. */
  ema?: number;
  /** Force a variant (see {@link gramVariants}). */
  variant?: string;
  /** Where split-K scratch is allocated (default: directly on the device). */
  arena?: BufferArena;
}

/** Square texture tiles offered, largest first. */
const TEX_TILES = [16, 8, 4];

/** What a Gram problem looks like after validation. */
interface GramProblem {
  what: string;
  rows: number;
  groups: number;
  /** Row operand (columns per group, ones included). */
  op: RowOperand;
  /** d' per group. */
  dp: number;
  /** WGSL expression mapping internal column `j` to its output index. */
  perm: string;
  x: Tensor;
  d?: ConvDims;
}

function denseProblem(a: GramArgs & { x: Tensor; rows: number; cols: number }): GramProblem {
  const what = "gramDense";
  for (const k of ["rows", "cols"] as const) {
    if (!Number.isInteger(a[k]) || a[k] < 1) {
      throw new RangeError(`${what}: ${k} must be a positive integer, got ${a[k]}`);
    }
  }
  if (a.x.size !== a.rows * a.cols) {
    throw new RangeError(
      `${what}: x "${a.x.name}" ${
        shapeStr(a.x.shape)
      } holds ${a.x.size} values, not rows·cols = ${a.rows}·${a.cols}`,
    );
  }
  const ones = a.appendOnes ?? false;
  const dp = a.cols + (ones ? 1 : 0);
  expectShape(what, "out", a.out, [dp, dp]);
  return {
    what,
    rows: a.rows,
    groups: 1,
    op: { kind: "dense", cols: a.cols, stride: a.cols, groupOffset: 0, ones },
    dp,
    perm: "j",
    x: a.x,
  };
}

function patchProblem(a: GramArgs & { geom: Conv2dGeometry; x: Tensor }): GramProblem {
  const what = "gramConvPatches";
  const d = convDims(a.geom);
  expectShape(what, "x", a.x, [d.batch, d.inH, d.inW, d.inC]);
  const ones = a.appendOnes ?? false;
  const k = d.kpos * d.cinG;
  const dp = k + (ones ? 1 : 0);
  if (d.groups === 1 && a.out.shape.length === 2) expectShape(what, "out", a.out, [dp, dp]);
  else expectShape(what, "out", a.out, [d.groups, dp, dp]);
  return {
    what,
    rows: d.batch * d.outH * d.outW,
    groups: d.groups,
    op: { kind: "patch", d, ones },
    dp,
    // Internal column (ky·kw + kx)·Cin_g + ci → output column ci·kh·kw + ky·kw + kx.
    perm: `select(j, (j % ${d.cinG}u) * ${d.kpos}u + j / ${d.cinG}u, j < ${k}u)`,
    x: a.x,
    d,
  };
}

/** WGSL `finish(g, i, j, v)`: scale / EMA, then write (a, b) and (b, a). */
function gramFinishWgsl(p: GramProblem, a: GramArgs, base: number): string {
  const scale = a.scale ?? 1 / p.rows;
  const value = a.ema === undefined
    ? `${f32Lit(scale)} * v`
    : `${f32Lit(a.ema)} * out[ia] + ${f32Lit((1 - a.ema) * scale)} * v`;
  return `@group(0) @binding(${base}) var<storage, read_write> out: array<f32>;
fn perm(j: u32) -> u32 {
  return ${p.perm};
}
fn finish(g: u32, i: u32, j: u32, v: f32) {
  let a = perm(i);
  let b = perm(j);
  let ia = (g * ${p.dp}u + a) * ${p.dp}u + b;
  let ib = (g * ${p.dp}u + b) * ${p.dp}u + a;
  let nv = ${value};
  out[ia] = nv;
  out[ib] = nv;
}
`;
}

/** Variant names valid for a Gram problem on this device, the default first. */
function variantsOf(gpu: Gpu, p: GramProblem): string[] {
  const tex = fitsTexture(gpu, p.x.size)
    ? TEX_TILES.filter((t) => t <= Math.max(4, Math.ceil(p.dp / 4) * 4)).map((t) => `tex_${t}x${t}`)
    : [];
  if (gpu.adapter.isFallbackAdapter && tex.length > 0) return [...tex, "tiled"];
  return ["tiled", ...tex];
}

/** Variant names for {@link gramDense} (`kind: "dense"`) or {@link gramConvPatches}. */
export function gramVariants(
  gpu: Gpu,
  a:
    | (GramArgs & { kind: "dense"; x: Tensor; rows: number; cols: number })
    | (GramArgs & { kind: "patches"; geom: Conv2dGeometry; x: Tensor }),
): string[] {
  return variantsOf(gpu, a.kind === "dense" ? denseProblem(a) : patchProblem(a));
}

function build(gpu: Gpu, p: GramProblem, a: GramArgs): Command[] {
  const valid = variantsOf(gpu, p);
  const v = a.variant ?? valid[0];
  if (!valid.includes(v)) {
    throw new RangeError(
      `${p.what}: unknown or unsupported variant "${v}" (valid here: ${valid.join(", ")})`,
    );
  }
  const tile = v === "tiled" ? 64 : Number(/^tex_(\d+)x/.exec(v)![1]);
  const nb = Math.ceil(p.dp / tile);
  const tiles = ((nb * (nb + 1)) / 2) * p.groups;
  const perSplit = p.groups * p.dp * p.dp;
  // Fill the device: ~32 llvmpipe workgroups of 8 lanes, or hundreds of GPU workgroups.
  const splits = v === "tiled"
    ? chooseSplits({ tiles, rows: p.rows, target: 512, minRows: 256, partialFloats: perSplit })
    : chooseSplits({ tiles, rows: p.rows, target: 256, minRows: 128, partialFloats: perSplit });
  // The product kernels always store raw partial sums (even for one chunk):
  // scale, EMA and the column permutation live in the small reduction pass,
  // so the expensive kernels do not recompile when those constants change.
  const ps: PartialShape = { splits, groups: p.groups, rows: p.dp, cols: p.dp, upper: true };
  const part = scratchTensor(gpu, a.arena, `${a.out.name}.partials`, splits * perSplit);
  const epilogue = partialStoreWgsl(ps, 2);
  const outs = [part];
  const cmds: Command[] = [];
  if (v === "tiled") {
    const col = p.op.kind === "dense"
      ? `fn col(g: u32, r: u32, j: u32) -> f32 {
  if (j >= ${p.op.cols}u) { return 1.0; }
  return x[r * ${p.op.cols}u + j];
}`
      : `${patchElementWgsl(p.d!, "im2col_at", "x")}
fn col(g: u32, r: u32, j: u32) -> f32 {
  if (j >= ${p.d!.kpos * p.d!.cinG}u) { return 1.0; }
  return im2col_at(g, r, j);
}`;
    const spec: TiledSpec = {
      label: `gram_${p.op.kind}_tiled`,
      m: p.dp,
      n: p.dp,
      k: p.rows,
      groups: p.groups,
      splits,
      symmetric: true,
      readers: `@group(0) @binding(0) var<storage, read> x: array<f32>;
${epilogue}
${col}
fn lda(g: u32, m: u32, k: u32) -> f32 { return col(g, k, m); }
fn ldb(g: u32, k: u32, n: u32) -> f32 { return col(g, k, n); }`,
    };
    // Binding 1 is unused by the tiled kernel; keep the order of the texture variant.
    cmds.push(dispatch(gpu, spec.label, tiledWgsl(spec), [p.x, p.x, ...outs], tiledGrid(spec)));
  } else {
    const m = mirrorOf(gpu, p.x);
    const spec: OuterSpec = {
      label: `gram_${p.op.kind}_${v}`,
      rows: p.rows,
      groups: p.groups,
      a: p.op,
      b: p.op,
      symmetric: true,
      shared: true,
      ti: tile,
      tj: tile,
      splits,
      epilogue,
    };
    cmds.push(m.copy);
    cmds.push(
      dispatch(
        gpu,
        spec.label,
        outerWgsl(spec),
        [m.tex, m.tex, ...outs],
        grid2d(Math.ceil(outerInvocations(spec) / 8)),
      ),
    );
  }
  const code = reduceWgsl(ps, gramFinishWgsl(p, a, 1));
  cmds.push(dispatch(gpu, `gram_finish`, code, [part, a.out], grid2d(Math.ceil(perSplit / 64))));
  return cmds;
}

/**
 * Gram matrix of a dense [rows, cols] matrix `x` (any tensor of rows·cols
 * values, read row-major): out = scale·XᵀX (or its EMA), [d', d'].
 */
export function gramDense(
  gpu: Gpu,
  a: GramArgs & { x: Tensor; rows: number; cols: number },
): Command[] {
  return build(gpu, denseProblem(a), a);
}

/**
 * Gram matrix of the im2col patches of conv input `x` [N, H, W, Cin] for
 * geometry `geom`: out = scale·X̃ᵀX̃ (or its EMA), scale defaulting to
 * 1/(N·Ho·Wo). out is [d', d'] with d = Cin·kh·kw, or [groups, d', d'] with
 * d = (Cin/groups)·kh·kw (also accepted as [1, d', d'] for one group).
 */
export function gramConvPatches(
  gpu: Gpu,
  a: GramArgs & { geom: Conv2dGeometry; x: Tensor },
): Command[] {
  return build(gpu, patchProblem(a), a);
}
