/**
 * Conv2d kernels (NHWC activations, PyTorch-order weights): forward, input
 * gradient and weight/bias gradient, each as an implicit GEMM in two
 * variants:
 * - `tex_<a>x<b>`: operands read from rgba32float texture mirrors, 8-lane
 *   workgroups, an a×b register tile per invocation (pixels × channels for
 *   the forward and input passes, output × input channels for the weight
 *   gradient). Fastest on software adapters (llvmpipe), where texture loads
 *   are vectorised and storage loads are not (platform notes §5). Kernels:
 *   tex_gather.ts (a texel of four channels per tap), tex_rows.ts
 *   (channels per group not a multiple of 4: pixels of one row share their
 *   input window), tex_outer.ts (weight gradient, split-K).
 * - `tiled`: storage buffers with 64×64 workgroup-memory tiles, for real
 *   GPUs (tiled.ts); always valid, also where textures would not fit.
 *
 * The default is chosen by adapter (`isFallbackAdapter` → texture) unless
 * `variant` forces one; {@link conv2dVariants} lists the valid names.
 * Builders only record commands: mirrors, relaid weights and split-K scratch
 * are created at build time, so replaying the commands allocates nothing.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import type { Command } from "../../gpu/commands.ts";
import {
  type Conv2dGeometry,
  type ConvDims,
  convDims,
  convShapes,
  expectShape,
} from "./geometry.ts";
import { fitsTexture } from "./operands.ts";
import { relayoutShape } from "./relayout.ts";
import { forwardTex, forwardTiled } from "./forward.ts";
import { inputTex, inputTiled } from "./input.ts";
import { weightTex, weightTiled } from "./weight.ts";

export { type Conv2dGeometry, convOutputSize, validateConv2d } from "./geometry.ts";

/** Which pass a variant list is for. */
export type ConvPass = "forward" | "input" | "weight";

/**
 * Register tiles offered by the texture variants, largest first ("rows x
 * columns"). Few on purpose: each is a separate unrolled shader, and big
 * tiles take seconds to compile the first time (Mesa caches them on disk).
 * 16×4 serves passes with few output channels (e.g. Cin = 1 input gradients).
 */
const TEX_TILES: readonly (readonly [number, number])[] = [
  [16, 32],
  [16, 16],
  [8, 8],
  [16, 4],
  [4, 4],
];

/** Pass sizes the variant choice depends on: GEMM rows, columns, groups. */
function passSizes(d: ConvDims, which: ConvPass): { rows: number; cols: number } {
  if (which === "forward") return { rows: d.batch * d.outH * d.outW, cols: d.coutG };
  if (which === "input") return { rows: d.batch * d.inH * d.inW, cols: d.cinG };
  // Weight gradient: tiles over (Cout_g) × (kh·kw·Cin_g + bias column).
  return { rows: d.coutG, cols: d.kpos * d.cinG + 1 };
}

function texFits(gpu: Gpu, d: ConvDims, which: ConvPass, tc: number): boolean {
  const xFloats = d.batch * d.inH * d.inW * d.inC;
  const yFloats = d.batch * d.outH * d.outW * d.outC;
  if (which === "weight") return fitsTexture(gpu, xFloats) && fitsTexture(gpu, yFloats);
  const rel = relayoutShape(d, which, tc);
  const src = which === "forward" ? xFloats : yFloats;
  return fitsTexture(gpu, src) && fitsTexture(gpu, d.groups * rel.rows * rel.cols);
}

/** Texture tiles that make sense for this pass (no tile wider than the padded output). */
function texTiles(d: ConvDims, which: ConvPass): (readonly [number, number])[] {
  const { rows, cols } = passSizes(d, which);
  const cols4 = Math.ceil(cols / 4) * 4;
  return TEX_TILES.filter(([a, b]) => {
    if (b > Math.max(4, cols4)) return false;
    // Weight-gradient tiles are over channels: rows are multiples of 4 too.
    if (which === "weight") return a <= Math.max(4, Math.ceil(rows / 4) * 4);
    return a <= Math.max(4, rows);
  });
}

/**
 * Names of the variants valid for `which` pass of `geom` on this device,
 * the default first.
 */
export function conv2dVariants(gpu: Gpu, which: ConvPass, geom: Conv2dGeometry): string[] {
  const d = convDims(geom);
  const tex = texTiles(d, which)
    .filter(([, tc]) => texFits(gpu, d, which, tc))
    .map(([a, b]) => `tex_${a}x${b}`);
  const def = defaultVariant(gpu, d, which, tex);
  return [def, ...tex.filter((v) => v !== def), ...(def === "tiled" ? [] : ["tiled"])];
}

/**
 * Default: on fallback adapters a texture tile; elsewhere the tiled variant.
 * Among tiles that waste at most 20 % of their columns to padding (all, if
 * none do), take the largest, except that the pixel passes step down until
 * there are enough invocations to keep every core busy (the weight gradient
 * gets its parallelism from split-K instead).
 */
function defaultVariant(gpu: Gpu, d: ConvDims, which: ConvPass, tex: readonly string[]): string {
  if (!gpu.adapter.isFallbackAdapter || tex.length === 0) return "tiled";
  const { rows, cols } = passSizes(d, which);
  const efficiency = (v: string) => {
    const [a, b] = parseTile(v);
    const used = which === "weight"
      ? (rows * cols) / (Math.ceil(rows / a) * a * Math.ceil(cols / b) * b)
      : cols / (Math.ceil(cols / b) * b);
    return used;
  };
  const lean = tex.filter((v) => efficiency(v) >= 0.8);
  const pool = lean.length > 0 ? lean : tex;
  if (which === "weight") return pool[0];
  for (const v of pool) {
    const [a, b] = parseTile(v);
    // 16 workgroups of 8 lanes: enough for llvmpipe's threads to balance.
    if (Math.ceil(rows / a) * Math.ceil(cols / b) * d.groups >= 128) return v;
  }
  return pool[pool.length - 1];
}

function parseTile(v: string): [number, number] {
  const m = /^tex_(\d+)x(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function pick(gpu: Gpu, d: ConvDims, which: ConvPass, variant: string | undefined): string {
  const valid = conv2dVariants(gpu, which, d);
  if (variant === undefined) return valid[0];
  if (!valid.includes(variant)) {
    throw new RangeError(
      `conv2d ${which}: unknown or unsupported variant "${variant}" (valid here: ${
        valid.join(", ")
      })`,
    );
  }
  return variant;
}

/**
 * Forward pass: `y = conv(x, w) + bias`. Shapes: x [N,H,W,Cin], w
 * [Cout, Cin/groups, kh, kw], bias [Cout] (optional), y [N,Ho,Wo,Cout].
 * `arena` is unused (accepted for symmetry with the other passes).
 */
export function conv2dForward(
  gpu: Gpu,
  a: {
    geom: Conv2dGeometry;
    x: Tensor;
    w: Tensor;
    bias?: Tensor;
    y: Tensor;
    variant?: string;
    arena?: BufferArena;
  },
): Command[] {
  const d = convDims(a.geom);
  const s = convShapes(d);
  expectShape("conv2dForward", "x", a.x, s.x);
  expectShape("conv2dForward", "w", a.w, s.w);
  if (a.bias) expectShape("conv2dForward", "bias", a.bias, s.bias);
  expectShape("conv2dForward", "y", a.y, s.y);
  const v = pick(gpu, d, "forward", a.variant);
  if (v === "tiled") return forwardTiled(gpu, d, a);
  const [tp, tc] = parseTile(v);
  return forwardTex(gpu, d, a, tp, tc);
}

/**
 * Input gradient: `dx = ∂(Σ y·dy)/∂x` for y = conv(x, w). Overwrites dx
 * [N,H,W,Cin]; dy is [N,Ho,Wo,Cout].
 */
export function conv2dBackwardInput(
  gpu: Gpu,
  a: {
    geom: Conv2dGeometry;
    dy: Tensor;
    w: Tensor;
    dx: Tensor;
    variant?: string;
    arena?: BufferArena;
  },
): Command[] {
  const d = convDims(a.geom);
  const s = convShapes(d);
  expectShape("conv2dBackwardInput", "dy", a.dy, s.y);
  expectShape("conv2dBackwardInput", "w", a.w, s.w);
  expectShape("conv2dBackwardInput", "dx", a.dx, s.x);
  const v = pick(gpu, d, "input", a.variant);
  if (v === "tiled") return inputTiled(gpu, d, a);
  const [tp, tc] = parseTile(v);
  return inputTex(gpu, d, a, tp, tc);
}

/**
 * Weight (and bias) gradient: overwrites dw [Cout, Cin/groups, kh, kw] and,
 * when given, dbias [Cout]. Long reductions are split into chunks; their
 * partial sums live in a scratch tensor from `arena` (or the device if none
 * is given) and are added in a fixed order, so results are deterministic.
 */
export function conv2dBackwardWeight(
  gpu: Gpu,
  a: {
    geom: Conv2dGeometry;
    x: Tensor;
    dy: Tensor;
    dw: Tensor;
    dbias?: Tensor;
    variant?: string;
    arena?: BufferArena;
  },
): Command[] {
  const d = convDims(a.geom);
  const s = convShapes(d);
  expectShape("conv2dBackwardWeight", "x", a.x, s.x);
  expectShape("conv2dBackwardWeight", "dy", a.dy, s.y);
  expectShape("conv2dBackwardWeight", "dw", a.dw, s.w);
  if (a.dbias) expectShape("conv2dBackwardWeight", "dbias", a.dbias, s.bias);
  const v = pick(gpu, d, "weight", a.variant);
  if (v === "tiled") return weightTiled(gpu, d, a, a.arena);
  const [ti, tj] = parseTile(v);
  return weightTex(gpu, d, a, ti, tj, a.arena);
}
