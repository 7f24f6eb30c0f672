/**
 * What a resumed run may change. A run resumes with the spec it recorded
 * (`spec.json`); a model file or `--set` given with `--resume` may change it,
 * field by field, and every change is reported. Changes to what defines the
 * trained network and its data are refused: the model (the checkpoint's
 * tensors would not fit, or would mean something else), the dataset, its
 * validation split and batch size, the seed (shuffling and the validation
 * samples), and the optimizer (its state tensors). The rest (schedule and run
 * length, learning rate and other optimizer settings, logging, evaluation
 * cadence, augmentation) is applied from the resumed step on.
 * @module
 */

import { formatPath } from "./errors.ts";

/** One field that differs. */
export interface SpecChange {
  /** Path segments from the root. */
  path: (string | number)[];
  /** The recorded value (undefined: absent). */
  from: unknown;
  /** The new value (undefined: absent). */
  to: unknown;
}

/** Paths (and everything below them) that a resumed run must keep. */
export const FIXED_ON_RESUME: readonly (readonly string[])[] = [
  ["model"],
  ["data", "dataset"],
  ["data", "path"],
  ["data", "synthetic"],
  ["data", "batch_size"],
  ["data", "validation_split"],
  ["optimizer", "name"],
  ["run", "seed"],
];

/** Paths not compared: where the run directory is is not part of the run. */
const IGNORED: readonly (readonly string[])[] = [["run", "out_dir"]];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function under(path: readonly (string | number)[], prefixes: readonly (readonly string[])[]) {
  return prefixes.some((p) => p.every((seg, i) => path[i] === seg));
}

/**
 * The leaves where `to` differs from `from` (plain JSON values: objects by
 * key, arrays by index); a subtree present on one side only is one change.
 */
export function specChanges(from: unknown, to: unknown): SpecChange[] {
  const out: SpecChange[] = [];
  const walk = (a: unknown, b: unknown, path: (string | number)[]) => {
    if (under(path, IGNORED)) return;
    if (isObject(a) && isObject(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        walk(a[k], b[k], [...path, k]);
      }
    } else if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], [...path, i]);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      out.push({ path, from: a, to: b });
    }
  };
  walk(from, to, []);
  return out;
}

/** Whether a resumed run must refuse this change. */
export function isFixedOnResume(change: SpecChange): boolean {
  return under(change.path, FIXED_ON_RESUME);
}

function show(v: unknown): string {
  if (v === undefined) return "(absent)";
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** One change as `path: old → new`. */
export function describeChange(c: SpecChange): string {
  return `${formatPath(c.path)}: ${show(c.from)} → ${show(c.to)}`;
}
