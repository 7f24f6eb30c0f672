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

/** Tuning passes at most (a pass tunes the problems a rebuild brought in). */
const MAX_TUNE_PASSES = 3;

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
 * variant the first build did not record; problems that first appear in a
 * rebuild are tuned in turn (up to {@link MAX_TUNE_PASSES} passes).
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
  try {
    await checkAllocated(plan); // out of memory: said before any tuning or training
    if (!tunesOn(gpu, tuning.mode)) return { plan, choices, results: [], rebuilt: false };
    const now = tuning.now ?? (() => performance.now());
    const t0 = now();
    const exhaustive = tuning.mode === "exhaustive";
    const budgetMs = tuning.budgetMs ?? (exhaustive ? Infinity : AUTO_TUNE_BUDGET_MS);
    const id = (family: string, key: string) => `${family}\u0000${key}`;
    const results: TuneResult[] = [];
    let rebuilt = false;
    // A choice can bring new problems with it (a root-chain variant records
    // different matrix products), so a rebuild's new problems are tuned too:
    // a few passes at most, each problem decided once, one budget for all.
    for (let pass = 0; pass < MAX_TUNE_PASSES; pass++) {
      const seen = new Set(results.map((r) => id(r.family, r.key)));
      const fresh = choices.filter((c) => !seen.has(id(c.family.id, c.key)));
      if (fresh.length === 0) break;
      results.push(
        ...await tuneRequests(gpu, fresh, {
          exhaustive,
          budgetMs: Math.max(0, budgetMs - (now() - t0)),
          path: tuning.path,
          timer: tuning.timer,
          now,
        }),
      );
      // Only timed or cached decisions are what a rebuild would record.
      const decided = new Map(
        results.filter((r) => r.source === "timed" || r.source === "cached")
          .map((r) => [id(r.family, r.key), r.variant]),
      );
      const changed = choices.some((c) => {
        const v = decided.get(id(c.family.id, c.key));
        return v !== undefined && v !== c.variant;
      });
      if (!changed) break;
      plan.arena.dispose();
      ({ result: plan, choices } = build());
      await checkAllocated(plan);
      rebuilt = true;
    }
    const summary = results.length > 0 ? tuneSummary(results, now() - t0) : undefined;
    if (summary) tuning.log?.(summary);
    return { plan, choices, results, summary, rebuilt };
  } catch (e) {
    // Out of memory, a lost device or a failed tuning: the plan in hand gives its buffers back.
    plan.arena.dispose();
    throw e;
  }
}
