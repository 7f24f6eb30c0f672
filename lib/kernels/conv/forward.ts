/**
 * Conv2d forward pass builders, one per variant:
 * `y[n, oy, ox, co] = bias[co] + Σ_{ci, ky, kx} x[n, oy·s − p + ky·d, ox·s − p + kx·d, g·Cin_g + ci] · w[co, ci, ky, kx]`
 * (g = group of co; out-of-image taps read zero).
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
import { patchElementWgsl } from "./elements.ts";
import { forwardGemmPlan, recordPlan } from "./gemm_passes.ts";
import { gemmTileFor } from "./gemm_tiles.ts";
import { parseTexTile } from "./variants.ts";

/** Tensors of a forward pass (shapes already checked). */
export interface ForwardTensors {
  /** Input [N, H, W, Cin]. */
  x: Tensor;
  /** Weight [Cout, Cin/g, kh, kw]. */
  w: Tensor;
  /** Optional bias [Cout]. */
  bias?: Tensor;
  /** Output [N, Ho, Wo, Cout]. */
  y: Tensor;
}

/** WGSL body of `src_pos` for the forward gather: the input pixel a tap reads. */
export function forwardSrcPos(d: ConvDims): string {
  return `  let iy = ry * ${d.strideH} - ${d.padH} + ky * ${d.dilationH};
  let ix = rx * ${d.strideW} - ${d.padW} + kx * ${d.dilationW};
  return vec3<i32>(iy, ix, i32(iy >= 0 && iy < ${d.inH} && ix >= 0 && ix < ${d.inW}));`;
}

/** The gather-GEMM spec of the texture forward pass with tile tp × tc. */
export function forwardTexSpec(d: ConvDims, bias: boolean, tp: number, tc: number): GatherGemmSpec {
  return {
    label: `conv_fwd_tex_${tp}x${tc}`,
    batch: d.batch,
    rowsH: d.outH,
    rowsW: d.outW,
    srcH: d.inH,
    srcW: d.inW,
    srcC: d.inC,
    srcCg: d.cinG,
    groups: d.groups,
    kh: d.kh,
    kw: d.kw,
    outC: d.outC,
    outCg: d.coutG,
    srcPos: forwardSrcPos(d),
    b: relayoutShape(d, "forward", tc),
    bias,
    tp,
    tc,
  };
}

/** The row-window spec of the texture forward pass (for Cin/groups not a multiple of 4). */
export function forwardRowsSpec(d: ConvDims, bias: boolean, tp: number, tc: number): RowWindowSpec {
  return {
    ...forwardTexSpec(d, bias, tp, tc),
    label: `conv_fwd_rows_${tp}x${tc}`,
    rowMul: d.strideH,
    rowAdd: -d.padH,
    rowK: d.dilationH,
    colMul: d.strideW,
    colAdd: -d.padW,
    colK: d.dilationW,
  };
}

/**
 * Texture variant: mirror x, relayout w, one gather-GEMM dispatch (the
 * row-window kernel when channels per group are not a multiple of 4).
 */
export function forwardTex(
  gpu: Gpu,
  d: ConvDims,
  t: ForwardTensors,
  tp: number,
  tc: number,
): Command[] {
  const { tex: xt, copy } = mirrorOf(gpu, t.x);
  const rel = relayoutWeight(gpu, d, t.w, "forward", tc);
  const bias = t.bias !== undefined;
  const bindings = t.bias ? [xt, rel.tex, t.y, t.bias] : [xt, rel.tex, t.y];
  if (d.cinG % 4 === 0) {
    const spec = forwardTexSpec(d, bias, tp, tc);
    const wg = Math.ceil(gatherGemmInvocations(spec) / 8);
    return [
      copy,
      ...rel.commands,
      dispatch(gpu, spec.label, gatherGemmWgsl(spec), bindings, grid2d(wg)),
    ];
  }
  const spec = forwardRowsSpec(d, bias, tp, tc);
  const wg = Math.ceil(rowWindowInvocations(spec) / 8);
  return [
    copy,
    ...rel.commands,
    dispatch(gpu, spec.label, rowWindowWgsl(spec), bindings, grid2d(wg)),
  ];
}

/** The tiled-GEMM spec of the storage-buffer forward pass. */
export function forwardTiledSpec(d: ConvDims, bias: boolean): TiledSpec {
  const readers = `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${bias ? "@group(0) @binding(3) var<storage, read> bias: array<f32>;" : ""}
${patchElementWgsl(d, "lda", "x")}
fn ldb(g: u32, k: u32, n: u32) -> f32 {
  return w[((g * ${d.coutG}u + n) * ${d.cinG}u + k % ${d.cinG}u) * ${d.kpos}u + k / ${d.cinG}u];
}
fn store(g: u32, s: u32, i: u32, j: u32, v: f32) {
  let oc = g * ${d.coutG}u + j;
  y[i * ${d.outC}u + oc] = v${bias ? " + bias[oc]" : ""};
}`;
  return {
    label: "conv_fwd_tiled",
    ...passProduct(d, "forward"),
    splits: 1,
    symmetric: false,
    readers,
  };
}

/** Storage-buffer variant: one tiled implicit-GEMM dispatch. */
export function forwardTiled(gpu: Gpu, d: ConvDims, t: ForwardTensors): Command[] {
  const spec = forwardTiledSpec(d, t.bias !== undefined);
  const bindings = t.bias ? [t.x, t.w, t.y, t.bias] : [t.x, t.w, t.y];
  return [dispatch(gpu, spec.label, tiledWgsl(spec), bindings, tiledGrid(spec))];
}

/** The WGSL modules `variant` (already validated) compiles for this forward pass. */
export function forwardCodes(gpu: Gpu, d: ConvDims, bias: boolean, variant: string): string[] {
  const tile = gemmTileFor(gpu, variant);
  if (tile) return forwardGemmPlan(gpu, d, bias, tile).steps.map((s) => s.code);
  if (variant === "tiled") return [tiledWgsl(forwardTiledSpec(d, bias))];
  const [tp, tc] = parseTexTile(variant)!;
  const rel = relayoutWgsl(d, "forward", relayoutShape(d, "forward", tc));
  return [
    rel,
    d.cinG % 4 === 0
      ? gatherGemmWgsl(forwardTexSpec(d, bias, tp, tc))
      : rowWindowWgsl(forwardRowsSpec(d, bias, tp, tc)),
  ];
}

/** Commands of the forward pass with `variant` (already validated). */
export function forwardCommands(
  gpu: Gpu,
  d: ConvDims,
  t: ForwardTensors,
  variant: string,
): Command[] {
  const tile = gemmTileFor(gpu, variant);
  if (tile) {
    const plan = forwardGemmPlan(gpu, d, t.bias !== undefined, tile);
    return recordPlan(gpu, plan, { x: t.x, w: t.w, y: t.y, bias: t.bias }, `${t.y.name}.scratch`);
  }
  if (variant === "tiled") return forwardTiled(gpu, d, t);
  const [tp, tc] = parseTexTile(variant)!;
  return forwardTex(gpu, d, t, tp, tc);
}
