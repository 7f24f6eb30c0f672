/**
 * How an axis reduction ("M outputs, each combining L inputs") is cut into
 * chunks and mapped onto invocations: the strategies, the untuned plan, and
 * the names, parsing and validity of the `reduce.axis` family's plans.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";

/** Reduction strategy; see reduce.ts's module documentation. */
export type ReduceStrategy = "serial" | "tree";

/**
 * What a caller may force: a strategy (cut up by {@link planReduction}) or
 * one exact plan of the `reduce.axis` family by name (`serial_s<S>`: S
 * chunks; `tree_<TX>x<TY>_s<S>`: TX outputs × TY threads per workgroup, S
 * chunks). Unforced reductions use the family's tuned or untuned choice.
 */
export type ReduceVariant =
  | ReduceStrategy
  | `serial_s${number}`
  | `tree_${number}x${number}_s${number}`;

/** The strategy used when nothing is tuned: serial on software adapters, tree on GPUs. */
export function defaultReduceStrategy(gpu: Gpu): ReduceStrategy {
  return gpu.adapter.isFallbackAdapter ? "serial" : "tree";
}

/** How an axis reduction is cut up and mapped onto invocations. */
export interface ReducePlan {
  /** Strategy. */
  strategy: ReduceStrategy;
  /** Number of chunks along the reduced axis (S > 1 needs a second pass). */
  splits: number;
  /** Inputs per chunk (the last chunk may be shorter). */
  chunk: number;
  /** Tree only: outputs per workgroup. */
  tx: number;
  /** Tree only: threads per output (a power of two). */
  ty: number;
}

/**
 * Loop iterations one invocation may run. llvmpipe (Mesa 22.3) stops every
 * loop of an invocation, silently, once 65535 iterations have run in total
 * (its "loop limiter"); kernels stay below it with a margin.
 */
export const LOOP_BUDGET = 60000;

/** Inputs per iteration of the serial kernel's main loop (unrolled). */
export const SERIAL_UNROLL = 8;

/** Most inputs one serial invocation can combine within {@link LOOP_BUDGET}. */
export const SERIAL_MAX_CHUNK = SERIAL_UNROLL * LOOP_BUDGET;

function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * The untuned number of chunks of the serial strategy: ~1024 invocations
 * keep llvmpipe's threads × 8 lanes busy, and chunks of at least 256 keep the
 * second pass (M·S loads) small against the first.
 */
export function serialSplits(M: number, L: number): number {
  return Math.max(
    Math.min(Math.ceil(1024 / M), Math.ceil(L / 256)),
    Math.ceil(L / SERIAL_MAX_CHUNK),
  );
}

/**
 * The untuned workgroup of the tree strategy: threads along the contiguous
 * index (outputs for "m", inputs for "k") up to a 256-thread workgroup.
 */
export function treeShape(M: number, L: number, contiguous: "k" | "m"): { tx: number; ty: number } {
  if (contiguous === "k") {
    const ty = Math.min(256, Math.max(2, pow2ceil(L)));
    return { tx: Math.min(256 / ty, pow2ceil(M)), ty };
  }
  const tx = Math.min(64, pow2ceil(M));
  return { tx, ty: Math.max(2, Math.min(256 / tx, pow2ceil(L))) };
}

/**
 * The untuned number of chunks of a tree workgroup TX × TY: ~512 workgroups
 * fill a large GPU, and each thread should see at least 8 inputs.
 */
export function treeSplits(M: number, L: number, tx: number, ty: number): number {
  const blocks = Math.ceil(M / tx);
  const splits = Math.min(Math.ceil(512 / blocks), Math.ceil(L / (ty * 8)));
  return Math.max(splits, Math.ceil(L / (ty * LOOP_BUDGET)));
}

/** The plan of `strategy` with S chunks over L inputs (S clamped to [1, L] and made canonical). */
export function planWithSplits(
  strategy: ReduceStrategy,
  L: number,
  splits: number,
  tx = 1,
  ty = 1,
): ReducePlan {
  const chunk = Math.ceil(L / Math.max(1, Math.min(L, Math.round(splits))));
  return { strategy, splits: Math.ceil(L / chunk), chunk, tx, ty };
}

/**
 * The untuned plan of M outputs of L inputs each. `contiguous` says which
 * index moves through memory with stride 1 ("k": rows / whole tensor, "m":
 * columns). `allowSplit` false forces one chunk.
 */
export function planReduction(
  strategy: ReduceStrategy,
  M: number,
  L: number,
  contiguous: "k" | "m",
  allowSplit: boolean,
): ReducePlan {
  // llvmpipe's loop limiter: a serial invocation may cover at most this many inputs.
  if (strategy === "serial" && !allowSplit && L > SERIAL_MAX_CHUNK) strategy = "tree";
  if (strategy === "serial") {
    return planWithSplits("serial", L, allowSplit ? serialSplits(M, L) : 1);
  }
  const { tx, ty } = treeShape(M, L, contiguous);
  return planWithSplits("tree", L, allowSplit ? treeSplits(M, L, tx, ty) : 1, tx, ty);
}

/** The name of a plan in the `reduce.axis` family (see {@link ReduceVariant}). */
export function reducePlanName(plan: ReducePlan): ReduceVariant {
  return plan.strategy === "serial"
    ? `serial_s${plan.splits}`
    : `tree_${plan.tx}x${plan.ty}_s${plan.splits}`;
}

const PLAN_NAME = /^(?:serial|tree_([1-9][0-9]*)x([1-9][0-9]*))_s([1-9][0-9]*)$/;

/**
 * The plan a name stands for over L inputs per output, or undefined when the
 * name is malformed or not canonical (S chunks that L cannot be cut into:
 * every plan has exactly one name).
 */
export function parseReducePlan(name: string, L: number): ReducePlan | undefined {
  const m = PLAN_NAME.exec(name);
  if (!m) return undefined;
  const splits = Number(m[3]);
  const chunk = Math.ceil(L / splits);
  if (splits > L || Math.ceil(L / chunk) !== splits) return undefined;
  return m[1] === undefined
    ? { strategy: "serial", splits, chunk, tx: 1, ty: 1 }
    : { strategy: "tree", splits, chunk, tx: Number(m[1]), ty: Number(m[2]) };
}

/**
 * The plan of the pass that combines the S chunk results of `plan` (S > 1)
 * for each of M outputs: the same strategy over S inputs, in one chunk.
 */
export function combinePlan(plan: ReducePlan, M: number): ReducePlan {
  return planReduction(plan.strategy, M, plan.splits, "m", false);
}

/** Whether one pass of `plan` fits: loop budget and workgroup shape. */
function passValid(plan: ReducePlan, M: number, L: number): boolean {
  const { splits, chunk, tx, ty } = plan;
  if (!(splits >= 1 && splits <= L && chunk * splits >= L && M >= 1)) return false;
  if (plan.strategy === "serial") return chunk <= SERIAL_MAX_CHUNK;
  const pow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
  return pow2(tx) && pow2(ty) && ty >= 2 && tx * ty <= 256 && Math.ceil(chunk / ty) <= LOOP_BUDGET;
}

/**
 * Whether `plan` can run M outputs of L inputs: within llvmpipe's loop
 * budget, a tree workgroup of powers of two within WebGPU's guaranteed 256
 * invocations (at least 2 threads per output: the tree halves them), and a
 * combining pass ({@link combinePlan}) that fits as well.
 */
export function reducePlanValid(plan: ReducePlan, M: number, L: number): boolean {
  if (!passValid(plan, M, L)) return false;
  return plan.splits === 1 || passValid(combinePlan(plan, M), M, plan.splits);
}
