/**
 * Conv2d weight-gradient builders, one per variant:
 * `dw[co, ci, ky, kx] = Σ_{n, oy, ox} dy[n, oy, ox, co] · x[n, oy·s − p + ky·d, ox·s − p + kx·d, g·Cin_g + ci]`
 * and `dbias[co] = Σ dy[…, co]`, computed together as one product
 * `Dᵀ·[X̃ | 1]` (the bias is the ones column of im2col). The reduction over
 * every output pixel is split into chunks summed by a second pass.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import { type ConvDims, passProduct } from "./geometry.ts";
import { mirrorOf, scratchTensor } from "./operands.ts";
import { outerInvocations, type OuterSpec, outerWgsl, type RowOperand } from "./tex_outer.ts";
import { tiledGrid, type TiledSpec, tiledWgsl } from "./tiled.ts";
import { chooseSplits, patchElementWgsl } from "./elements.ts";
import { type PartialShape, partialStoreWgsl, reduceWgsl } from "./reduce.ts";
import { recordPlan, weightGemmPlan } from "./gemm_passes.ts";
import { gemmTileFor } from "./gemm_tiles.ts";
import { parseTexTile } from "./variants.ts";

/** Tensors of a weight-gradient pass (shapes already checked). */
export interface WeightGradTensors {
  /** Input [N, H, W, Cin]. */
  x: Tensor;
  /** Output gradient [N, Ho, Wo, Cout]. */
  dy: Tensor;
  /** Weight gradient [Cout, Cin/g, kh, kw] (overwritten). */
  dw: Tensor;
  /** Bias gradient [Cout] (overwritten) when given. */
  dbias?: Tensor;
}

/**
 * WGSL `fn finish(g, i, j, v)` placing element (co = i, jj = j) of group g:
 * jj < kh·kw·Cin_g goes to dw (jj = (ky·kw + kx)·Cin_g + ci), jj = that
 * length to dbias. Declares dw (and dbias) at bindings `base`, `base + 1`.
 */
export function weightFinishWgsl(d: ConvDims, bias: boolean, base: number): string {
  const k = d.kpos * d.cinG;
  return `@group(0) @binding(${base}) var<storage, read_write> dw: array<f32>;
${bias ? `@group(0) @binding(${base + 1}) var<storage, read_write> db: array<f32>;` : ""}
fn finish(g: u32, i: u32, j: u32, v: f32) {
  if (j < ${k}u) {
    dw[((g * ${d.coutG}u + i) * ${d.cinG}u + j % ${d.cinG}u) * ${d.kpos}u + j / ${d.cinG}u] = v;
  }${bias ? ` else {\n    db[g * ${d.coutG}u + i] = v;\n  }` : ""}
}
`;
}

const DIRECT_STORE = `fn store(g: u32, s: u32, i: u32, j: u32, v: f32) { finish(g, i, j, v); }\n`;

function finishCommands(
  gpu: Gpu,
  d: ConvDims,
  t: WeightGradTensors,
  p: PartialShape,
  part: Tensor,
  label: string,
): Command {
  const bias = t.dbias !== undefined;
  const code = reduceWgsl(p, weightFinishWgsl(d, bias, 1));
  const bindings = bias ? [part, t.dw, t.dbias!] : [part, t.dw];
  return dispatch(gpu, label, code, bindings, grid2d(Math.ceil((p.groups * p.rows * p.cols) / 64)));
}

/** The texture variant's outer-product spec and partial shape (pure). */
function weightTexSpec(d: ConvDims, bias: boolean, ti: number, tj: number) {
  const a: RowOperand = {
    kind: "dense",
    cols: d.coutG,
    stride: d.outC,
    groupOffset: d.coutG,
    ones: false,
  };
  const b: RowOperand = { kind: "patch", d, ones: bias };
  const { m: I, n: J, k: rows } = passProduct(d, "weight", bias);
  const tiles = Math.ceil(I / ti) * Math.ceil(J / tj) * d.groups;
  // llvmpipe runs one workgroup per core at a time: ~32 workgroups balance 2-16 cores.
  const splits = chooseSplits({
    tiles,
    rows,
    target: 256,
    minRows: 128,
    partialFloats: d.groups * I * J,
  });
  const p: PartialShape = { splits, groups: d.groups, rows: I, cols: J, upper: false };
  const spec: OuterSpec = {
    label: `conv_dw_tex_${ti}x${tj}`,
    rows,
    groups: d.groups,
    a,
    b,
    symmetric: false,
    shared: false,
    ti,
    tj,
    splits,
    epilogue: splits > 1 ? partialStoreWgsl(p, 2) : weightFinishWgsl(d, bias, 2) + DIRECT_STORE,
  };
  return { spec, p };
}

/** Texture variant: mirrors of dy and x, outer-product tiles ti × tj, split-K. */
export function weightTex(
  gpu: Gpu,
  d: ConvDims,
  t: WeightGradTensors,
  ti: number,
  tj: number,
  arena?: BufferArena,
): Command[] {
  const bias = t.dbias !== undefined;
  const { spec, p } = weightTexSpec(d, bias, ti, tj);
  const part = p.splits > 1
    ? scratchTensor(gpu, arena, `${t.dw.name}.partials`, p.splits * d.groups * p.rows * p.cols)
    : undefined;
  const dyM = mirrorOf(gpu, t.dy);
  const xM = mirrorOf(gpu, t.x);
  const outs = part ? [part] : bias ? [t.dw, t.dbias!] : [t.dw];
  const cmds: Command[] = [
    dyM.copy,
    xM.copy,
    dispatch(
      gpu,
      spec.label,
      outerWgsl(spec),
      [dyM.tex, xM.tex, ...outs],
      grid2d(Math.ceil(outerInvocations(spec) / 8)),
    ),
  ];
  if (part) cmds.push(finishCommands(gpu, d, t, p, part, "conv_dw_reduce"));
  return cmds;
}

/** The storage-buffer tiled variant's spec and partial shape (pure). */
function weightTiledSpec(d: ConvDims, bias: boolean) {
  const K = d.kpos * d.cinG;
  const { m: I, n: J, k: rows } = passProduct(d, "weight", bias);
  const tiles = Math.ceil(I / 64) * Math.ceil(J / 64) * d.groups;
  // Real GPUs want hundreds of workgroups in flight.
  const splits = chooseSplits({
    tiles,
    rows,
    target: 512,
    minRows: 256,
    partialFloats: d.groups * I * J,
  });
  const p: PartialShape = { splits, groups: d.groups, rows: I, cols: J, upper: false };
  const readers = `@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
${splits > 1 ? partialStoreWgsl(p, 2) : weightFinishWgsl(d, bias, 2) + DIRECT_STORE}
${patchElementWgsl(d, "im2col_at", "x")}
fn lda(g: u32, m: u32, k: u32) -> f32 {
  return dy[k * ${d.outC}u + g * ${d.coutG}u + m];
}
fn ldb(g: u32, k: u32, n: u32) -> f32 {
  if (n >= ${K}u) { return 1.0; }
  return im2col_at(g, k, n);
}`;
  const spec: TiledSpec = {
    label: "conv_dw_tiled",
    m: I,
    n: J,
    k: rows,
    groups: d.groups,
    splits,
    symmetric: false,
    readers,
  };
  return { spec, p };
}

/** Storage-buffer variant: tiled GEMM Dᵀ·[X̃ | 1] with split-K. */
export function weightTiled(
  gpu: Gpu,
  d: ConvDims,
  t: WeightGradTensors,
  arena?: BufferArena,
): Command[] {
  const bias = t.dbias !== undefined;
  const { spec, p } = weightTiledSpec(d, bias);
  const part = p.splits > 1
    ? scratchTensor(gpu, arena, `${t.dw.name}.partials`, p.splits * d.groups * p.rows * p.cols)
    : undefined;
  const outs = part ? [part] : bias ? [t.dw, t.dbias!] : [t.dw];
  const cmds: Command[] = [
    dispatch(gpu, spec.label, tiledWgsl(spec), [t.dy, t.x, ...outs], tiledGrid(spec)),
  ];
  if (part) cmds.push(finishCommands(gpu, d, t, p, part, "conv_dw_reduce"));
  return cmds;
}

/** The WGSL modules `variant` (already validated) compiles for this weight-gradient pass. */
export function weightCodes(gpu: Gpu, d: ConvDims, bias: boolean, variant: string): string[] {
  const tile = gemmTileFor(gpu, variant);
  if (tile) return weightGemmPlan(gpu, d, bias, tile, weightFinishWgsl).steps.map((s) => s.code);
  let main: string;
  let p: PartialShape;
  if (variant === "tiled") {
    const t = weightTiledSpec(d, bias);
    [main, p] = [tiledWgsl(t.spec), t.p];
  } else {
    const [ti, tj] = parseTexTile(variant)!;
    const t = weightTexSpec(d, bias, ti, tj);
    [main, p] = [outerWgsl(t.spec), t.p];
  }
  return p.splits > 1 ? [main, reduceWgsl(p, weightFinishWgsl(d, bias, 1))] : [main];
}

/** Commands of the weight-gradient pass with `variant` (already validated). */
export function weightCommands(
  gpu: Gpu,
  d: ConvDims,
  t: WeightGradTensors,
  variant: string,
  arena?: BufferArena,
): Command[] {
  const tile = gemmTileFor(gpu, variant);
  if (tile) {
    const plan = weightGemmPlan(gpu, d, t.dbias !== undefined, tile, weightFinishWgsl);
    const tensors = { dy: t.dy, x: t.x, dw: t.dw, dbias: t.dbias };
    return recordPlan(gpu, plan, tensors, `${t.dw.name}.partials`, arena);
  }
  if (variant === "tiled") return weightTiled(gpu, d, t, arena);
  const [ti, tj] = parseTexTile(variant)!;
  return weightTex(gpu, d, t, ti, tj, arena);
}
