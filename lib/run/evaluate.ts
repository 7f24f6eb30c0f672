/**
 * Evaluating a run's checkpoint (what `eval` does): load its latest
 * checkpoint into a plan built from the run's spec and evaluate it on the
 * dataset's test split.
 *
 * The plan is built without an optimizer (evaluation needs none), so a
 * checkpoint evaluates whatever optimizer trained it; only the model's
 * parameters and running statistics must match the file.
 * @module
 */

import { acquireGpu, type AcquireOptions } from "../gpu/device.ts";
import { GpuSplit } from "../train/gpu_split.ts";
import { evaluate } from "../train/evaluate.ts";
import {
  type LoadedCheckpoint,
  readLatestCheckpoint,
  restoreCheckpoint,
} from "../train/checkpoint.ts";
import { SafetensorsError } from "../train/safetensors.ts";
import { ReportError } from "../report/errors.ts";
import { inputPipeline, loadDataset } from "./data.ts";
import { buildRunPlan, planOptions } from "./plan.ts";
import { compileGraph } from "../../dsl/compile.ts";
import type { RunSpec } from "../../dsl/schema.ts";

/** What {@link evaluateCheckpoint} measured. */
export interface EvalResult {
  /** Mean test loss. */
  loss: number;
  /** Test accuracy in [0, 1]. */
  accuracy: number;
  /** Test samples. */
  samples: number;
  /** Global step of the checkpoint. */
  step: number;
  /** Epoch recorded in the checkpoint. */
  epoch: number;
  /** Checkpoint folder used (the one holding latest.json). */
  folder: string;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * The checkpoint folder of `dir`: `dir` itself when it holds `latest.json`
 * (a `checkpoints/` or `best/` folder), else `dir/checkpoints`.
 */
export async function checkpointFolder(dir: string): Promise<string> {
  const clean = dir.replace(/\/+$/, "");
  if (await isFile(`${clean}/latest.json`)) return clean;
  if (await isFile(`${clean}/checkpoints/latest.json`)) return `${clean}/checkpoints`;
  try {
    await Deno.stat(clean);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new ReportError(`${clean}: no such directory`);
    throw e;
  }
  throw new ReportError(
    `${clean}: no checkpoint found (expected ${clean}/latest.json or ${clean}/checkpoints/latest.json; ` +
      "train writes them at the end of every epoch)",
  );
}

/** Reads the latest checkpoint of `folder`; a damaged one is a {@link ReportError}. */
async function readCheckpoint(folder: string): Promise<LoadedCheckpoint> {
  try {
    return await readLatestCheckpoint(folder);
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    // The pointer names a file that is gone, or the sidecar is not JSON.
    throw new ReportError(
      `${folder}: the latest checkpoint cannot be read (${(e as Error).message})`,
      { cause: e },
    );
  }
}

/**
 * Evaluates the latest checkpoint in `dir` (a run directory, or its
 * `checkpoints/` or `best/` folder) with the model of `spec` on the test
 * split. A missing or damaged checkpoint is a `ReportError` (or a
 * `SafetensorsError` naming what is wrong with the file).
 *
 * ```ts
 * import { evaluateCheckpoint, loadRunSpecFile } from "./mod.ts";
 * const spec = await loadRunSpecFile("examples/fashion_cnn.yaml");
 * const r = await evaluateCheckpoint(spec, "runs/fashion-cnn/best");
 * console.log(`${(100 * r.accuracy).toFixed(2)} % at step ${r.step}`);
 * ```
 */
export async function evaluateCheckpoint(
  spec: RunSpec,
  dir: string,
  opts: { acquire?: AcquireOptions; cacheDir?: string; log?: (line: string) => void } = {},
): Promise<EvalResult> {
  const graph = compileGraph(spec);
  const folder = await checkpointFolder(dir);
  const ckpt = await readCheckpoint(folder);
  // Optimizer state is irrelevant to evaluation: keep only model tensors.
  const tensors = new Map([...ckpt.tensors].filter(([name]) => !name.startsWith("optimizer.")));
  const dataset = await loadDataset(spec, opts.cacheDir);
  const gpu = await acquireGpu(opts.acquire);
  const { plan } = await buildRunPlan(gpu, spec, graph, planOptions(spec, "eval"), opts.log);
  try {
    restoreCheckpoint(plan, { tensors, meta: ckpt.meta });
    const { size, channels, normalization } = inputPipeline(spec, dataset);
    const test = new GpuSplit(gpu, "test", dataset.test, { size, channels }, normalization, plan);
    try {
      const r = await evaluate(plan, test);
      return {
        loss: r.loss,
        accuracy: r.accuracy,
        samples: r.samples,
        step: ckpt.meta.step,
        epoch: ckpt.meta.epoch,
        folder,
      };
    } finally {
      test.dispose();
    }
  } finally {
    plan.arena.dispose();
  }
}
