/**
 * Conv2d input-gradient builders, one per variant:
 * `dx[n, iy, ix, ci] = Σ_{co, ky, kx} dy[n, oy, ox, co] · w[co, ci, ky, kx]` over the
 * output pixels with `oy·s − p + ky·d = iy` (and likewise x): a gather, so
 * every dx element is written once (no atomics) and strided convs simply skip
 * taps whose offset the stride does not divide.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import { type ConvDims, passProduct } from "./geometry.ts";
import { mirrorOf } from "./operands.ts";
import { relayoutShape, relayoutWeight, relayoutWgsl } from "./relayout.ts";
import { gatherGemmInvocations, type GatherGemmSpec, gatherGemmWgsl } from "./tex_gather.ts";
import { tiledGrid, type TiledSpec, tiledWgsl } from "./tiled.ts";
import { rowWindowInvocations, type RowWindowSpec, rowWindowWgsl } from "./tex_rows.ts";
import { scatterElementWgsl } from "./elements.ts";
import { inputGemmPlan, recordPlan } from "./gemm_passes.ts";
import { gemmTileFor } from "./gemm_tiles.ts";
import { parseTexTile } from "./variants.ts";

/** Tensors of an input-gradient pass (shapes already checked). */
export interface InputGradTensors {
  /** Output gradient [N, Ho, Wo, Cout]. */
  dy: Tensor;
  /** Weight [Cout, Cin/g, kh, kw]. */
  w: Tensor;
  /** Input gradient [N, H, W, Cin] (overwritten). */
  dx: Tensor;
}

/** WGSL body of `src_pos` for the input gradient: the output pixel a tap comes from. */
export function inputSrcPos(d: ConvDims): string {
  const div = (t: string, s: number) => (s === 1 ? "" : ` && ${t} % ${s} == 0`);
  return `  let ty = ry + ${d.padH} - ky * ${d.dilationH};
  let tx = rx + ${d.padW} - kx * ${d.dilationW};
  let oy = ty / ${d.strideH};
  let ox = tx / ${d.strideW};
  return vec3<i32>(oy, ox, i32(ty >= 0 && tx >= 0${div("ty", d.strideH)}${
    div("tx", d.strideW)
  } && oy < ${d.outH} && ox < ${d.outW}));`;
}

/** The gather-GEMM spec of the texture input-gradient pass with tile tp × tc. */
export function inputTexSpec(d: ConvDims, tp: number, tc: number): GatherGemmSpec {
  return {
    label: `conv_dx_tex_${tp}x${tc}`,
    batch: d.batch,
    rowsH: d.inH,
    rowsW: d.inW,
    srcH: d.outH,
    srcW: d.outW,
    srcC: d.outC,
    srcCg: d.coutG,
    groups: d.groups,
    kh: d.kh,
    kw: d.kw,
    outC: d.inC,
    outCg: d.cinG,
    srcPos: inputSrcPos(d),
    b: relayoutShape(d, "input", tc),
    bias: false,
    tp,
    tc,
  };
}

/**
 * The row-window spec of the texture input-gradient pass: at stride 1 the
 * output pixel a tap comes from is affine in the input pixel
 * (oy = iy + pad − ky·dilation), so neighbouring pixels share a window.
 */
export function inputRowsSpec(d: ConvDims, tp: number, tc: number): RowWindowSpec {
  return {
    ...inputTexSpec(d, tp, tc),
    label: `conv_dx_rows_${tp}x${tc}`,
    rowMul: 1,
    rowAdd: d.padH,
    rowK: -d.dilationH,
    colMul: 1,
    colAdd: d.padW,
    colK: -d.dilationW,
  };
}

/**
 * Texture variant: mirror dy, relayout w, one gather-GEMM dispatch (the
 * row-window kernel at stride 1 when Cout/groups is not a multiple of 4).
 */
export function inputTex(
  gpu: Gpu,
  d: ConvDims,
  t: InputGradTensors,
  tp: number,
  tc: number,
): Command[] {
  const { tex: dyt, copy } = mirrorOf(gpu, t.dy);
  const rel = relayoutWeight(gpu, d, t.w, "input", tc);
  const bindings = [dyt, rel.tex, t.dx];
  if (usesRows(d)) {
    const spec = inputRowsSpec(d, tp, tc);
    const wg = Math.ceil(rowWindowInvocations(spec) / 8);
    return [
      copy,
      ...rel.commands,
      dispatch(gpu, spec.label, rowWindowWgsl(spec), bindings, grid2d(wg)),
    ];
  }
  const spec = inputTexSpec(d, tp, tc);
  const wg = Math.ceil(gatherGemmInvocations(spec) / 8);
  return [
    copy,
    ...rel.commands,
    dispatch(gpu, spec.label, gatherGemmWgsl(spec), bindings, grid2d(wg)),
  ];
}

/** The tiled-GEMM spec of the storage-buffer input-gradient pass. */
export function inputTiledSpec(d: ConvDims): TiledSpec {
  const readers = `@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
${scatterElementWgsl(d, "lda", "dy")}
fn ldb(g: u32, k: u32, n: u32) -> f32 {
  return w[((g * ${d.coutG}u + k % ${d.coutG}u) * ${d.cinG}u + n) * ${d.kpos}u + k / ${d.coutG}u];
}
fn store(g: u32, s: u32, i: u32, j: u32, v: f32) {
  dx[i * ${d.inC}u + g * ${d.cinG}u + j] = v;
}`;
  return {
    label: "conv_dx_tiled",
    ...passProduct(d, "input"),
    splits: 1,
    symmetric: false,
    readers,
  };
}

/** Storage-buffer variant: one tiled implicit-GEMM dispatch. */
export function inputTiled(gpu: Gpu, d: ConvDims, t: InputGradTensors): Command[] {
  const spec = inputTiledSpec(d);
  return [dispatch(gpu, spec.label, tiledWgsl(spec), [t.dy, t.w, t.dx], tiledGrid(spec))];
}

/** True when the texture input gradient takes the row-window kernel. */
function usesRows(d: ConvDims): boolean {
  return d.coutG % 4 !== 0 && d.strideH === 1 && d.strideW === 1;
}

/** The WGSL modules `variant` (already validated) compiles for this input-gradient pass. */
export function inputCodes(gpu: Gpu, d: ConvDims, variant: string): string[] {
  const tile = gemmTileFor(gpu, variant);
  if (tile) return inputGemmPlan(gpu, d, tile).steps.map((s) => s.code);
  if (variant === "tiled") return [tiledWgsl(inputTiledSpec(d))];
  const [tp, tc] = parseTexTile(variant)!;
  const rel = relayoutWgsl(d, "input", relayoutShape(d, "input", tc));
  return [
    rel,
    usesRows(d) ? rowWindowWgsl(inputRowsSpec(d, tp, tc)) : gatherGemmWgsl(inputTexSpec(d, tp, tc)),
  ];
}

/** Commands of the input-gradient pass with `variant` (already validated). */
export function inputCommands(
  gpu: Gpu,
  d: ConvDims,
  t: InputGradTensors,
  variant: string,
): Command[] {
  const tile = gemmTileFor(gpu, variant);
  if (tile) {
    const plan = inputGemmPlan(gpu, d, tile);
    return recordPlan(gpu, plan, { dy: t.dy, w: t.w, dx: t.dx }, `${t.dx.name}.scratch`);
  }
  if (variant === "tiled") return inputTiled(gpu, d, t);
  const [tp, tc] = parseTexTile(variant)!;
  return inputTex(gpu, d, t, tp, tc);
}
