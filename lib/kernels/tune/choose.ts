/**
 * Which variant a kernel builder records for a problem, and the log of every
 * choice made while a plan is built (what plan-time tuning tunes).
 * @module
 */

import type { Command } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import { DEFAULT_TUNE_PATH, tuneCache, tuningEnabled, usableEntry } from "./cache.ts";
import type { KernelFamily, KernelRequest } from "./family.ts";

/** One choice a kernel builder made: the problem, the variant, and where it came from. */
export interface KernelChoice<P = unknown> extends KernelRequest<P> {
  /** The family's key of the problem. */
  readonly key: string;
  /** The variant recorded. */
  readonly variant: string;
  /** True when it came from a current tuning-cache entry, false for the heuristic. */
  readonly tuned: boolean;
}

/** How choices are made inside a {@link recordChoices} scope. */
export interface ChoicePolicy {
  /** Consult the tuning cache (false: the heuristic decides, as with `run.tune: off`). */
  useCache: boolean;
}

interface Scope {
  readonly policy: ChoicePolicy;
  readonly choices: KernelChoice[];
}

const scopes: Scope[] = [];

/**
 * Runs `build` (synchronous: plan building is) while recording every choice
 * {@link chooseVariant} makes, under `policy`. Scopes nest: the innermost
 * policy applies and every open scope records.
 */
export function recordChoices<T>(
  policy: ChoicePolicy,
  build: () => T,
): { result: T; choices: KernelChoice[] } {
  const scope: Scope = { policy, choices: [] };
  scopes.push(scope);
  try {
    return { result: build(), choices: scope.choices };
  } finally {
    scopes.splice(scopes.lastIndexOf(scope), 1);
  }
}

/**
 * The variant to record for `p` and whether it was tuned: the cached choice
 * when one exists for this adapter and is current (see cache.ts), unless
 * tuning is disabled (`ADABK_TUNE=0`) or the current {@link recordChoices}
 * scope ignores the cache; else the family's heuristic. Loads the default
 * cache file on first use, and records the choice in every open scope.
 */
export function explainChoice<P>(
  gpu: Gpu,
  family: KernelFamily<P>,
  p: P,
): KernelChoice<P> {
  const useCache = (scopes.at(-1)?.policy.useCache ?? true) && tuningEnabled();
  let entry;
  if (useCache) {
    tuneCache.load(DEFAULT_TUNE_PATH);
    entry = usableEntry(gpu, family, p);
  }
  const choice: KernelChoice<P> = {
    family,
    problem: p,
    key: family.key(p),
    variant: entry?.variant ?? family.heuristic(gpu, p),
    tuned: entry !== undefined,
  };
  for (const s of scopes) s.choices.push(choice as KernelChoice);
  return choice;
}

/**
 * The choice of a caller that names `variant` itself (tests, benches): not
 * tuned, and not recorded for plan-time tuning (nothing is left to choose).
 */
export function forcedChoice<P>(family: KernelFamily<P>, p: P, variant: string): KernelChoice<P> {
  return { family, problem: p, key: family.key(p), variant, tuned: false };
}

/** The variant to record for `p` (see {@link explainChoice}). */
export function chooseVariant<P>(gpu: Gpu, family: KernelFamily<P>, p: P): string {
  return explainChoice(gpu, family, p).variant;
}

/**
 * Marks the dispatches of `commands` as recorded by `choice` (family,
 * variant, problem key), so `inspect` and the profiler can name them.
 * Returns new command objects; non-dispatch commands pass through.
 */
export function tagKernel(
  commands: readonly Command[],
  choice: { family: { id: string }; key: string; variant: string; tuned: boolean },
): Command[] {
  const kernel = {
    family: choice.family.id,
    variant: choice.variant,
    problem: choice.key,
    tuned: choice.tuned,
  };
  return commands.map((c) => (c.kind === "dispatch" ? { ...c, kernel } : c));
}

/**
 * The usual entry point of a family's kernel builder: chooses the variant
 * for `p` (see {@link explainChoice}), builds it with `build`, and tags the
 * dispatches with the choice.
 *
 * ```ts
 * return buildChosen(gpu, convForwardFamily, problem, (v) => VARIANTS[v].build(gpu, args));
 * ```
 */
export function buildChosen<P>(
  gpu: Gpu,
  family: KernelFamily<P>,
  p: P,
  build: (variant: string) => Command[],
): Command[] {
  const choice = explainChoice(gpu, family, p);
  return tagKernel(build(choice.variant), choice);
}
