/**
 * The `reduce.axis` kernel family (lib/kernels/tune/family.ts) and the
 * builder every reduction goes through: batch-norm statistics and gradient
 * sums, bias gradients, the loss and gradient-norm totals.
 *
 * A problem is the reduction's shape (M outputs of L inputs, which index is
 * contiguous, the combine rule, how many full-size input streams one input
 * reads, whether scratch for a split exists); a variant is an exact plan
 * (axis_plan.ts): strategy, workgroup shape and number of chunks, so the
 * tuner can also pick one dispatch over partial + combine where that wins.
 * The untuned choice is the plan the strategy's rules give on this adapter.
 * @module
 */

import type { Command } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import { type BufferArena, numel, type Tensor } from "../../gpu/tensor.ts";
import type { KernelFamily } from "../tune/family.ts";
import { buildChosen, forcedChoice, tagKernel } from "../tune/choose.ts";
import { scratchTensor } from "../tune/measure.ts";
import {
  type AxisCombine,
  axisCommands,
  type AxisPass,
  axisPassWgsl,
  partialShape,
  planPasses,
} from "./axis.ts";
import {
  defaultReduceStrategy,
  LOOP_BUDGET,
  parseReducePlan,
  planReduction,
  planWithSplits,
  type ReducePlan,
  reducePlanName,
  reducePlanValid,
  type ReduceVariant,
  serialSplits,
  treeShape,
  treeSplits,
} from "./axis_plan.ts";

/** A reduction's shape: what the choice of plan depends on. */
export interface AxisReduceProblem {
  /** Outputs. */
  readonly M: number;
  /** Inputs per output. */
  readonly L: number;
  /** Which index moves through memory with stride 1. */
  readonly contiguous: "k" | "m";
  /** Combine rule of the inputs (not `welford_states`: that is a combining pass). */
  readonly combine: Exclude<AxisCombine, "welford_states">;
  /** Accumulator width (2 only for sums). */
  readonly width: 1 | 2;
  /** Full-size inputs (M·L values each) one input reads: the memory traffic. */
  readonly streams: number;
  /** Whether scratch for a split exists (without it only one chunk is possible). */
  readonly split: boolean;
}

/** The problem of `pass` (a split needs `arena`). */
export function axisProblem(
  pass: AxisPass,
  contiguous: "k" | "m",
  split: boolean,
): AxisReduceProblem {
  if (pass.combine === "welford_states") {
    throw new RangeError(`${pass.label}: "welford_states" only combines the chunks of a split`);
  }
  const full = pass.inputs.filter((o) => o.tensor.size >= pass.M * pass.L).length;
  return {
    M: pass.M,
    L: pass.L,
    contiguous,
    combine: pass.combine,
    width: pass.width,
    streams: Math.max(1, full),
    split,
  };
}

/**
 * The plan `variant` names for `p`: the untuned plan, or any valid plan
 * (forced ones need not be among the tuner's candidates).
 */
function plan(gpu: Gpu, p: AxisReduceProblem, variant: string): ReducePlan {
  const untuned = heuristicPlan(gpu, p);
  if (variant === reducePlanName(untuned)) return untuned;
  const pl = parseReducePlan(variant, p.L);
  if (!pl || !reducePlanValid(pl, p.M, p.L) || (pl.splits > 1 && !p.split)) {
    throw new RangeError(
      `reduction of ${p.M} outputs × ${p.L} inputs${p.split ? "" : " without scratch"}: ` +
        `unknown or unsupported variant "${variant}" (untuned: ${
          reducePlanName(untuned)
        }; tuned among: ${reduceAxisFamily.variants(gpu, p).join(", ")})`,
    );
  }
  return pl;
}

/** The untuned plan of `p` on this adapter. */
function heuristicPlan(gpu: Gpu, p: AxisReduceProblem): ReducePlan {
  return planReduction(defaultReduceStrategy(gpu), p.M, p.L, p.contiguous, p.split);
}

/**
 * The untuned plan's name (always offered: it is what runs when nothing is
 * tuned), then the valid, distinct names among `plans`.
 */
function listed(gpu: Gpu, p: AxisReduceProblem, plans: ReducePlan[]): string[] {
  const out = new Set([reducePlanName(heuristicPlan(gpu, p))]);
  for (const pl of plans) {
    if ((pl.splits === 1 || p.split) && reducePlanValid(pl, p.M, p.L)) out.add(reducePlanName(pl));
  }
  return [...out];
}

/** Serial plans around the untuned chunk count: ¼× to 4×, and one chunk. */
function serialPlans(p: AxisReduceProblem): ReducePlan[] {
  const s = serialSplits(p.M, p.L);
  return [s, s / 2, s / 4, 2 * s, 4 * s, 1].map((n) => planWithSplits("serial", p.L, n));
}

/**
 * Tree plans: the untuned workgroup and its neighbours (half or twice the
 * threads per output, half the threads), each with one chunk, the untuned
 * chunk count, and a quarter or four times it.
 */
function treePlans(p: AxisReduceProblem): ReducePlan[] {
  const { tx, ty } = treeShape(p.M, p.L, p.contiguous);
  const shapes = [[tx, ty], [tx / 2, ty * 2], [tx * 2, ty / 2], [tx, ty / 2]];
  return shapes.flatMap(([x, y]) => {
    const s = treeSplits(p.M, p.L, x, y);
    return [1, s / 4, s, 4 * s].map((n) => planWithSplits("tree", p.L, n, x, y));
  });
}

/** Placeholder tensors for WGSL only: bindings need distinct buffers; no device touched. */
function placeholder(name: string, shape: number[]): Tensor {
  return { buffer: {} as GPUBuffer, offset: 0, shape, size: numel(shape), name };
}

/**
 * A reduction of `p`'s shape over `inputs` (one per stream) into `out` [M]:
 * the streams summed per input, a second sum of squares at width 2, and a
 * store that uses every part of the accumulator, so nothing is optimised away.
 */
function syntheticPass(p: AxisReduceProblem, inputs: Tensor[], out: Tensor): AxisPass {
  const idx = p.contiguous === "m" ? `k * ${p.M}u + m` : `m * ${p.L}u + k`;
  return {
    label: "tune_reduce",
    M: p.M,
    L: p.L,
    width: p.width,
    combine: p.combine,
    inputs: inputs.map((tensor, i) => ({ name: `x${i}`, tensor })),
    outputs: [{ name: "out", tensor: out, write: true }],
    load(n) {
      const v = inputs.map((_, i) => `${n[`x${i}`]}[${idx}]`);
      return p.width === 2
        ? `vec2<f32>(${v.join(" + ")}, ${v[0]} * ${v[0]})`
        : `(${v.join(" + ")})`;
    },
    store: (n) =>
      `  ${n.out}[m] = ${
        p.combine === "welford" ? "acc.y + acc.z" : p.width === 2 ? "acc.x + acc.y" : "acc"
      };`,
  };
}

/** The reduction kernel family: which plan cuts a reduction of this shape. */
export const reduceAxisFamily: KernelFamily<AxisReduceProblem> = {
  id: "reduce.axis",
  key: (p) =>
    `${p.M}x${p.L} ${p.contiguous} ${p.combine}${p.width === 2 ? "2" : ""} in${p.streams}` +
    (p.split ? "" : " nosplit"),
  variants: (gpu, p) => listed(gpu, p, [...serialPlans(p), ...treePlans(p)]),
  heuristic: (gpu, p) => reducePlanName(heuristicPlan(gpu, p)),
  // Workgroup memory and barriers are ~100× slow on software adapters: serial plans only there.
  candidates: (gpu, p) =>
    listed(
      gpu,
      p,
      gpu.adapter.isFallbackAdapter ? serialPlans(p) : [...treePlans(p), ...serialPlans(p)],
    ),
  work: (p) => 2 * p.M * p.L * p.streams,
  wgsl(gpu, p, variant) {
    const pl = plan(gpu, p, variant);
    const ins = Array.from({ length: p.streams }, (_, i) => placeholder(`x${i}`, [p.M * p.L]));
    const pass = syntheticPass(p, ins, placeholder("out", [p.M]));
    const partial = placeholder("partial", partialShape(pass, pl.splits));
    return planPasses(pass, pl, pl.splits > 1 ? partial : undefined).map((s) =>
      axisPassWgsl(s.pass, s.plan).code
    );
  },
  benchCommands(gpu, p, variant, arena) {
    const pl = plan(gpu, p, variant);
    const ins = Array.from(
      { length: p.streams },
      (_, i) => scratchTensor(gpu, arena, `reduce.x${i}`, [p.M * p.L]),
    );
    const pass = syntheticPass(p, ins, arena.tensor("tune.out", [p.M]));
    return axisCommands(gpu, pass, pl, arena);
  },
};

/** Options shared by the reduction builders. */
export interface AxisReduceOptions {
  /** Force a strategy or an exact plan (default: the `reduce.axis` family's choice). */
  variant?: ReduceVariant;
  /** Scratch for the two-pass split; without it the reduction runs in one pass (or throws if `requireSplit`). */
  arena?: BufferArena;
  /** Which index is contiguous in memory (shapes tree workgroups). */
  contiguous: "k" | "m";
  /** Throw instead of running in one pass when the untuned plan splits but no arena is given. */
  requireSplit?: boolean;
}

/**
 * Builds a reduction under the tuned or untuned plan of its shape (or the
 * forced one): one pass when the plan has one chunk, else a partial pass
 * into arena scratch and a combining pass. The final `store` sees the fully
 * combined `acc`. Dispatches are tagged with the choice (`inspect`, profile).
 */
export function axisReduce(gpu: Gpu, pass: AxisPass, opts: AxisReduceOptions): Command[] {
  const p = axisProblem(pass, opts.contiguous, opts.arena !== undefined);
  const v = opts.variant;
  const forced = v === "serial" || v === "tree" ? v : undefined;
  if (!opts.arena && opts.requireSplit) {
    const strategy = forced ?? defaultReduceStrategy(gpu);
    if (planReduction(strategy, p.M, p.L, p.contiguous, true).splits > 1) {
      throw new RangeError(
        `${pass.label}: reducing ${p.M} outputs of ${p.L} values needs a scratch arena ` +
          "(pass `arena`) for its two-pass split",
      );
    }
  }
  const build = (pl: ReducePlan) => {
    // The untuned plan of one pass (no scratch) can exceed the loop budget:
    // llvmpipe would stop its loop early and store a partial result, silently.
    if (!reducePlanValid(pl, p.M, p.L)) {
      throw new RangeError(
        `${pass.label}: reducing ${p.M} outputs of ${p.L} values as ${reducePlanName(pl)} ` +
          `needs more than ${LOOP_BUDGET} loop iterations per invocation (llvmpipe's loop limiter)` +
          (p.split ? "" : "; pass a scratch arena (`arena`) for a two-pass split"),
      );
    }
    return axisCommands(gpu, pass, pl, opts.arena);
  };
  if (v === undefined) {
    return buildChosen(gpu, reduceAxisFamily, p, (name) => build(plan(gpu, p, name)));
  }
  const pl = forced ? planReduction(forced, p.M, p.L, p.contiguous, p.split) : plan(gpu, p, v);
  return tagKernel(build(pl), forcedChoice(reduceAxisFamily, p, reducePlanName(pl)));
}
