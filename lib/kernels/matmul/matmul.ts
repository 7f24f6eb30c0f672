/**
 * Matrix products with a fused epilogue, chosen per adapter.
 *
 * ```ts
 * const cmds = matmul(gpu, { a: x, b: w, out: y, m: 128, n: 256, k: 784, transB: true, bias, activation: "relu" });
 * // every step: encode(enc, cmds)
 * ```
 *
 * `matmul` is synchronous: it takes the variant forced by `args.variant`,
 * else what `chooseVariant` says for the {@link matmulFamily}: the tuned
 * choice cached for this adapter and shape (see `tune` in
 * ../tune/tuner.ts), else a heuristic that already suits the adapter
 * (texture kernels on software adapters, workgroup-memory tiles on GPUs).
 * Texture variants emit the `copyToTexture` commands refreshing their
 * operands' mirrors ahead of the dispatch.
 * @module
 */

import type { Command } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import { explainChoice, tagKernel } from "../tune/choose.ts";
import { matmulFamily } from "./family.ts";
import {
  type MatmulArgs,
  type MatmulProblem,
  problemKey,
  resolveMatmul,
  resolveProblem,
} from "./types.ts";
import { findMatmulVariant, validMatmulVariants } from "./variants.ts";

export type { Activation, MatmulArgs, MatmulProblem } from "./types.ts";
export { ACTIVATIONS, matmulFlops, problemKey } from "./types.ts";
export { MATMUL_VARIANTS } from "./variants.ts";
export { releaseTextureMirrors, textureMirror } from "./mirror.ts";
export { matmulFamily } from "./family.ts";

/** Where a variant choice came from. */
export type MatmulChoiceSource = "forced" | "tuned" | "heuristic";

/** The variant `matmul` would use, and why. */
export interface MatmulChoice {
  /** Variant name. */
  variant: string;
  /** forced by `args.variant`, cached by the autotuner, or the heuristic. */
  source: MatmulChoiceSource;
}

/**
 * Names of the variants valid for this problem on this device (accepts full
 * {@link MatmulArgs} or just the shape).
 */
export function matmulVariants(gpu: Gpu, args: MatmulArgs | MatmulProblem): string[] {
  return validMatmulVariants(gpu, resolveProblem(args, (args as MatmulArgs).label));
}

/**
 * The variant `matmul` would build for `args`. A forced name that is unknown
 * or invalid for the problem throws a RangeError listing the valid ones.
 */
export function matmulChoice(gpu: Gpu, args: MatmulArgs | MatmulProblem): MatmulChoice {
  const label = (args as MatmulArgs).label ?? "matmul";
  const p = resolveProblem(args, label);
  const forced = (args as MatmulArgs).variant;
  if (forced !== undefined) {
    const v = findMatmulVariant(forced);
    if (!v || !v.valid(gpu, p)) {
      throw new RangeError(
        `${label}: variant "${forced}" is not valid for ${p.m}x${p.n}x${p.k}; ` +
          `valid: ${validMatmulVariants(gpu, p).join(", ")}`,
      );
    }
    return { variant: forced, source: "forced" };
  }
  const c = explainChoice(gpu, matmulFamily, shapeOf(p));
  return { variant: c.variant, source: c.tuned ? "tuned" : "heuristic" };
}

/** The shape-only problem of resolved sizes (no tensors: cheap to keep in choice logs). */
function shapeOf(p: MatmulProblem): MatmulProblem {
  const { m, n, k, batch, bBroadcast, transA, transB } = p;
  return { m, n, k, batch, bBroadcast, transA, transB };
}

/**
 * Builds `out = act(alpha·op(a)·op(b) + beta·out + bias)` for every batch.
 * Validates sizes (RangeError naming the tensor and shapes), creates
 * pipelines, bind groups, texture mirrors and scratch now, and returns the
 * commands to replay each step.
 */
export function matmul(gpu: Gpu, args: MatmulArgs): Command[] {
  const r = resolveMatmul(args);
  const { variant, source } = matmulChoice(gpu, args);
  return tagKernel(findMatmulVariant(variant)!.build(gpu, r), {
    family: matmulFamily,
    key: problemKey(r),
    variant,
    tuned: source === "tuned",
  });
}
