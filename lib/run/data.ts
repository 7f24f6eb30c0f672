/**
 * A spec's data: the dataset it names, loaded; the splits a run trains and
 * evaluates on; how samples enter the network (normalisation, augmentation);
 * and the steps of an epoch, computed here once for the whole run.
 * @module
 */

import {
  channelCount,
  type Dataset,
  type DatasetName,
  sampleSize,
  type Split,
} from "../data/dataset.ts";
import { loadFashionMnist } from "../data/fashion_mnist.ts";
import { loadMnist } from "../data/mnist.ts";
import { loadCifar10, loadCifar100 } from "../data/cifar.ts";
import { syntheticDataset } from "../data/synthetic.ts";
import { validationSplit } from "../data/loader.ts";
import type { EvalSplit } from "../train/events.ts";
import { stepsPerEpoch } from "../train/trainer.ts";
import type { RunSpec } from "../../dsl/schema.ts";

/** Loads the dataset a spec names (Fashion-MNIST: from `cacheDir`, default .cache/fashion-mnist). */
export async function loadDataset(spec: RunSpec, cacheDir?: string): Promise<Dataset> {
  const d = spec.data;
  const name: DatasetName = d.dataset;
  switch (name) {
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
    default: {
      // A dataset of the table without a loader fails `deno task check` here.
      const missing: never = name;
      throw new Error(`no loader for dataset ${missing}`);
    }
  }
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
 * dataset table's (a single value applies to every channel).
 */
export function inputPipeline(spec: RunSpec, dataset: Dataset): InputPipeline {
  const shape = dataset.inputShape;
  const size = sampleSize(shape);
  const channels = channelCount(shape);
  // The schema fills data.normalize from the dataset table when the spec leaves it out.
  const norm = spec.data.normalize;
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

/** The samples at `indices` of `split`. */
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

/** The split a run evaluates on: `val` with a validation split, else `test`. */
export function evalSplitOf(spec: RunSpec): EvalSplit {
  return spec.data.validation_split > 0 ? "val" : "test";
}

/** Training-time augmentation of image samples, as the data stage takes it. */
export interface Augmentation {
  /** Seed of the per-sample draws. */
  seed: number;
  /** Zero padding before the random crop. */
  pad: number;
  /** Mirror left-right with probability 1/2. */
  flip: boolean;
  /** Sample shape [H, W, C]. */
  shape: readonly number[];
}

/** Everything a training run takes from its data. */
export interface RunData {
  /** The samples trained on (the dataset's train split less any validation part). */
  train: Split;
  /** The samples evaluated on. */
  eval: Split;
  /** How samples enter the network. */
  pipeline: InputPipeline;
  /** Augmentation of training samples, when the spec asks for it. */
  augment?: Augmentation;
  /** Optimizer steps per epoch (the last partial batch is dropped). */
  stepsPerEpoch: number;
}

/**
 * The training and evaluation splits of `dataset` under `spec` (holding out
 * `data.validation_split` of the train split, seeded by `run.seed`), its
 * input pipeline, augmentation, and steps per epoch.
 */
export function runData(spec: RunSpec, dataset: Dataset): RunData {
  const pipeline = inputPipeline(spec, dataset);
  const sampleShape = dataset.inputShape;
  let train = dataset.train;
  let evaluated = dataset.test;
  if (spec.data.validation_split > 0) {
    const v = validationSplit(dataset.train.count, {
      fraction: spec.data.validation_split,
      seed: spec.run.seed,
    });
    train = subset(dataset.train, v.train, pipeline.size);
    evaluated = subset(dataset.train, v.validation, pipeline.size);
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
  return {
    train,
    eval: evaluated,
    pipeline,
    augment,
    stepsPerEpoch: stepsPerEpoch(train.count, spec.data.batch_size),
  };
}
