/**
 * Conv variant names, which are valid for a problem on a device, and the
 * untuned choice.
 *
 * - `tex_<a>x<b>`: texture operands, 8-lane workgroups, a×b register tile
 *   per invocation; fastest on software adapters (platform notes §5).
 * - `tiled`: the first storage-buffer kernel, 64×64 workgroup tiles (kept
 *   for comparison; slow on narrow channel counts).
 * - `wg<bm>x<bn>x<bk>_r<tm>x<tn>[_z<ks>]`: the register-tiled implicit GEMM
 *   (gemm.ts) for real GPUs, tiles from gemm_tiles.ts.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type ConvDims, type ConvPass, passProduct } from "./geometry.ts";
import { fitsTexture } from "./operands.ts";
import { relayoutShape } from "./relayout.ts";
import {
  gemmCandidates,
  gemmHeuristic,
  type GemmKind,
  gemmTileFor,
  gemmTileNames,
} from "./gemm_tiles.ts";

/**
 * Register tiles offered by the texture variants, largest first ("rows x
 * columns"). Few on purpose: each is a separate unrolled shader, and big
 * tiles take seconds to compile the first time (Mesa caches them on disk).
 * 16×4 serves passes with few output channels (e.g. Cin = 1 input gradients);
 * 4×16 the row-window forward of tiny reductions (see {@link SMALL_K_TILE}).
 */
const TEX_TILES: readonly (readonly [number, number])[] = [
  [16, 32],
  [16, 16],
  [8, 8],
  [16, 4],
  [4, 16],
  [4, 4],
];

/**
 * The software-adapter forward tile when the reduction is at most 3×3 taps of
 * one channel (Cin = 1 first layers): there each output costs few FMAs, so
 * a small 4-pixel × 16-channel tile beats the 16×16 and 16×32 tiles the
 * generic rule picks (llvmpipe, 128×28×28×1 → 16 / 32, 3×3: 2.8 vs 3.4 ms
 * and 5.8 vs 6.8 ms). At Cin = 3 (27 taps) 16×16 stays faster (5.4 vs 7.0).
 * The generic rule never picks it elsewhere: it was not measured there.
 */
const SMALL_K_TILE = "tex_4x16";

function texFits(gpu: Gpu, d: ConvDims, which: ConvPass, tc: number): boolean {
  const xFloats = d.batch * d.inH * d.inW * d.inC;
  const yFloats = d.batch * d.outH * d.outW * d.outC;
  if (which === "weight") return fitsTexture(gpu, xFloats) && fitsTexture(gpu, yFloats);
  const rel = relayoutShape(d, which, tc);
  const src = which === "forward" ? xFloats : yFloats;
  return fitsTexture(gpu, src) && fitsTexture(gpu, d.groups * rel.rows * rel.cols);
}

/**
 * The narrowest tile width covering `cols4` columns in one tile, if any.
 * The weight gradient streams every pixel's dy row and patch once per
 * column tile, so there one covering tile pays for its padding (llvmpipe,
 * 128×28×28×1 → 16, 3×3: tex_16x16 1.6 ms vs tex_16x4 2.6 ms; → 32:
 * 3.0 vs 5.3; Cin 2 → 16: tex_16x32 2.8 vs 4.3).
 */
function coveringWidth(cols4: number): number | undefined {
  const wide = TEX_TILES.map(([, b]) => b).filter((b) => b >= cols4);
  return wide.length > 0 ? Math.min(...wide) : undefined;
}

/**
 * Texture tiles that make sense for this pass: no tile wider than the
 * padded output, except the weight gradient's covering width.
 */
function texTiles(d: ConvDims, which: ConvPass): (readonly [number, number])[] {
  const { m: rows, n: cols } = passProduct(d, which, true);
  const cols4 = Math.ceil(cols / 4) * 4;
  const cover = which === "weight" ? coveringWidth(cols4) : undefined;
  return TEX_TILES.filter(([a, b]) => {
    if (b > Math.max(4, cols4) && b !== cover) return false;
    // Weight-gradient tiles are over channels: rows are multiples of 4 too.
    if (which === "weight") return a <= Math.max(4, Math.ceil(rows / 4) * 4);
    return a <= Math.max(4, rows);
  });
}

/** The (rows, columns) of a `tex_<a>x<b>` name, or undefined. */
export function parseTexTile(v: string): [number, number] | undefined {
  const m = /^tex_(\d+)x(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function gemmKind(which: ConvPass): GemmKind {
  return which === "weight" ? "weight" : "pixels";
}

function texNames(gpu: Gpu, d: ConvDims, which: ConvPass): string[] {
  return texTiles(d, which)
    .filter(([, tc]) => texFits(gpu, d, which, tc))
    .map(([a, b]) => `tex_${a}x${b}`);
}

/**
 * Names of the variants valid for `which` pass of `d` on this device, the
 * untuned default first. (`wg…` names not listed are still accepted when
 * forced, if they fit the device: every tile computes every problem.)
 */
export function convVariantList(gpu: Gpu, d: ConvDims, which: ConvPass, bias = false): string[] {
  const tex = texNames(gpu, d, which);
  const { m: rows, n: cols } = passProduct(d, which, bias);
  const wg = gemmTileNames(gpu, gemmKind(which), rows, cols);
  const def = convHeuristic(gpu, d, which, bias);
  return [def, ...[...tex, "tiled", ...wg].filter((v) => v !== def)];
}

/** True when `v` is a variant that can run `which` pass of `d` here. */
export function convVariantValid(gpu: Gpu, d: ConvDims, which: ConvPass, v: string): boolean {
  if (v === "tiled") return true;
  if (v.startsWith("wg")) return gemmTileFor(gpu, v) !== undefined;
  return texNames(gpu, d, which).includes(v);
}

/**
 * The untuned choice. Software adapters: a texture tile — among tiles that
 * waste at most 20 % of their columns to padding (all, if none do), the
 * largest, except that the pixel passes step down until there are enough
 * invocations to keep every core busy (the weight gradient gets its
 * parallelism from split-K instead; where one tile covers all its columns
 * it takes that, see {@link coveringWidth}), and the forward of one input
 * channel over at most 3×3 taps takes {@link SMALL_K_TILE}. Hardware: the `wg` tile of least
 * estimated cost (gemm_tiles.ts).
 */
export function convHeuristic(gpu: Gpu, d: ConvDims, which: ConvPass, bias = false): string {
  const { m: rows, n: cols } = passProduct(d, which, bias);
  if (!gpu.adapter.isFallbackAdapter) {
    return gemmHeuristic(gpu, gemmKind(which), rows, cols, d.groups) ?? "tiled";
  }
  const all = texNames(gpu, d, which);
  if (all.length === 0) return "tiled";
  if (which === "forward" && d.cinG === 1 && d.kpos <= 9 && all.includes(SMALL_K_TILE)) {
    return SMALL_K_TILE;
  }
  const generic = all.filter((v) => v !== SMALL_K_TILE);
  const tex = generic.length > 0 ? generic : all;
  const texCols = passProduct(d, which, true).n;
  const efficiency = (v: string) => {
    const [a, b] = parseTexTile(v)!;
    return which === "weight"
      ? (rows * texCols) / (Math.ceil(rows / a) * a * Math.ceil(texCols / b) * b)
      : cols / (Math.ceil(cols / b) * b);
  };
  if (which === "weight") {
    // One column tile where one fits, with the fewest row tiles (then the narrowest).
    const covering = all.map((v) => [v, ...parseTexTile(v)!] as const)
      .filter(([, , b]) => b >= texCols)
      .sort(([, a1, b1], [, a2, b2]) => Math.ceil(rows / a1) - Math.ceil(rows / a2) || b1 - b2);
    if (covering.length > 0) return covering[0][0];
  }
  const lean = tex.filter((v) => efficiency(v) >= 0.8);
  const pool = lean.length > 0 ? lean : tex;
  if (which === "weight") return pool[0];
  for (const v of pool) {
    const [a, b] = parseTexTile(v)!;
    // 16 workgroups of 8 lanes: enough for llvmpipe's threads to balance.
    if (Math.ceil(rows / a) * Math.ceil(cols / b) * d.groups >= 128) return v;
  }
  return pool[pool.length - 1];
}

/**
 * Variants worth timing: on software adapters the texture tiles (storage
 * kernels are ~100× slower there); on hardware a short list of `wg` tiles.
 */
export function convCandidates(gpu: Gpu, d: ConvDims, which: ConvPass, bias = false): string[] {
  if (gpu.adapter.isFallbackAdapter) {
    const tex = texNames(gpu, d, which);
    return tex.length > 0 ? tex : ["tiled"];
  }
  const { m: rows, n: cols } = passProduct(d, which, bias);
  const wg = gemmCandidates(gpu, gemmKind(which), rows, cols, d.groups);
  return wg.length > 0 ? wg : ["tiled"];
}
