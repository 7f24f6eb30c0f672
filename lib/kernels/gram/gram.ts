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
 * Variants (plan.ts): `tex_<t>x<t>` (texture operands, llvmpipe), `wg…`
 * (register-tiled implicit GEMM, real GPUs) and `tiled`. Unless `variant`
 * forces one, the builders record what the tuner's `chooseVariant` picks for the
 * `gram.dense` / `gram.patch` family (family.ts).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import type { Command } from "../../gpu/commands.ts";
import type { Conv2dGeometry } from "../conv/geometry.ts";
import { explainChoice, forcedChoice, tagKernel } from "../tune/choose.ts";
import type { KernelFamily } from "../tune/family.ts";
import {
  checkDenseTensors,
  checkPatchTensors,
  denseShape,
  type GramShape,
  patchShape,
} from "./problem.ts";
import { gramPlan, gramVariantList, gramVariantValid, recordGram } from "./plan.ts";
import { gramDenseFamily, gramPatchFamily } from "./family.ts";

export { gramDenseFamily, gramPatchFamily } from "./family.ts";
export type { GramDenseProblem, GramPatchProblem } from "./problem.ts";

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

/** Variant names for {@link gramDense} (`kind: "dense"`) or {@link gramConvPatches}. */
export function gramVariants(
  gpu: Gpu,
  a:
    | (GramArgs & { kind: "dense"; x: Tensor; rows: number; cols: number })
    | (GramArgs & { kind: "patches"; geom: Conv2dGeometry; x: Tensor }),
): string[] {
  const appendOnes = a.appendOnes ?? false;
  if (a.kind === "dense") {
    const s = denseShape({ rows: a.rows, cols: a.cols, appendOnes });
    checkDenseTensors(s, a.x, a.out, a.rows, a.cols);
    return gramVariantList(gpu, s);
  }
  const s = patchShape({ geom: a.geom, appendOnes });
  checkPatchTensors(s, a.x, a.out);
  return gramVariantList(gpu, s);
}

function build<P>(
  gpu: Gpu,
  s: GramShape,
  a: GramArgs & { x: Tensor },
  family: KernelFamily<P>,
  p: P,
): Command[] {
  const forced = a.variant;
  if (forced !== undefined && !gramVariantValid(gpu, s, forced)) {
    throw new RangeError(
      `${s.what}: unknown or unsupported variant "${forced}" (valid here: ${
        gramVariantList(gpu, s).join(", ")
      })`,
    );
  }
  const choice = forced === undefined
    ? explainChoice(gpu, family, p)
    : forcedChoice(family, p, forced);
  const plan = gramPlan(gpu, s, choice.variant, { scale: a.scale, ema: a.ema });
  return tagKernel(recordGram(gpu, plan, a.x, a.out, a.arena), choice);
}

/**
 * Gram matrix of a dense [rows, cols] matrix `x` (any tensor of rows·cols
 * values, read row-major): out = scale·XᵀX (or its EMA), [d', d'].
 */
export function gramDense(
  gpu: Gpu,
  a: GramArgs & { x: Tensor; rows: number; cols: number },
): Command[] {
  const p = { rows: a.rows, cols: a.cols, appendOnes: a.appendOnes ?? false };
  const s = denseShape(p);
  checkDenseTensors(s, a.x, a.out, a.rows, a.cols);
  return build(gpu, s, a, gramDenseFamily, p);
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
  const p = { geom: a.geom, appendOnes: a.appendOnes ?? false };
  const s = patchShape(p);
  checkPatchTensors(s, a.x, a.out);
  return build(gpu, s, a, gramPatchFamily, p);
}
