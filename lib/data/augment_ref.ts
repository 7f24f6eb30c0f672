/**
 * CPU reference of the training augmentation: random crop with zero
 * padding, random horizontal flip, per-channel normalisation. The GPU port
 * must match it bit for bit in its random draws and to f32 rounding in its
 * values.
 *
 * Semantics are torchvision's `RandomCrop(size, padding=pad)` →
 * `RandomHorizontalFlip()` → `Normalize(mean, std)`: the image is padded
 * with raw value 0 (so padded pixels normalise to -mean/std), a window of
 * the original size is cut at offset (dy, dx) ∈ [0, 2·pad]², then mirrored
 * left-right with probability ½:
 *
 *   out(y, x, c) = norm_c(img(y + dy - pad, (flip ? W-1-x : x) + dx - pad, c))
 *
 * Draws for sample s of epoch e (s = the sample's index in its split, so
 * the same sample gets the same augmentation wherever it lands in a batch):
 * h_j = hash3(seed, augment stream + e, 3·s + j) for j = 0, 1, 2;
 * dy = (h_0 >> 8)·(2·pad+1) >> 24, dx likewise from h_1 (integer-only, so
 * WGSL's u32 arithmetic gives the same values), flip = top bit of h_2.
 * @module
 */
import { hash3 } from "../util/rng.ts";
import type { ImageArray, Normalization } from "./dataset.ts";
import { dataStream, STREAM_TAG } from "./streams.ts";

/** The random decisions for one sample. */
export interface AugmentDraw {
  /** Vertical crop offset in [0, 2·pad]. */
  dy: number;
  /** Horizontal crop offset in [0, 2·pad]. */
  dx: number;
  /** Mirror left-right. */
  flip: boolean;
}

/** Augmentation settings. */
export interface AugmentOptions {
  /** Seed of the run. */
  seed: number;
  /** Epoch (draws change every epoch). */
  epoch: number;
  /** Zero padding for the random crop, 0…127 (0 disables cropping). */
  pad: number;
  /** Enable random horizontal flips. */
  flip: boolean;
  /** Normalisation applied last (see `Normalization`). */
  normalization: Normalization;
}

/** Maps the top 24 bits of `h` to [0, m) with integer arithmetic only. */
function below(h: number, m: number): number {
  return Math.floor(((h >>> 8) * m) / 16777216);
}

/** The draws of sample `sample` (split index) in `epoch`. */
export function augmentDraw(
  seed: number,
  epoch: number,
  sample: number,
  pad: number,
  flip: boolean,
): AugmentDraw {
  if (!Number.isInteger(pad) || pad < 0 || pad > 127) {
    throw new RangeError(`pad must be an integer in [0, 127], got ${pad}`);
  }
  const stream = dataStream(STREAM_TAG.augment, epoch);
  const base = (3 * sample) >>> 0;
  const span = 2 * pad + 1;
  return {
    dy: below(hash3(seed, stream, base), span),
    dx: below(hash3(seed, stream, (base + 1) >>> 0), span),
    flip: flip && hash3(seed, stream, (base + 2) >>> 0) >>> 31 === 1,
  };
}

/**
 * Augments one HWC image: reads image `srcIndex` of `src` and writes the
 * result at image `dstIndex` of `out` (float64 arithmetic, stored as f32).
 */
export function augmentImageRef(
  src: ImageArray,
  inputShape: readonly number[],
  srcIndex: number,
  out: Float32Array,
  dstIndex: number,
  draw: AugmentDraw,
  pad: number,
  normalization: Normalization,
): void {
  const [h, w, c] = inputShape;
  const size = h * w * c;
  const { scale, mean, std } = normalization;
  if (mean.length !== c || std.length !== c) {
    throw new RangeError(
      `normalization has ${mean.length} means / ${std.length} stds for ${c} channels`,
    );
  }
  const s0 = srcIndex * size;
  const d0 = dstIndex * size;
  for (let y = 0; y < h; y++) {
    const sy = y + draw.dy - pad;
    for (let x = 0; x < w; x++) {
      const sx = (draw.flip ? w - 1 - x : x) + draw.dx - pad;
      const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
      for (let k = 0; k < c; k++) {
        const raw = inside ? src[s0 + (sy * w + sx) * c + k] : 0;
        out[d0 + (y * w + x) * c + k] = (raw * scale - mean[k]) / std[k];
      }
    }
  }
}

/**
 * Augments a batch: image b of `out` (NHWC, f32) is sample `indices[b]` of
 * `images`, transformed with that sample's draws for `options.epoch`.
 */
export function augmentBatchRef(
  images: ImageArray,
  inputShape: readonly number[],
  indices: ArrayLike<number>,
  options: AugmentOptions,
  out: Float32Array,
): void {
  const [h, w, c] = inputShape;
  const size = h * w * c;
  if (out.length < indices.length * size) {
    throw new RangeError(`out has ${out.length} values, the batch needs ${indices.length * size}`);
  }
  for (let b = 0; b < indices.length; b++) {
    const idx = indices[b];
    if (!((idx + 1) * size <= images.length && idx >= 0)) {
      throw new RangeError(
        `index ${idx} at batch position ${b} is outside images (${images.length / size})`,
      );
    }
    const draw = augmentDraw(options.seed, options.epoch, idx, options.pad, options.flip);
    augmentImageRef(images, inputShape, idx, out, b, draw, options.pad, options.normalization);
  }
}
