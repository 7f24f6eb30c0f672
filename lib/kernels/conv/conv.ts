/**
 * Conv2d kernels (NHWC activations, PyTorch-order weights): forward, input
 * gradient and weight/bias gradient, each as an implicit GEMM in three
 * kinds of variant (variants.ts):
 * - `tex_<a>x<b>`: operands read from rgba32float texture mirrors, 8-lane
 *   workgroups, an a×b register tile per invocation (pixels × channels for
 *   the forward and input passes, output × input channels for the weight
 *   gradient). Fastest on software adapters (llvmpipe), where texture loads
 *   are vectorised and storage loads are not (platform notes §5). Kernels:
 *   tex_gather.ts (a texel of four channels per tap), tex_rows.ts
 *   (channels per group not a multiple of 4: pixels of one row share their
 *   input window), tex_outer.ts (weight gradient, split-K).
 * - `wg<bm>x<bn>x<bk>_r<tm>x<tn>[_z<ks>]`: storage buffers, workgroup tiles
 *   sized to the problem, register tiles, vec4 loads, hoisted im2col
 *   indices, split-K (gemm.ts, gemm_passes.ts): for real GPUs.
 * - `tiled`: the first storage-buffer kernel (64×64 tiles, tiled.ts).
 *
 * Unless `variant` forces one, the builders record what
 * the tuner's `chooseVariant` picks for the pass's family (family.ts): a tuned
 * choice when one is cached for this adapter, else the heuristic (texture on
 * fallback adapters, the cheapest-looking `wg` tile elsewhere).
 * {@link conv2dVariants} lists the valid names. Builders only record
 * commands: mirrors, relaid weights and split-K scratch are created at build
 * time, so replaying the commands allocates nothing.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import type { Command } from "../../gpu/commands.ts";
import {
  type Conv2dGeometry,
  type ConvDims,
  convDims,
  type ConvPass,
  convShapes,
  expectShape,
} from "./geometry.ts";
import { convVariantList } from "./variants.ts";
import { forwardCommands } from "./forward.ts";
import { inputCommands } from "./input.ts";
import { weightCommands } from "./weight.ts";
import { checkConvVariant, convFamily } from "./family.ts";
import { explainChoice, forcedChoice, tagKernel } from "../tune/choose.ts";

export { type Conv2dGeometry, convOutputSize, type ConvPass, validateConv2d } from "./geometry.ts";
export {
  convForwardFamily,
  convInputFamily,
  type ConvProblem,
  convWeightFamily,
} from "./family.ts";

/**
 * Names of the variants valid for `which` pass of `geom` on this device,
 * the untuned default first (`bias`: the pass carries a bias column, which
 * only the weight gradient's tile estimate looks at).
 */
export function conv2dVariants(
  gpu: Gpu,
  which: ConvPass,
  geom: Conv2dGeometry,
  bias = false,
): string[] {
  return convVariantList(gpu, convDims(geom), which, bias);
}

/**
 * Records `which` pass of `d` with the forced `variant` (validated) or the
 * family's choice (tuned or heuristic), tagging the dispatches with it.
 */
function build(
  gpu: Gpu,
  d: ConvDims,
  which: ConvPass,
  variant: string | undefined,
  bias: boolean,
  commands: (variant: string) => Command[],
): Command[] {
  const family = convFamily(which);
  const geom: Conv2dGeometry = {
    batch: d.batch,
    inH: d.inH,
    inW: d.inW,
    inC: d.inC,
    outC: d.outC,
    kh: d.kh,
    kw: d.kw,
    strideH: d.strideH,
    strideW: d.strideW,
    padH: d.padH,
    padW: d.padW,
    dilationH: d.dilationH,
    dilationW: d.dilationW,
    groups: d.groups,
  };
  const problem = { geom, bias: which !== "input" && bias };
  if (variant !== undefined) {
    checkConvVariant(gpu, d, which, variant);
    return tagKernel(commands(variant), forcedChoice(family, problem, variant));
  }
  const choice = explainChoice(gpu, family, problem);
  return tagKernel(commands(choice.variant), choice);
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
  return build(
    gpu,
    d,
    "forward",
    a.variant,
    a.bias !== undefined,
    (v) => forwardCommands(gpu, d, a, v),
  );
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
  return build(gpu, d, "input", a.variant, false, (v) => inputCommands(gpu, d, a, v));
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
  return build(
    gpu,
    d,
    "weight",
    a.variant,
    a.dbias !== undefined,
    (v) => weightCommands(gpu, d, a, v, a.arena),
  );
}
