/**
 * Training a RunSpec end to end: data, device, graph, plan, trainer, run
 * directory (resolved spec and metrics), progress.
 * @module
 */

import { acquireGpu, type AcquireOptions, type Gpu } from "../lib/gpu/device.ts";
import { channelCount, type Dataset, type Split } from "../lib/data/dataset.ts";
import { loadFashionMnist } from "../lib/data/fashion_mnist.ts";
import { loadMnist } from "../lib/data/mnist.ts";
import { loadCifar10, loadCifar100 } from "../lib/data/cifar.ts";
import { syntheticDataset } from "../lib/data/synthetic.ts";
import { epochPermutation, validationSplit } from "../lib/data/loader.ts";
import { buildPlan } from "../lib/plan/plan.ts";
import { GpuSplit, identityOrder } from "../lib/train/gpu_split.ts";
import {
  type EvalEvent,
  Trainer,
  type TrainerEvent,
  type TrainSummary,
} from "../lib/train/trainer.ts";
import { ProgressReporter } from "../lib/train/progress.ts";
import { MetricsLog } from "../lib/train/metrics_log.ts";
import {
  readLatestCheckpoint,
  restoreCheckpoint,
  writeCheckpoint,
} from "../lib/train/checkpoint.ts";
import { checkClasses, compileGraph, compileOptimizer, compileSchedule } from "./compile.ts";
import { DATASETS, type RunSpec } from "./schema.ts";

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
  /** Continue the run whose directory this is, from its latest checkpoint. */
  resume?: string;
  /** Checkpoints kept (besides the best). Default 3. */
  keepLast?: number;
}

/** What {@link train} returns. */
export interface TrainResult extends TrainSummary {
  /** Final test evaluation. */
  finalEval?: EvalEvent;
  /** Parameter count. */
  parameters: number;
}

/** Loads the dataset a spec names. */
export async function loadDataset(spec: RunSpec, cacheDir?: string): Promise<Dataset> {
  const d = spec.data;
  switch (d.dataset) {
    case "fashion-mnist":
      return d.path
        ? await loadMnist({ dir: d.path, name: "fashion-mnist" })
        : await loadFashionMnist({ cacheDir });
    case "mnist":
      return await loadMnist({ dir: d.path! });
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

/** Trains `spec`; returns the summary with the final test accuracy. */
export async function train(spec: RunSpec, opts: TrainOptions = {}): Promise<TrainResult> {
  const graph = compileGraph(spec); // shape errors before any GPU or data work
  const optimizer = compileOptimizer(spec.optimizer);
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

  const gpu = opts.gpu ?? await acquireGpu(opts.acquire);
  const batch = spec.data.batch_size;
  const plan = buildPlan(gpu, graph, {
    batch,
    seed: spec.run.seed,
    optimizer,
    clipGradNorm: spec.optimizer.clip_grad_norm,
    labelSmoothing: spec.loss.label_smoothing,
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
    "test",
    testSplit,
    { size: sample, channels },
    normalization,
    plan,
  );
  const stepsPerEpoch = Math.floor(trainSplit.count / batch);
  const epochs = spec.schedule.epochs ?? Math.ceil(spec.schedule.steps! / stepsPerEpoch);
  const progress = opts.progress === false ? undefined : new ProgressReporter(epochs);
  let log: MetricsLog | undefined;
  if (opts.writeRunDir !== false) {
    await Deno.mkdir(spec.run.out_dir, { recursive: true });
    await Deno.writeTextFile(`${spec.run.out_dir}/spec.json`, JSON.stringify(spec, null, 2) + "\n");
    log = await MetricsLog.open(`${spec.run.out_dir}/metrics.jsonl`, opts.resume !== undefined);
  }
  const order = spec.data.shuffle
    ? (epoch: number) => epochPermutation(trainSplit.count, spec.run.seed, epoch)
    : () => identityOrder(trainSplit.count);
  let best = -Infinity;
  const trainer = new Trainer({
    plan,
    train: trainData,
    test: testData,
    epochs,
    order,
    lr: compileSchedule(spec, stepsPerEpoch),
    seed: spec.run.seed,
    logEvery: spec.run.log_every,
    evalEvery: spec.run.eval_every,
    onEpochEnd: opts.writeRunDir === false ? undefined : async (epoch, step, lastEval) => {
      const meta = {
        step,
        epoch: epoch + 1,
        spec,
        extra: lastEval ? { test_accuracy: lastEval.accuracy } : {},
      };
      await writeCheckpoint(`${spec.run.out_dir}/checkpoints`, plan, meta, opts.keepLast ?? 3);
      if (lastEval && lastEval.epoch === epoch && lastEval.accuracy > best) {
        best = lastEval.accuracy;
        await writeCheckpoint(`${spec.run.out_dir}/best`, plan, meta, 1);
      }
    },
    onEvent: (e) => {
      progress?.onEvent(e);
      log?.write(e);
      opts.onEvent?.(e);
    },
  });
  if (opts.resume) {
    const ckpt = await readLatestCheckpoint(`${opts.resume}/checkpoints`);
    restoreCheckpoint(plan, ckpt);
    trainer.resumeAt(ckpt.meta.step);
    best = (ckpt.meta.extra?.test_accuracy as number | undefined) ?? -Infinity;
  }
  try {
    const summary = await trainer.run();
    return { ...summary, parameters: plan.params.reduce((n, p) => n + p.value.size, 0) };
  } finally {
    progress?.close();
    log?.close();
    trainData.dispose();
    testData.dispose();
    plan.arena.dispose();
  }
}
