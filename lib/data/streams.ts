/**
 * Random-number streams of the data pipeline (see lib/util/rng.ts).
 *
 * Every random decision is `hash3(seed, stream, index)` with the stream
 * chosen here, so shuffling, validation carving, augmentation and synthetic
 * data never share numbers, and a GPU port (WGSL `rng_hash3`) only has to
 * reproduce `tag + epoch` to draw the same values.
 * @module
 */

/** Stream tags; epochs are added to them, so each tag owns 2^28 epochs. */
export const STREAM_TAG = {
  /** Epoch permutations (loader.ts). */
  shuffle: 0x1000_0000,
  /** Random crop and flip (augment_ref.ts). */
  augment: 0x2000_0000,
  /** Seeded validation carving (loader.ts). */
  validation: 0x3000_0000,
  /** Synthetic datasets (synthetic.ts). */
  synthetic: 0x4000_0000,
} as const;

/** The stream for `tag` in `epoch` (`epoch` in [0, 2^28)). */
export function dataStream(tag: number, epoch: number): number {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch >= 0x1000_0000) {
    throw new RangeError(`epoch must be an integer in [0, 2^28), got ${epoch}`);
  }
  return (tag + epoch) >>> 0;
}
