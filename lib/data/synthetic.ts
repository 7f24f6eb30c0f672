/**
 * Seeded synthetic classification data for tests and smoke runs.
 *
 * Each class has a smooth prototype image: per channel, a sum of three
 * plane waves with random frequency (1–3 cycles per image side), direction
 * and phase. A sample is its class prototype plus i.i.d. Gaussian noise of
 * standard deviation `noise`, so a linear model or a small CNN can learn it
 * and `noise` sets the difficulty. Labels cycle 0, 1, …, classes-1, so every
 * split is balanced. A feature-vector shape `[F]` is generated as a one-row,
 * one-channel image `[1, F, 1]`. Everything derives from `seed` via
 * lib/util/rng.ts.
 * @module
 */
import { Rng } from "../util/rng.ts";
import { channelStats, type Dataset, sampleSize, type Split } from "./dataset.ts";
import { STREAM_TAG } from "./streams.ts";

/** Options of {@link syntheticDataset}. */
export interface SyntheticOptions {
  /** `[H, W, C]`, or `[features]` (generated as one row of one channel). */
  inputShape: number[];
  /** Number of classes (2…256). */
  classes: number;
  /** Train images. */
  trainCount: number;
  /** Test images. */
  testCount: number;
  /** Seed for prototypes and noise. */
  seed: number;
  /** Noise standard deviation relative to the prototypes' amplitude ~1 (default 1). */
  noise?: number;
  /** Dataset name (default `synthetic`). */
  name?: string;
}

/** The class prototypes: `classes·H·W·C` values, NHWC, amplitude about 1 (`[F]` as `[1, F, 1]`). */
export function syntheticPrototypes(
  inputShape: readonly number[],
  classes: number,
  seed: number,
): Float32Array {
  const size = sampleSize(inputShape);
  const [h, w, c] = inputShape.length === 3 ? inputShape : [1, inputShape[0], 1];
  const out = new Float32Array(classes * size);
  const rng = new Rng(seed, STREAM_TAG.synthetic);
  const waves = 3;
  for (let k = 0; k < classes; k++) {
    for (let ch = 0; ch < c; ch++) {
      for (let q = 0; q < waves; q++) {
        const freq = 1 + 2 * rng.next();
        const angle = 2 * Math.PI * rng.next();
        const phase = 2 * Math.PI * rng.next();
        const fy = (freq * Math.sin(angle)) / h;
        const fx = (freq * Math.cos(angle)) / w;
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            // 1/√waves keeps the summed amplitude about 1 whatever the wave count.
            out[k * size + (y * w + x) * c + ch] +=
              Math.sin(2 * Math.PI * (fy * y + fx * x) + phase) /
              Math.sqrt(waves);
          }
        }
      }
    }
  }
  return out;
}

/** One split: sample i has label i mod classes and noise from its own stream. */
function makeSplit(
  protos: Float32Array,
  size: number,
  classes: number,
  count: number,
  noise: number,
  rng: Rng,
): Split {
  const images = new Float32Array(count * size);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    labels[i] = label;
    for (let p = 0; p < size; p++) {
      images[i * size + p] = protos[label * size + p] + noise * rng.normal();
    }
  }
  return { images, labels, count };
}

/** Builds a synthetic dataset (float images; normalisation from its train split). */
export function syntheticDataset(options: SyntheticOptions): Dataset {
  const { inputShape, classes, trainCount, testCount, seed } = options;
  const size = sampleSize(inputShape);
  if (!Number.isInteger(classes) || classes < 2 || classes > 256) {
    throw new RangeError(`classes must be an integer in [2, 256], got ${classes}`);
  }
  for (const [k, v] of [["trainCount", trainCount], ["testCount", testCount]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${k} must be a positive integer, got ${v}`);
    }
  }
  const noise = options.noise ?? 1;
  const protos = syntheticPrototypes(inputShape, classes, seed);
  // Streams distinct from the prototypes' (synthetic + 0).
  const train = makeSplit(
    protos,
    size,
    classes,
    trainCount,
    noise,
    new Rng(seed, STREAM_TAG.synthetic + 1),
  );
  const test = makeSplit(
    protos,
    size,
    classes,
    testCount,
    noise,
    new Rng(seed, STREAM_TAG.synthetic + 2),
  );
  return {
    name: options.name ?? "synthetic",
    inputShape: [...inputShape],
    classes,
    train,
    test,
    normalization: { scale: 1, ...channelStats(train, inputShape) },
  };
}
