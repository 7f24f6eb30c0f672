/**
 * Batching with seeded, resumable shuffling.
 *
 * The order of epoch e is a pure function of (seed, e): a Fisher–Yates
 * shuffle whose draws are `hash3(seed, shuffle stream + e, i)`. A run resumed
 * at global step s therefore sees exactly the batches an uninterrupted run
 * would ({@link BatchLoader.locate} maps s to (epoch, step)). Batches are
 * index lists into the split; the loader reuses two preallocated arrays, so
 * stepping allocates nothing.
 * @module
 */
import { hash3 } from "../util/rng.ts";
import type { ImageArray, Split } from "./dataset.ts";
import { dataStream, STREAM_TAG } from "./streams.ts";

/**
 * Writes the permutation of 0…n-1 for (seed, epoch) into `out` (length n)
 * and returns it. Each swap index is ⌊h·(i+1)/2^32⌋ with a 32-bit hash h:
 * exact in float64, with bias below n/2^32.
 */
export function epochPermutation(
  n: number,
  seed: number,
  epoch: number,
  out: Uint32Array = new Uint32Array(n),
): Uint32Array {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`n must be a non-negative integer, got ${n}`);
  }
  if (out.length !== n) throw new RangeError(`out has length ${out.length}, expected n = ${n}`);
  const stream = dataStream(STREAM_TAG.shuffle, epoch);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((hash3(seed, stream, i) * (i + 1)) / 4294967296);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

/** How to carve a validation set out of a train split. */
export interface ValidationOptions {
  /** Fraction of the split, in (0, 1); the count is ⌊fraction·n⌋. */
  fraction?: number;
  /** Exact count instead of a fraction. */
  count?: number;
  /**
   * Without a seed the last `count` samples are taken (Keras'
   * `validation_split`; the Fashion-MNIST splits are class-interleaved, so
   * their tail is balanced). With a seed, a seeded random subset.
   */
  seed?: number;
}

/**
 * Deterministically splits indices 0…n-1 into train and validation parts,
 * both ascending. Throws RangeError when the count is not in [1, n-1].
 */
export function validationSplit(
  n: number,
  options: ValidationOptions,
): { train: Uint32Array; validation: Uint32Array } {
  const k = options.count ?? Math.floor((options.fraction ?? 0) * n);
  if (!Number.isInteger(k) || k < 1 || k >= n) {
    throw new RangeError(
      `validation size must be an integer in [1, ${n - 1}] for ${n} samples, got ${k} ` +
        `(count ${options.count}, fraction ${options.fraction})`,
    );
  }
  let order: Uint32Array;
  if (options.seed === undefined) {
    order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
  } else {
    // A stream of its own, so the carving never correlates with epoch 0's order.
    const stream = dataStream(STREAM_TAG.validation, 0);
    order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor((hash3(options.seed, stream, i) * (i + 1)) / 4294967296);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  }
  const train = order.slice(0, n - k).sort();
  const validation = order.slice(n - k).sort();
  return { train, validation };
}

/** Options of {@link BatchLoader}. */
export interface LoaderOptions {
  /** The samples to iterate: a count n (indices 0…n-1) or explicit indices. */
  samples: number | Uint32Array;
  /** Samples per batch (≥ 1). */
  batchSize: number;
  /** Shuffle seed. */
  seed: number;
  /** Shuffle each epoch (default true); false keeps the given order. */
  shuffle?: boolean;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
}

/** Epoch-ordered batches of sample indices, without per-step allocation. */
export class BatchLoader {
  /** Number of samples iterated per epoch (before dropping). */
  readonly size: number;
  /** Samples per full batch. */
  readonly batchSize: number;
  /** Batches per epoch (the last may be short unless `dropLast`). */
  readonly stepsPerEpoch: number;
  /** Shuffle seed. */
  readonly seed: number;
  readonly #samples: Uint32Array | undefined;
  readonly #shuffle: boolean;
  readonly #perm: Uint32Array;
  readonly #order: Uint32Array;
  readonly #full: Uint32Array;
  readonly #tail: Uint32Array;
  #epoch = -1;

  /** Validates the options and preallocates every buffer. */
  constructor(options: LoaderOptions) {
    const { samples, batchSize } = options;
    this.size = typeof samples === "number" ? samples : samples.length;
    if (!Number.isInteger(this.size) || this.size < 1) {
      throw new RangeError(
        `samples must be a positive count or non-empty indices, got ${this.size}`,
      );
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    if (options.dropLast && batchSize > this.size) {
      throw new RangeError(
        `batchSize ${batchSize} > ${this.size} samples with dropLast: no batch at all`,
      );
    }
    this.batchSize = batchSize;
    this.seed = options.seed;
    this.#samples = typeof samples === "number" ? undefined : samples;
    this.#shuffle = options.shuffle ?? true;
    const rem = this.size % batchSize;
    this.stepsPerEpoch = options.dropLast
      ? Math.floor(this.size / batchSize)
      : Math.ceil(this.size / batchSize);
    this.#perm = new Uint32Array(this.size);
    this.#order = new Uint32Array(this.size);
    this.#full = new Uint32Array(batchSize);
    this.#tail = new Uint32Array(options.dropLast || rem === 0 ? batchSize : rem);
  }

  /**
   * Sample indices of `epoch` in visiting order. The returned array is
   * reused: it is valid until the next call with another epoch.
   */
  order(epoch: number): Uint32Array {
    if (epoch !== this.#epoch) {
      if (this.#shuffle) epochPermutation(this.size, this.seed, epoch, this.#perm);
      else for (let i = 0; i < this.size; i++) this.#perm[i] = i;
      const s = this.#samples;
      for (let i = 0; i < this.size; i++) this.#order[i] = s ? s[this.#perm[i]] : this.#perm[i];
      this.#epoch = epoch;
    }
    return this.#order;
  }

  /** Number of samples in batch `step` (batchSize except a short last batch). */
  batchLength(step: number): number {
    this.#checkStep(step);
    return Math.min(this.batchSize, this.size - step * this.batchSize);
  }

  /**
   * The sample indices of batch `step` of `epoch`, written into a reused
   * array (its length is the batch length): copy it to keep it.
   */
  batch(epoch: number, step: number): Uint32Array {
    const len = this.batchLength(step);
    const order = this.order(epoch);
    const out = len === this.batchSize ? this.#full : this.#tail;
    const start = step * this.batchSize;
    for (let i = 0; i < len; i++) out[i] = order[start + i];
    return out;
  }

  /** Maps a global step (counted from 0 over all epochs) to (epoch, step in epoch). */
  locate(globalStep: number): { epoch: number; step: number } {
    if (!Number.isInteger(globalStep) || globalStep < 0) {
      throw new RangeError(`globalStep must be a non-negative integer, got ${globalStep}`);
    }
    return {
      epoch: Math.floor(globalStep / this.stepsPerEpoch),
      step: globalStep % this.stepsPerEpoch,
    };
  }

  #checkStep(step: number): void {
    if (!Number.isInteger(step) || step < 0 || step >= this.stepsPerEpoch) {
      throw new RangeError(`step must be an integer in [0, ${this.stepsPerEpoch}), got ${step}`);
    }
  }
}

/**
 * Copies the images and labels of `indices` from `split` into the first
 * `indices.length` slots of preallocated batch arrays: images NHWC (raw
 * values times `scale`), labels as f32 class indices (the engine's label
 * convention). Allocates nothing.
 */
export function gatherBatch(
  split: Split,
  imageSize: number,
  indices: ArrayLike<number>,
  outImages: Float32Array | Uint8Array,
  outLabels: Float32Array,
  scale = 1,
): void {
  const n = indices.length;
  if (outImages.length < n * imageSize || outLabels.length < n) {
    throw new RangeError(
      `batch arrays too small: outImages ${outImages.length} (need ${n * imageSize}), ` +
        `outLabels ${outLabels.length} (need ${n})`,
    );
  }
  const src: ImageArray = split.images;
  for (let b = 0; b < n; b++) {
    const idx = indices[b];
    if (!(idx >= 0 && idx < split.count)) {
      throw new RangeError(
        `index ${idx} at batch position ${b} is outside the split (${split.count})`,
      );
    }
    const s = idx * imageSize;
    const d = b * imageSize;
    if (scale === 1) { for (let i = 0; i < imageSize; i++) outImages[d + i] = src[s + i]; }
    else for (let i = 0; i < imageSize; i++) outImages[d + i] = src[s + i] * scale;
    outLabels[b] = split.labels[idx];
  }
}
