/**
 * Checkpoints: every parameter, running statistic and optimizer state of a
 * plan in one safetensors file under stable graph names, plus a JSON sidecar
 * (step, epoch, resolved spec, adapter). Every file is written to a temporary
 * name, flushed and renamed, and `latest.json` is replaced last, so a crash
 * at any moment leaves the previous checkpoint intact and findable.
 * @module
 */

import type { Plan } from "../plan/plan.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { readTensors, writeTensor } from "../gpu/transfer.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type NamedTensor,
  SafetensorsError,
} from "./safetensors.ts";
import { removeStaleTemps, writeFileAtomic } from "./atomic.ts";

/** What the sidecar records. */
export interface CheckpointMeta {
  /** Global steps completed. */
  step: number;
  /** Epoch the next step belongs to. */
  epoch: number;
  /** Adapter description of the run that wrote it. */
  adapter: string;
  /** ISO time of writing. */
  written: string;
  /** Seconds of training up to this checkpoint, across resumes (absent in old checkpoints). */
  wallTime?: number;
  /** The resolved run spec, when known. */
  spec?: unknown;
  /**
   * Anything else: the metric that ranked it is `val_accuracy` (with a
   * validation split) or `test_accuracy`; see {@link recordedAccuracy}.
   */
  extra?: Record<string, unknown>;
}

/** The evaluation accuracy a checkpoint's sidecar records, if any. */
export function recordedAccuracy(meta: CheckpointMeta): number | undefined {
  const v = meta.extra?.val_accuracy ?? meta.extra?.test_accuracy;
  return typeof v === "number" ? v : undefined;
}

/** Every tensor a checkpoint holds, by stable name. */
export function checkpointTensors(plan: Plan): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const add = (name: string, t: Tensor) => {
    if (out.has(name)) throw new Error(`two tensors are named "${name}" in the checkpoint`);
    out.set(name, t);
  };
  for (const p of plan.params) add(p.name, p.value);
  for (const s of plan.state) add(s.name, s.tensor);
  for (const s of plan.optimizer?.state ?? []) add(`optimizer.${s.name}`, s.tensor);
  return out;
}

/** File names of the checkpoint at `step`. */
export function checkpointFiles(dir: string, step: number): { weights: string; sidecar: string } {
  const base = `${dir}/ckpt-${String(step).padStart(8, "0")}`;
  return { weights: `${base}.safetensors`, sidecar: `${base}.json` };
}

/**
 * The steps whose files go when the checkpoint of `current` has just been
 * written: all but `current` and the `keepLast − 1` newest before it in the
 * run's own step sequence. Steps after `current` are a timeline this run
 * left (a resume from an earlier checkpoint rewrites them), so they go too;
 * the checkpoint just written is never among them.
 */
export function stepsToDelete(
  steps: readonly number[],
  current: number,
  keepLast: number,
): number[] {
  const earlier = steps.filter((s) => s < current).sort((a, b) => b - a);
  const kept = new Set([current, ...earlier.slice(0, Math.max(1, keepLast) - 1)]);
  return steps.filter((s) => !kept.has(s));
}

/**
 * Writes a checkpoint of `plan` (one GPU readback) into `dir`, points
 * `latest.json` at it, and deletes the older ones beyond `keepLast` (see
 * {@link stepsToDelete}). Temporary files of killed writers are removed
 * first. `dir` belongs to one run: nothing else should write checkpoints there.
 */
export async function writeCheckpoint(
  dir: string,
  plan: Plan,
  meta: Omit<CheckpointMeta, "written" | "adapter">,
  keepLast = 3,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await removeStaleTemps(dir);
  const named = checkpointTensors(plan);
  const values = await readTensors(plan.gpu, [...named.values()]);
  const tensors = new Map<string, NamedTensor>();
  [...named].forEach(([name, t], i) => tensors.set(name, { shape: [...t.shape], data: values[i] }));
  const full: CheckpointMeta = {
    ...meta,
    adapter: plan.gpu.adapter.description,
    written: new Date().toISOString(),
  };
  const files = checkpointFiles(dir, meta.step);
  await writeFileAtomic(
    files.weights,
    encodeSafetensors(tensors, { step: String(meta.step), format: "adabk-1" }),
  );
  await writeFileAtomic(
    files.sidecar,
    new TextEncoder().encode(JSON.stringify(full, null, 2) + "\n"),
  );
  await writeFileAtomic(
    `${dir}/latest.json`,
    new TextEncoder().encode(JSON.stringify({ step: meta.step }) + "\n"),
  );
  const steps: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = /^ckpt-(\d+)\.(safetensors|json)$/.exec(e.name);
    if (m && !steps.includes(Number(m[1]))) steps.push(Number(m[1]));
  }
  for (const old of stepsToDelete(steps, meta.step, keepLast)) {
    const f = checkpointFiles(dir, old);
    await Deno.remove(f.weights).catch(() => {});
    await Deno.remove(f.sidecar).catch(() => {});
  }
  return files.weights;
}

/** A checkpoint read from disk. */
export interface LoadedCheckpoint {
  /** Tensors by name. */
  tensors: Map<string, NamedTensor>;
  /** Sidecar contents. */
  meta: CheckpointMeta;
}

/** The step `dir/latest.json` names. */
async function latestStep(dir: string): Promise<number> {
  try {
    const step = JSON.parse(await Deno.readTextFile(`${dir}/latest.json`)).step;
    if (!Number.isInteger(step) || step < 0) throw new Error(`"step" is ${JSON.stringify(step)}`);
    return step;
  } catch (e) {
    throw new SafetensorsError(
      `${dir}/latest.json`,
      `cannot read the latest-checkpoint pointer (${(e as Error).message})`,
    );
  }
}

/** The sidecar of the checkpoint `latest.json` points at in `dir`, and its weights file. */
export async function readLatestCheckpointMeta(
  dir: string,
): Promise<{ meta: CheckpointMeta; weights: string }> {
  const files = checkpointFiles(dir, await latestStep(dir));
  const meta = JSON.parse(await Deno.readTextFile(files.sidecar)) as CheckpointMeta;
  return { meta, weights: files.weights };
}

/** Reads the checkpoint `latest.json` points at in `dir`. */
export async function readLatestCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const files = checkpointFiles(dir, await latestStep(dir));
  const { tensors } = decodeSafetensors(await Deno.readFile(files.weights), files.weights);
  const meta = JSON.parse(await Deno.readTextFile(files.sidecar)) as CheckpointMeta;
  return { tensors, meta };
}

/**
 * Writes checkpoint tensors into `plan`. Every tensor of the plan must be
 * present with the same shape: a mismatch (another model, another optimizer)
 * is an error naming the tensor, and nothing is written.
 */
export function restoreCheckpoint(plan: Plan, ckpt: LoadedCheckpoint): void {
  const named = checkpointTensors(plan);
  const problems: string[] = [];
  for (const [name, t] of named) {
    const c = ckpt.tensors.get(name);
    if (!c) problems.push(`"${name}" is missing`);
    else if (c.shape.join("x") !== t.shape.join("x")) {
      problems.push(
        `"${name}" has shape [${c.shape}] in the checkpoint, [${t.shape}] in the model`,
      );
    }
  }
  for (const name of ckpt.tensors.keys()) {
    if (!named.has(name)) problems.push(`"${name}" is not in the model`);
  }
  if (problems.length) {
    throw new RangeError(
      `the checkpoint does not match this run: ${problems.slice(0, 5).join("; ")}${
        problems.length > 5 ? ` (+${problems.length - 5} more)` : ""
      }`,
    );
  }
  for (const [name, t] of named) writeTensor(plan.gpu, t, ckpt.tensors.get(name)!.data);
}
