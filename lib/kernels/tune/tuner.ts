/**
 * The one autotuner: for each problem of any family, time its candidate
 * variants on this adapter, keep the fastest, remember it in the cache.
 *
 * ```ts
 * await tune(gpu, matmulFamily, [{ m: 512, n: 512, k: 512 }]);
 * matmul(gpu, args); // now records the tuned variant
 * ```
 *
 * Timing (rounds.ts, measure.ts): interleaved rounds, GPU timestamps where
 * the adapter has them, batched submits otherwise, candidates over 4× the
 * leader dropped after calibration, an optional time budget over all
 * problems (the costliest first). `ADABK_TUNE=0` turns tuning off.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import {
  DEFAULT_TUNE_PATH,
  defaultCandidates,
  entryHash,
  lookupEntry,
  tuneCache,
  tuningEnabled,
} from "./cache.ts";
import type { KernelFamily, KernelRequest } from "./family.ts";
import { gpuRoundTimer, type TimerFactory } from "./measure.ts";
import { timeInRounds } from "./rounds.ts";

/** Options of {@link tuneRequests} and {@link tune}. */
export interface TuneOptions {
  /** Cache file; default {@link DEFAULT_TUNE_PATH}; null keeps choices in memory only. */
  path?: string | null;
  /** Re-time problems that already have a current cached choice. */
  retune?: boolean;
  /**
   * Time every valid variant, not only the family's candidates; a cached
   * entry is reused only if it compared them all.
   */
  exhaustive?: boolean;
  /** Variant names to consider (intersected with the valid ones); default: the candidates. */
  candidates?: readonly string[];
  /** Scored rounds per candidate (the fastest counts). Default 4. */
  samples?: number;
  /** Time budget over all problems, ms: no problem starts timing after it. Default: none. */
  budgetMs?: number;
  /** Clock of the budget, ms. Default `performance.now`. */
  now?: () => number;
  /** How candidates are measured. Default: {@link gpuRoundTimer}. */
  timer?: TimerFactory;
  /** Called once per distinct problem with the decision. */
  onResult?: (r: TuneResult) => void;
}

/**
 * Where a decision came from: the cache, a timing now, the only candidate
 * (nothing to compare), or skipped (over budget, nothing measurable): the
 * heuristic stays.
 */
export type TuneSource = "cached" | "timed" | "only" | "skipped";

/** What the tuner decided for one problem. */
export interface TuneResult {
  /** Family id. */
  family: string;
  /** The problem's key. */
  key: string;
  /** The variant to use. */
  variant: string;
  /** Where it came from. */
  source: TuneSource;
  /** Time per run (ms) per candidate (timed now, or when it was cached). */
  timings: Record<string, number>;
}

/** The same problem of the same family once; the costliest first (stable otherwise). */
function distinct(requests: readonly KernelRequest[]): KernelRequest[] {
  const seen = new Map<string, KernelRequest>();
  for (const r of requests) {
    const id = `${r.family.id}\u0000${r.family.key(r.problem)}`;
    if (!seen.has(id)) seen.set(id, r);
  }
  const work = (r: KernelRequest) => r.family.work?.(r.problem) ?? 0;
  return [...seen.values()].map((r, i) => ({ r, i, w: work(r) }))
    .sort((a, b) => b.w - a.w || a.i - b.i).map((x) => x.r);
}

async function tuneOne<P>(
  gpu: Gpu,
  family: KernelFamily<P>,
  p: P,
  opts: TuneOptions,
  deadline: number,
): Promise<TuneResult> {
  const key = family.key(p);
  const valid = family.variants(gpu, p);
  let names = opts.exhaustive ? valid : defaultCandidates(gpu, family, p);
  if (opts.candidates) names = valid.filter((n) => opts.candidates!.includes(n));
  const base = { family: family.id, key };
  const hit = lookupEntry(gpu, family, p, { exhaustive: opts.exhaustive }).entry;
  if (hit && !opts.retune) {
    return { ...base, variant: hit.variant, source: "cached", timings: hit.timings };
  }
  const heuristic = () => family.heuristic(gpu, p);
  if (names.length <= 1) {
    return { ...base, variant: names[0] ?? heuristic(), source: "only", timings: {} };
  }
  const now = opts.now ?? (() => performance.now());
  if (now() >= deadline) return { ...base, variant: heuristic(), source: "skipped", timings: {} };
  let timings: Record<string, number> = {};
  try {
    const timer = await (opts.timer ?? gpuRoundTimer)(gpu, family, p, names);
    try {
      timings = await timeInRounds(names, timer, { samples: opts.samples, deadline, now });
    } finally {
      timer.dispose();
    }
  } catch {
    // Tuning is an optimisation: a failure to time leaves the heuristic. A
    // real device problem resurfaces at the next use of the device.
  }
  const measured = Object.keys(timings);
  if (measured.length === 0) {
    return { ...base, variant: heuristic(), source: "skipped", timings: {} };
  }
  const variant = measured.reduce((x, y) => (timings[y] < timings[x] ? y : x));
  tuneCache.set(gpu.adapter.key, family.id, key, {
    variant,
    ms: timings[variant],
    timings,
    hash: entryHash(gpu, family, p, measured),
    date: new Date().toISOString(),
  });
  return { ...base, variant, source: "timed", timings };
}

/**
 * Decides every distinct problem of `requests` (any families): a current
 * cached choice unless `retune`, else times the candidates and caches the
 * fastest per (adapter, family, problem), then saves the cache file once.
 * Returns one result per distinct problem, in the order they were decided;
 * nothing when `ADABK_TUNE=0`.
 */
export async function tuneRequests(
  gpu: Gpu,
  requests: readonly KernelRequest[],
  opts: TuneOptions = {},
): Promise<TuneResult[]> {
  if (!tuningEnabled()) return [];
  const path = opts.path === undefined ? DEFAULT_TUNE_PATH : opts.path;
  if (path !== null) tuneCache.load(path);
  const now = opts.now ?? (() => performance.now());
  const deadline = now() + (opts.budgetMs ?? Infinity);
  const results: TuneResult[] = [];
  for (const r of distinct(requests)) {
    const result = await tuneOne(gpu, r.family, r.problem, opts, deadline);
    results.push(result);
    opts.onResult?.(result);
  }
  if (path !== null && results.some((r) => r.source === "timed")) tuneCache.save(path);
  return results;
}

/** {@link tuneRequests} for problems of one family. */
export function tune<P>(
  gpu: Gpu,
  family: KernelFamily<P>,
  problems: readonly P[],
  opts: TuneOptions = {},
): Promise<TuneResult[]> {
  return tuneRequests(gpu, problems.map((problem) => ({ family, problem })), opts);
}

/** One line describing a tuning pass, e.g. `tuned 14 problems in 2.1 s (9 cached)`. */
export function tuneSummary(results: readonly TuneResult[], ms: number): string {
  const count = (s: TuneSource) => results.filter((r) => r.source === s).length;
  const notes = [`${count("cached")} cached`];
  if (count("skipped")) notes.push(`${count("skipped")} left to the heuristic`);
  return `tuned ${results.length} problem${results.length === 1 ? "" : "s"} in ${
    (ms / 1000).toFixed(1)
  } s (${notes.join(", ")})`;
}
