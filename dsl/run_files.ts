/**
 * The run directory side of {@link train}: a new run claims its directory; a
 * resumed run finds its checkpoint, checks the spec it is given against the
 * one it recorded (see spec_diff.ts for what may change), and continues its
 * metrics log where the checkpoint left it.
 * @module
 */

import { removeStaleTemps, writeFileAtomic } from "../lib/train/atomic.ts";
import {
  readLatestCheckpoint,
  restoreCheckpoint,
  writeCheckpoint,
} from "../lib/train/checkpoint.ts";
import type { Plan } from "../lib/plan/plan.ts";
import { MetricsLog } from "../lib/train/metrics_log.ts";
import {
  bestAccuracy,
  claimRunDir,
  findResumePoint,
  type ResumePoint,
  RunDirError,
  runPaths,
  truncateMetrics,
} from "../lib/train/run_dir.ts";
import type { EvalSplit, Trainer, TrainerOptions } from "../lib/train/trainer.ts";
import { describeChange, isFixedOnResume, type SpecChange, specChanges } from "./spec_diff.ts";
import { type RunSpec, safeParseRunSpec } from "./schema.ts";
import { loadRunSpecFile, type Override } from "./yaml.ts";

/** The split a run evaluates on: `val` with a validation split, else `test`. */
export function evalSplitOf(spec: RunSpec): EvalSplit {
  return spec.data.validation_split > 0 ? "val" : "test";
}

/** The resolved spec as `spec.json` holds it. */
export function specJson(spec: RunSpec): string {
  return JSON.stringify(spec, null, 2) + "\n";
}

/** Everything a resumed run takes from its directory before training. */
export interface ResumeState extends ResumePoint {
  /** The run directory. */
  dir: string;
  /** Fields the given spec changes relative to the recorded one (all allowed). */
  changes: SpecChange[];
  /** Accuracy of the best checkpoint so far (−∞ without one). */
  best: number;
}

/** The spec a run recorded, normalised through the current schema (raw JSON if that fails). */
async function recordedSpec(dir: string): Promise<unknown | undefined> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(runPaths(dir).spec));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new RunDirError(`${runPaths(dir).spec}: not JSON (${(e as Error).message})`);
  }
  const parsed = safeParseRunSpec(raw);
  return parsed.success ? JSON.parse(JSON.stringify(parsed.data)) : raw;
}

/**
 * Reads what resuming the run in `dir` with `spec` needs; changes to fixed
 * fields are refused in one line (the others are in `changes`).
 */
export async function prepareResume(
  dir: string,
  spec: RunSpec,
  log: (line: string) => void,
): Promise<ResumeState> {
  const point = await findResumePoint(dir);
  const recorded = await recordedSpec(dir);
  let changes: SpecChange[] = [];
  if (recorded === undefined) {
    log(`resume: ${runPaths(dir).spec} is missing; the given spec is used as is`);
  } else {
    changes = specChanges(recorded, plain(spec));
    const refused = changes.filter(isFixedOnResume);
    if (refused.length) {
      throw new RunDirError(
        `cannot resume ${dir} with ${refused.map(describeChange).join("; ")} ` +
          "(the model, dataset, batch size, validation split, seed and optimizer of a run are " +
          "fixed; train a new run with another --out instead)",
      );
    }
  }
  return { ...point, dir, changes, best: await bestAccuracy(dir) };
}

/**
 * What a resumed run tells the user before training: one line per field
 * changed relative to spec.json, then where it continues (checkpoint file,
 * step and epoch).
 */
export function resumeNotes(resume: ResumeState, total: number, stepsPerEpoch: number): string[] {
  const step = resume.meta.step;
  const epoch = step % stepsPerEpoch === 0
    ? `after epoch ${step / stepsPerEpoch}`
    : `in epoch ${Math.floor(step / stepsPerEpoch) + 1}`;
  const epochs = Math.ceil(total / stepsPerEpoch);
  return [
    ...resume.changes.map((c) => `resume: ${describeChange(c)} (changed from the run's spec.json)`),
    `resuming from ${resume.weights} (step ${step} of ${total}, ${epoch} of ${epochs})`,
  ];
}

/** A spec as plain JSON data (what spec.json holds), for comparisons. */
function plain(spec: RunSpec): unknown {
  return JSON.parse(JSON.stringify(spec));
}

/**
 * The spec to resume the run in `dir` with: its spec.json with `overrides`
 * (`--set`) applied. A resumed run changes only what the command line says:
 * a model file given as well must agree with spec.json (after the same
 * overrides), and a difference is refused in one line naming the fields.
 * Without spec.json (a run directory of an older version) the file is used.
 */
export async function loadResumeSpec(
  dir: string,
  file: string | undefined,
  overrides: readonly Override[],
): Promise<RunSpec> {
  await findResumePoint(dir); // a missing run or checkpoint is the first thing to hear about
  const specPath = runPaths(dir).spec;
  const sets = [...overrides, { path: ["run", "out_dir"], value: dir, source: `--resume ${dir}` }];
  try {
    await Deno.stat(specPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    if (file === undefined) {
      throw new RunDirError(`${specPath} is missing: give the model file the run was trained from`);
    }
    return await loadRunSpecFile(file, sets);
  }
  const spec = await loadRunSpecFile(specPath, sets);
  if (file !== undefined) {
    const differ = specChanges(plain(spec), plain(await loadRunSpecFile(file, sets)));
    if (differ.length) {
      throw new RunDirError(
        `${file} differs from ${specPath} in ${differ.map(describeChange).join("; ")}: a resumed ` +
          `run keeps its spec.json and changes only what --set says; leave ${file} out, or give ` +
          "the changes with --set",
      );
    }
  }
  return spec;
}

/** A new run: claims `spec.run.out_dir` (see claimRunDir) and opens an empty metrics log. */
export async function startRunDir(spec: RunSpec, overwrite: boolean): Promise<MetricsLog> {
  const dir = spec.run.out_dir;
  await claimRunDir(dir, specJson(spec), overwrite);
  return await MetricsLog.open(runPaths(dir).metrics);
}

/**
 * A resumed run: drops metrics logged after the checkpoint (they are
 * written again), records the spec now in effect when it changed, and
 * appends a `resume` record naming the checkpoint and the changes.
 */
export async function continueRunDir(spec: RunSpec, resume: ResumeState): Promise<MetricsLog> {
  const paths = runPaths(resume.dir);
  await removeStaleTemps(resume.dir);
  await truncateMetrics(paths.metrics, resume.meta.step);
  if (resume.changes.length) {
    await writeFileAtomic(paths.spec, new TextEncoder().encode(specJson(spec)));
  }
  const log = await MetricsLog.open(paths.metrics, true);
  log.write({
    kind: "resume",
    globalStep: resume.meta.step,
    wallTime: resume.meta.wallTime ?? 0,
    checkpoint: resume.weights,
    changes: resume.changes.map(describeChange),
  });
  return log;
}

/** Loads the resumed run's checkpoint into `plan`; `trainer` continues at its step and wall time. */
export async function restoreRun(plan: Plan, trainer: Trainer, resume: ResumeState): Promise<void> {
  const ckpt = await readLatestCheckpoint(runPaths(resume.dir).checkpoints);
  restoreCheckpoint(plan, ckpt);
  trainer.resumeAt(ckpt.meta.step, ckpt.meta.wallTime ?? 0);
}

/**
 * The end-of-epoch handler of a run: a checkpoint in `checkpoints/` (the
 * newest `keepLast` kept), and in `best/` when the epoch's evaluation beats
 * `best` (a resumed run passes the accuracy its `best/` holds).
 */
export function epochCheckpointer(
  spec: RunSpec,
  plan: Plan,
  opts: { best: number; keepLast: number; wallTime: () => number },
): NonNullable<TrainerOptions["onEpochEnd"]> {
  const dirs = runPaths(spec.run.out_dir);
  let best = opts.best;
  return async (epoch, step, lastEval) => {
    const meta = {
      step,
      epoch: epoch + 1,
      wallTime: opts.wallTime(),
      spec,
      extra: lastEval ? { [`${evalSplitOf(spec)}_accuracy`]: lastEval.accuracy } : {},
    };
    await writeCheckpoint(dirs.checkpoints, plan, meta, opts.keepLast);
    if (lastEval && lastEval.epoch === epoch && lastEval.accuracy > best) {
      best = lastEval.accuracy;
      await writeCheckpoint(dirs.best, plan, meta, 1);
    }
  };
}
