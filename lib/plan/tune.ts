/**
 * Plan-time tuning: a plan tunes the kernel problems it records when it is
 * built (every distinct problem of the step, the statistics and the roots:
 * whatever the kernel builders asked `chooseVariant`), and is rebuilt only
 * if a choice changed.
 *
 * Modes (`run.tune` of a RunSpec):
 * - `auto`: on a hardware adapter, time uncached problems within
 *   {@link AUTO_TUNE_BUDGET_MS}, reusing the cache; on a software adapter
 *   (`isFallbackAdapter`) time nothing (cached choices still apply).
 * - `exhaustive`: time every valid variant of every problem, on any adapter,
 *   without a budget (cached entries that compared them all are reused).
 * - `off`: the heuristic decides; the cache is neither read nor written.
 *
 * `ADABK_TUNE=0` acts as `off`.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Graph } from "../graph/graph.ts";
import { tuningEnabled } from "../kernels/tune/cache.ts";
import { type KernelChoice, recordChoices } from "../kernels/tune/choose.ts";
import type { TimerFactory } from "../kernels/tune/measure.ts";
import { tuneRequests, type TuneResult, tuneSummary } from "../kernels/tune/tuner.ts";
import { buildPlan, checkAllocated, type Plan, type PlanOptions } from "./plan.ts";

/** How a plan chooses its kernel variants. */
export type TuneMode = "auto" | "off" | "exhaustive";

/** Every mode, for validation and help texts. */
export const TUNE_MODES: readonly TuneMode[] = ["auto", "off", "exhaustive"];

/** The time `auto` may spend timing on a hardware adapter, ms. */
export const AUTO_TUNE_BUDGET_MS = 3000;

/** Options of {@link buildTunedPlan}. */
export interface PlanTuning {
  /** The mode. */
  mode: TuneMode;
  /** Receives the one-line summary when anything was tuned. */
  log?: (line: string) => void;
  /** Time budget, ms (default: {@link AUTO_TUNE_BUDGET_MS} for `auto`, none for `exhaustive`). */
  budgetMs?: number;
  /** Cache file (default `.cache/tune.json`; null: memory only). */
  path?: string | null;
  /** How candidates are measured (tests inject timings). */
  timer?: TimerFactory;
  /** Clock of the budget (tests), ms. */
  now?: () => number;
}

/** A built plan with the story of its kernel choices. */
export interface TunedPlan {
  /** The plan, recorded with the final choices. */
  plan: Plan;
  /** Every choice the final build made (one per kernel builder call). */
  choices: KernelChoice[];
  /** The tuner's decision per distinct problem (empty when nothing was tuned). */
  results: TuneResult[];
  /** The summary line, when tuning ran over at least one problem. */
  summary?: string;
  /** True when the plan was built a second time because a choice changed. */
  rebuilt: boolean;
}

/** Whether `mode` times candidates on `gpu`. */
export function tunesOn(gpu: Gpu, mode: TuneMode): boolean {
  if (mode === "off" || !tuningEnabled()) return false;
  return mode === "exhaustive" || !gpu.adapter.isFallbackAdapter;
}

/**
 * Builds the plan of `graph` under `tuning`: records the kernel choices of a
 * first build, tunes their problems (see the module doc for each mode), and
 * rebuilds (disposing the first plan's buffers) only when the tuner picked a
 * variant the first build did not record.
 */
export async function buildTunedPlan(
  gpu: Gpu,
  graph: Graph,
  opts: PlanOptions,
  tuning: PlanTuning,
): Promise<TunedPlan> {
  const policy = { useCache: tuning.mode !== "off" };
  const build = () => recordChoices(policy, () => buildPlan(gpu, graph, opts));
  let { result: plan, choices } = build();
  await checkAllocated(plan); // out of memory: said before any tuning or training
  if (!tunesOn(gpu, tuning.mode)) return { plan, choices, results: [], rebuilt: false };
  const now = tuning.now ?? (() => performance.now());
  const t0 = now();
  const exhaustive = tuning.mode === "exhaustive";
  const results = await tuneRequests(gpu, choices, {
    exhaustive,
    budgetMs: tuning.budgetMs ?? (exhaustive ? Infinity : AUTO_TUNE_BUDGET_MS),
    path: tuning.path,
    timer: tuning.timer,
    now,
  });
  const summary = results.length > 0 ? tuneSummary(results, now() - t0) : undefined;
  if (summary) tuning.log?.(summary);
  // Only timed or cached decisions are what a rebuild would record.
  const decided = new Map(
    results.filter((r) => r.source === "timed" || r.source === "cached")
      .map((r) => [`${r.family}\u0000${r.key}`, r.variant]),
  );
  const changed = choices.some((c) => {
    const v = decided.get(`${c.family.id}\u0000${c.key}`);
    return v !== undefined && v !== c.variant;
  });
  if (changed) {
    plan.arena.dispose();
    ({ result: plan, choices } = build());
    await checkAllocated(plan);
  }
  return { plan, choices, results, summary, rebuilt: changed };
}
