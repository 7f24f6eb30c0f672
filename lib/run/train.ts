/**
 * Training a RunSpec end to end: data, device, graph, plan, trainer, run
 * directory (resolved spec, metrics, checkpoints), progress.
 * @module
 */

import { acquireGpu, type AcquireOptions, describeAdapter, type Gpu } from "../gpu/device.ts";
import type { Dataset } from "../data/dataset.ts";
import { epochPermutation } from "../data/loader.ts";
import { parameterCount } from "../graph/graph.ts";
import { GpuSplit, identityOrder } from "../train/gpu_split.ts";
import type { EvalEvent, EvalSplit, TrainerEvent } from "../train/events.ts";
import { Trainer, type TrainSummary } from "../train/trainer.ts";
import { ProgressReporter } from "../train/progress.ts";
import type { MetricsLog } from "../train/metrics_log.ts";
import { recordedAccuracy } from "../train/checkpoint.ts";
import { checkClasses, compileGraph, compileSchedule, totalSteps } from "../../dsl/compile.ts";
import type { RunSpec } from "../../dsl/schema.ts";
import { evalSplitOf, loadDataset, runData } from "./data.ts";
import { buildRunPlan, planOptions } from "./plan.ts";
import { checkRunDirFree, RunDirError } from "./run_dir.ts";
import {
  continueRunDir,
  epochCheckpointer,
  prepareResume,
  restoreRun,
  resumeNotes,
  type ResumeState,
  startRunDir,
} from "./run_files.ts";

/** Options of {@link train}. */
export interface TrainOptions {
  /** Use this device instead of acquiring one. */
  gpu?: Gpu;
  /** Options for acquiring the device when `gpu` is not given. */
  acquire?: AcquireOptions;
  /** Use this dataset instead of loading the spec's (tests). */
  dataset?: Dataset;
  /** Write the run directory (resolved spec, metrics). Default true. */
  writeRunDir?: boolean;
  /** Print progress to stderr. Default true. */
  progress?: boolean;
  /** Receives every trainer event as well. */
  onEvent?: (e: TrainerEvent) => void;
  /** Fashion-MNIST cache folder (default .cache/fashion-mnist). */
  cacheDir?: string;
  /**
   * Continue the run whose directory this is, from its latest checkpoint
   * (the run writes there, whatever `spec.run.out_dir` says). `spec` may
   * change some fields of the run's recorded spec.json (reported through
   * `log`) but not its model, data, seed or optimizer (see dsl/spec_diff.ts).
   */
  resume?: string;
  /**
   * Start over in a run directory that already holds a run: its files are
   * deleted when training starts. Without it such a directory is refused.
   */
  overwrite?: boolean;
  /** Receives notes for the user, one line each (resume point, spec changes). */
  log?: (line: string) => void;
  /** Checkpoints kept (besides the best). Default 3. */
  keepLast?: number;
}

/** A resumed run that had no step left to train. */
export interface CompleteRun {
  /** Steps its latest checkpoint holds. */
  step: number;
  /** Steps of the run. */
  totalSteps: number;
  /** The evaluation accuracy that checkpoint recorded. */
  accuracy?: number;
}

/** What {@link train} returns. */
export interface TrainResult extends TrainSummary {
  /** Final evaluation (on `evalSplit`). */
  finalEval?: EvalEvent;
  /** What the run evaluates on: `val` with `data.validation_split`, else `test`. */
  evalSplit: EvalSplit;
  /** Parameter count. */
  parameters: number;
  /** Set (and nothing trained) when a resumed run was already complete. */
  complete?: CompleteRun;
}

/**
 * Trains `spec` (or continues the run `opts.resume`); returns the summary
 * with the final evaluation. A new run refuses a directory that holds
 * anything unless `opts.overwrite` is set.
 */
export async function train(spec: RunSpec, opts: TrainOptions = {}): Promise<TrainResult> {
  if (opts.resume !== undefined) {
    if (opts.overwrite) throw new RunDirError("resume and overwrite exclude each other");
    spec = { ...spec, run: { ...spec.run, out_dir: opts.resume.replace(/\/+$/, "") } };
  }
  const graph = compileGraph(spec); // shape errors before any GPU or data work
  const options = planOptions(spec, "train"); // and optimizer errors
  const writeRunDir = opts.writeRunDir !== false;
  const note = opts.log ?? (() => {});
  // Run-directory problems come before data loading and GPU work.
  let resume: ResumeState | undefined;
  if (opts.resume !== undefined) resume = await prepareResume(spec.run.out_dir, spec, note);
  else if (writeRunDir) await checkRunDirFree(spec.run.out_dir, opts.overwrite);
  const evalSplit = evalSplitOf(spec);
  const dataset = opts.dataset ?? await loadDataset(spec, opts.cacheDir);
  checkClasses(graph, dataset.classes, dataset.name); // a dataset given by the caller may differ
  const data = runData(spec, dataset);
  const { stepsPerEpoch } = data;
  const total = totalSteps(spec, stepsPerEpoch);
  if (resume && resume.meta.step >= total) {
    const complete = { step: resume.meta.step, totalSteps: total };
    return {
      ...{ steps: 0, seconds: 0, submitsPerStep: 0, readbacksPerStep: 0 },
      evalSplit,
      parameters: parameterCount(graph),
      complete: { ...complete, accuracy: recordedAccuracy(resume.meta) },
    };
  }
  if (resume) resumeNotes(resume, total, stepsPerEpoch).forEach(note);

  const gpu = opts.gpu ?? await acquireGpu(opts.acquire);
  note(`training ${spec.run.name} → ${spec.run.out_dir} on ${describeAdapter(gpu.adapter)}`);
  const { plan } = await buildRunPlan(
    gpu,
    spec,
    graph,
    options,
    opts.progress === false ? undefined : (line) => console.error(line),
  );
  const { size, channels, normalization } = data.pipeline;
  const trainData = new GpuSplit(
    gpu,
    "train",
    data.train,
    { size, channels },
    normalization,
    plan,
    data.augment,
  );
  const testData = new GpuSplit(gpu, evalSplit, data.eval, { size, channels }, normalization, plan);
  const epochs = Math.ceil(total / stepsPerEpoch);
  const progress = opts.progress === false
    ? undefined
    : new ProgressReporter(epochs, { totalSteps: total });
  const order = spec.data.shuffle
    ? (epoch: number) => epochPermutation(data.train.count, spec.run.seed, epoch)
    : () => identityOrder(data.train.count);
  let log: MetricsLog | undefined;
  const trainer: Trainer = new Trainer({
    plan,
    train: trainData,
    test: testData,
    evalSplit,
    epochs,
    totalSteps: total,
    order,
    lr: compileSchedule(spec, stepsPerEpoch),
    seed: spec.run.seed,
    logEvery: spec.run.log_every,
    evalEvery: spec.run.eval_every,
    onEpochEnd: !writeRunDir ? undefined : epochCheckpointer(spec, plan, {
      best: resume?.best ?? -Infinity,
      keepLast: opts.keepLast ?? 3,
      wallTime: () => trainer.wallTime,
    }),
    onEvent: (e) => {
      progress?.onEvent(e);
      log?.write(e);
      opts.onEvent?.(e);
    },
  });
  try {
    if (resume) await restoreRun(plan, trainer, resume);
    if (writeRunDir) {
      log = resume
        ? await continueRunDir(spec, resume)
        : await startRunDir(spec, opts.overwrite ?? false);
    }
    const summary = await trainer.run();
    return { ...summary, evalSplit, parameters: parameterCount(graph) };
  } finally {
    progress?.close();
    log?.close();
    trainData.dispose();
    testData.dispose();
    plan.arena.dispose();
  }
}
