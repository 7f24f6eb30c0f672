/**
 * The small pieces every part of the run-spec schema is made of: numeric
 * field types, the cross-field-check guard, and the helper the builders use
 * to keep their output deep-equal to a YAML file's.
 * @module
 */
import { z } from "zod";

/** Integer ≥ 1 (sizes, counts). */
export const posInt = z.int().min(1);
/** Integer ≥ 0 (paddings, offsets). */
export const nonNegInt = z.int().min(0);
/** Finite number > 0 (learning rates, epsilons). */
export const posNum = z.number().gt(0);
/** Finite number ≥ 0 (weight decay). */
export const nonNegNum = z.number().min(0);
/** A probability-like fraction in [0, 1). */
export const fraction = z.number().min(0).lt(1);

/** An integer ≥ 1, or a pair [h, w] of them. */
export const posIntOrPair = z.union([posInt, z.tuple([posInt, posInt])], {
  error: "expected a positive integer or a list [h, w] of positive integers",
});
/** An integer ≥ 0, or a pair [h, w] of them. */
export const nonNegIntOrPair = z.union([nonNegInt, z.tuple([nonNegInt, nonNegInt])], {
  error: "expected a non-negative integer or a list [h, w] of non-negative integers",
});

/**
 * True when nothing inside the value being refined failed. zod v4 runs an
 * object's refinements even when its fields are invalid, so cross-field
 * checks ask this first instead of reasoning about garbage.
 */
export function clean(ctx: { issues: readonly unknown[] }): boolean {
  return ctx.issues.length === 0;
}

/** `[a, b]` → `[a, b]`, `a` → `[a, a]`. */
export function pair(v: number | readonly number[]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

/**
 * Spreads `opts` without copying `undefined` members, so a builder's output
 * is deep-equal to the same spec read from YAML.
 */
export function defined<T extends object>(opts: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(opts ?? {})) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
