/**
 * Run directories: one run per directory. A new run refuses a directory that
 * holds anything (unless told to overwrite, which deletes the previous run's
 * files first), and claims it atomically by creating `spec.json`, so two runs
 * never mix their checkpoints or metrics and one never deletes the other's.
 * A resumed run finds its checkpoint, its best accuracy and its metrics here.
 * @module
 */

import { type CheckpointMeta, readLatestCheckpointMeta, recordedAccuracy } from "./checkpoint.ts";
import { writeFileAtomic } from "./atomic.ts";

/** A run directory cannot be used as asked (the message says what to do instead). */
export class RunDirError extends Error {
  /** `message` is the whole story, in one line. */
  constructor(message: string) {
    super(message);
    this.name = "RunDirError";
  }
}

/** What train writes into a run directory (and `--overwrite` deletes). */
export const RUN_FILES = ["spec.json", "metrics.jsonl", "metrics.csv", "checkpoints", "best"];

/** Where a run's files are. */
export function runPaths(dir: string) {
  return {
    spec: `${dir}/spec.json`,
    metrics: `${dir}/metrics.jsonl`,
    checkpoints: `${dir}/checkpoints`,
    best: `${dir}/best`,
  };
}

async function entries(dir: string): Promise<string[] | undefined> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** How to continue instead, by caller (train offers --resume, compare does not). */
export type RunDirHint = "train" | "compare";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The refusal for `dir` holding `names`: what is there, and the ways on. */
async function occupied(dir: string, names: readonly string[], hint: RunDirHint) {
  const isRun = names.some((n) => RUN_FILES.includes(n));
  const shown = names.slice(0, 4).join(", ") + (names.length > 4 ? ", …" : "");
  const what = isRun ? `already holds a run (${shown})` : `is not empty (${shown})`;
  const overwrite = "start over with --overwrite (deletes its checkpoints and metrics)";
  let next: string;
  if (hint === "compare") {
    next = "choose another --out, or start over with --overwrite (deletes the runs' " +
      "checkpoints and metrics)";
  } else if (isRun && !(await exists(`${runPaths(dir).checkpoints}/latest.json`))) {
    // Stopped in its first epoch: there is nothing to resume.
    next = `it stopped before its first checkpoint; ${overwrite}`;
  } else next = `continue it with --resume ${dir}, or ${overwrite}`;
  return new RunDirError(`${dir} ${what}: ${next}`);
}

/**
 * Refuses `dir` for a new run when it holds anything and `overwrite` is not
 * set. Writes nothing: call it before slow work (data, GPU), so a refusal
 * comes at once; {@link claimRunDir} makes the claim when the run starts.
 */
export async function checkRunDirFree(
  dir: string,
  overwrite = false,
  hint: RunDirHint = "train",
): Promise<void> {
  const names = await entries(dir);
  if (names?.length && !overwrite) throw await occupied(dir, names, hint);
}

/**
 * Claims `dir` for a new run: with `overwrite`, first deletes the previous
 * run's files ({@link RUN_FILES}; anything else in the directory stays);
 * then creates `spec.json` holding `specJson`, failing if it exists (another
 * run got there first). Refuses like {@link checkRunDirFree} otherwise.
 */
export async function claimRunDir(
  dir: string,
  specJson: string,
  overwrite = false,
  hint: RunDirHint = "train",
): Promise<void> {
  await checkRunDirFree(dir, overwrite, hint);
  if (overwrite) {
    for (const name of RUN_FILES) {
      await Deno.remove(`${dir}/${name}`, { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
  }
  await Deno.mkdir(dir, { recursive: true });
  let file: Deno.FsFile;
  try {
    file = await Deno.open(runPaths(dir).spec, { write: true, createNew: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw await occupied(dir, (await entries(dir)) ?? ["spec.json"], hint);
    }
    throw e;
  }
  try {
    const bytes = new TextEncoder().encode(specJson);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
  } finally {
    file.close();
  }
}

/** The checkpoint a resumed run continues from. */
export interface ResumePoint {
  /** Its sidecar. */
  meta: CheckpointMeta;
  /** Its weights file. */
  weights: string;
}

/**
 * The latest checkpoint of the run in `dir`, with one-line errors for a
 * directory that does not exist, one without a checkpoint yet (the run was
 * stopped in its first epoch) and one whose checkpoint cannot be read.
 */
export async function findResumePoint(dir: string): Promise<ResumePoint> {
  const names = await entries(dir);
  if (names === undefined) {
    throw new RunDirError(
      `${dir}: no such run directory; start the run with: train FILE --out ${dir}`,
    );
  }
  const folder = runPaths(dir).checkpoints;
  if (!(await exists(`${folder}/latest.json`))) {
    const start = names.length
      ? `start it over with: train FILE --out ${dir} --overwrite`
      : `start it with: train FILE --out ${dir}`;
    throw new RunDirError(
      `${dir} has no checkpoint to resume from yet (the first is written at the end of the ` +
        `first epoch); ${start}`,
    );
  }
  try {
    return await readLatestCheckpointMeta(folder);
  } catch (e) {
    throw new RunDirError(
      `${folder}: the latest checkpoint cannot be read (${(e as Error).message})`,
    );
  }
}

/**
 * The accuracy of the run's best checkpoint (`best/`), the bar a resumed run
 * must beat to replace it; −∞ when there is none or it cannot be read.
 */
export async function bestAccuracy(dir: string): Promise<number> {
  try {
    const { meta } = await readLatestCheckpointMeta(runPaths(dir).best);
    return recordedAccuracy(meta) ?? -Infinity;
  } catch {
    return -Infinity;
  }
}

/**
 * Cuts the metrics log back to what happened up to `step` (a resumed run
 * writes the rest again): records with a `globalStep` after it go, and so
 * does a torn last line (a record without its newline is completed). Replaced
 * atomically; returns the records dropped.
 */
export async function truncateMetrics(path: string, step: number): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
  const kept: string[] = [];
  let dropped = 0;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let rec: { globalStep?: unknown };
    try {
      rec = JSON.parse(line);
    } catch {
      dropped++; // a torn write of a killed run
      continue;
    }
    if (typeof rec?.globalStep === "number" && rec.globalStep > step) dropped++;
    else kept.push(line);
  }
  if (dropped || !text.endsWith("\n")) {
    await writeFileAtomic(path, new TextEncoder().encode(kept.map((l) => l + "\n").join("")));
  }
  return dropped;
}
