/**
 * Training a RunSpec end to end: data, device, graph, plan, trainer, run
 * directory (resolved spec and metrics), progress.
 * @module
 */

import { acquireGpu, type AcquireOptions, describeAdapter, type Gpu } from "../lib/gpu/device.ts";
import { channelCount, type Dataset, type Split } from "../lib/data/dataset.ts";
import { loadFashionMnist } from "../lib/data/fashion_mnist.ts";
import { loadMnist } from "../lib/data/mnist.ts";
import { loadCifar10, loadCifar100 } from "../lib/data/cifar.ts";
import { syntheticDataset } from "../lib/data/synthetic.ts";
import { epochPermutation, validationSplit } from "../lib/data/loader.ts";
import { buildTunedPlan } from "../lib/plan/tune.ts";
import { GpuSplit, identityOrder } from "../lib/train/gpu_split.ts";
import {
  type EvalEvent,
  type EvalSplit,
  Trainer,
  type TrainerEvent,
  type TrainSummary,
} from "../lib/train/trainer.ts";
import { ProgressReporter } from "../lib/train/progress.ts";
import type { MetricsLog } from "../lib/train/metrics_log.ts";
import { recordedAccuracy } from "../lib/train/checkpoint.ts";
import { checkRunDirFree, RunDirError } from "../lib/train/run_dir.ts";
import type { Graph } from "../lib/graph/graph.ts";
import {
  checkClasses,
  compileGraph,
  compileOptimizer,
  compileSchedule,
  totalSteps,
} from "./compile.ts";
import { DATASETS, type RunSpec } from "./schema.ts";
import {
  continueRunDir,
  epochCheckpointer,
  evalSplitOf,
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

/** Trainable values of a graph. */
function parameterCount(graph: Graph): number {
  return graph.nodes.flatMap((n) => n.params).reduce(
    (n, p) => n + p.shape.reduce((a, b) => a * b, 1),
    0,
  );
}

/** Loads the dataset a spec names. */
export async function loadDataset(spec: RunSpec, cacheDir?: string): Promise<Dataset> {
  const d = spec.data;
  switch (d.dataset) {
    case "fashion-mnist":
      return d.path
        ? await loadMnist({ dir: d.path, name: "fashion-mnist", prefix: d.idx_prefix })
        : await loadFashionMnist({ cacheDir });
    case "mnist":
      return await loadMnist({ dir: d.path!, prefix: d.idx_prefix });
    case "cifar10":
      return await loadCifar10({ dir: d.path! });
    case "cifar100":
      return await loadCifar100({ dir: d.path! });
    case "synthetic": {
      const s = d.synthetic!;
      return syntheticDataset({
        inputShape: s.shape,
        classes: s.classes,
        trainCount: s.samples,
        // A fifth as many test samples, drawn from the same class prototypes.
        testCount: Math.max(1, Math.floor(s.samples / 5)),
        seed: s.seed,
      });
    }
  }
}

function subset(split: Split, indices: Uint32Array, sample: number): Split {
  const images = split.images instanceof Uint8Array
    ? new Uint8Array(indices.length * sample)
    : new Float32Array(indices.length * sample);
  const labels = new Uint8Array(indices.length);
  indices.forEach((src, i) => {
    images.set(split.images.subarray(src * sample, (src + 1) * sample), i * sample);
    labels[i] = split.labels[src];
  });
  return { images, labels, count: indices.length };
}

/** How samples of `dataset` enter the network under `spec`: sizes and per-channel normalisation. */
export interface InputPipeline {
  /** Values per sample. */
  size: number;
  /** Channels (last axis). */
  channels: number;
  /** (raw·scale − mean[c]) / std[c]. */
  normalization: { scale: number; mean: number[]; std: number[] };
}

/**
 * The input pipeline of training and evaluation alike: bytes scaled to
 * [0, 1], then normalised per channel with the spec's statistics or the
 * dataset's defaults (a single value applies to every channel).
 */
export function inputPipeline(spec: RunSpec, dataset: Dataset): InputPipeline {
  const shape = dataset.inputShape;
  const size = shape.reduce((a, b) => a * b, 1);
  const channels = channelCount(shape);
  const info = DATASETS[spec.data.dataset];
  const norm = spec.data.normalize ?? { mean: info.mean ?? [0], std: info.std ?? [1] };
  const expand = (
    xs: readonly number[],
  ) => (xs.length === 1 ? Array(channels).fill(xs[0]) : [...xs]);
  return {
    size,
    channels,
    normalization: {
      scale: dataset.train.images instanceof Uint8Array ? 1 / 255 : 1,
      mean: expand(norm.mean),
      std: expand(norm.std),
    },
  };
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
  const optimizer = compileOptimizer(spec.optimizer);
  const writeRunDir = opts.writeRunDir !== false;
  const note = opts.log ?? (() => {});
  // Run-directory problems come before data loading and GPU work.
  let resume: ResumeState | undefined;
  if (opts.resume !== undefined) resume = await prepareResume(spec.run.out_dir, spec, note);
  else if (writeRunDir) await checkRunDirFree(spec.run.out_dir, opts.overwrite);
  const evalSplit = evalSplitOf(spec);
  const dataset = opts.dataset ?? await loadDataset(spec, opts.cacheDir);
  checkClasses(graph, dataset.classes, dataset.name); // a dataset given by the caller may differ
  const sampleShape = dataset.inputShape;
  const { size: sample, channels, normalization } = inputPipeline(spec, dataset);
  let trainSplit = dataset.train;
  let testSplit = dataset.test;
  if (spec.data.validation_split > 0) {
    const v = validationSplit(dataset.train.count, {
      fraction: spec.data.validation_split,
      seed: spec.run.seed,
    });
    trainSplit = subset(dataset.train, v.train, sample);
    testSplit = subset(dataset.train, v.validation, sample);
  }
  const crop = spec.data.augment?.random_crop;
  if (
    crop &&
    (sampleShape.length !== 3 || crop.size !== sampleShape[0] || crop.size !== sampleShape[1])
  ) {
    throw new RangeError(
      `data.augment.random_crop.size must equal the image size ${sampleShape[0]}`,
    );
  }
  const augment = spec.data.augment && sampleShape.length === 3
    ? {
      seed: spec.run.seed,
      pad: crop?.padding ?? 0,
      flip: spec.data.augment.horizontal_flip,
      shape: sampleShape,
    }
    : undefined;

  const stepsPerEpoch = Math.floor(trainSplit.count / spec.data.batch_size);
  if (stepsPerEpoch < 1) {
    throw new RangeError(
      `the training split has ${trainSplit.count} samples, fewer than one batch of ${spec.data.batch_size}`,
    );
  }
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
  const batch = spec.data.batch_size;
  const { plan } = await buildTunedPlan(gpu, graph, {
    batch,
    seed: spec.run.seed,
    optimizer,
    clipGradNorm: spec.optimizer.clip_grad_norm,
    labelSmoothing: spec.loss.label_smoothing,
  }, {
    mode: spec.run.tune,
    log: opts.progress === false ? undefined : (line) => console.error(line),
  });
  const trainData = new GpuSplit(
    gpu,
    "train",
    trainSplit,
    { size: sample, channels },
    normalization,
    plan,
    augment,
  );
  const testData = new GpuSplit(
    gpu,
    evalSplit,
    testSplit,
    { size: sample, channels },
    normalization,
    plan,
  );
  const epochs = Math.ceil(total / stepsPerEpoch);
  const progress = opts.progress === false
    ? undefined
    : new ProgressReporter(epochs, { totalSteps: total });
  const order = spec.data.shuffle
    ? (epoch: number) => epochPermutation(trainSplit.count, spec.run.seed, epoch)
    : () => identityOrder(trainSplit.count);
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
