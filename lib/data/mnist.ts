/**
 * MNIST-format datasets from IDX files on disk (MNIST itself, and also the
 * official Fashion-MNIST or KMNIST files, which use the same names).
 *
 * Files are looked up in `dir` under the usual names, each with or without
 * `.gz`: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
 * `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (the dotted variants
 * `train-images.idx3-ubyte` are accepted too). Other sets name their files
 * differently (`emnist-digits-train-…`, `emnist-digits-test-…`): pass the
 * parts before `-images`/`-labels` as `prefix`. Needs `--allow-read` on `dir`.
 * @module
 */
import { channelStats, type Dataset, NORMALIZATION, type Split, validateSplit } from "./dataset.ts";
import { DataError } from "./errors.ts";
import { firstExisting } from "./gzip.ts";
import { readIdxFile } from "./idx.ts";

/** Options of {@link loadMnist}. */
export interface MnistOptions {
  /** Directory holding the four IDX files. */
  dir: string;
  /** Dataset name (selects the default normalisation); default `mnist`. */
  name?: string;
  /** Number of classes; default 10. */
  classes?: number;
  /** File-name prefixes of the two splits; default `{ train: "train", test: "t10k" }`. */
  prefix?: { train: string; test: string };
}

/** Candidate paths for one of the four files, plain and gzip, both spellings. */
function candidates(dir: string, prefix: string, kind: "images" | "labels"): string[] {
  const rank = kind === "images" ? 3 : 1;
  const names = [`${prefix}-${kind}-idx${rank}-ubyte`, `${prefix}-${kind}.idx${rank}-ubyte`];
  return names.flatMap((n) => [`${dir}/${n}`, `${dir}/${n}.gz`]);
}

/** Reads one split (images + labels) and checks they agree. */
async function readSplit(dir: string, prefix: string, classes: number): Promise<{
  split: Split;
  shape: number[];
}> {
  const imgCands = candidates(dir, prefix, "images");
  const lblCands = candidates(dir, prefix, "labels");
  const imgPath = await firstExisting(imgCands);
  const lblPath = await firstExisting(lblCands);
  if (!imgPath) {
    throw new DataError(imgCands[0], "file not found (also tried .gz and dotted names)");
  }
  if (!lblPath) {
    throw new DataError(lblCands[0], "file not found (also tried .gz and dotted names)");
  }
  const images = await readIdxFile(imgPath, { dims: [undefined, undefined, undefined] });
  const labels = await readIdxFile(lblPath, { dims: [undefined] });
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) {
    throw new DataError(lblPath, `${labels.dims[0]} labels, but ${imgPath} has ${n} images`);
  }
  const split: Split = { images: images.data, labels: labels.data, count: n };
  validateSplit(lblPath, split, [h, w, 1], classes);
  return { split, shape: [h, w, 1] };
}

/**
 * Loads an MNIST-format dataset from `dir`. Missing, truncated or corrupt
 * files, mismatched counts or shapes, and labels ≥ `classes` throw
 * {@link DataError} naming the file.
 */
export async function loadMnist(options: MnistOptions): Promise<Dataset> {
  const name = options.name ?? "mnist";
  const classes = options.classes ?? 10;
  const prefix = options.prefix ?? { train: "train", test: "t10k" };
  const train = await readSplit(options.dir, prefix.train, classes);
  const test = await readSplit(options.dir, prefix.test, classes);
  if (train.shape.join() !== test.shape.join()) {
    throw new DataError(
      options.dir,
      `train images are [${train.shape}] but test images are [${test.shape}]`,
    );
  }
  const normalization = NORMALIZATION[name] ??
    { scale: 1 / 255, ...channelStats(train.split, train.shape, 1 / 255) };
  return {
    name,
    inputShape: train.shape,
    classes,
    train: train.split,
    test: test.split,
    normalization,
  };
}
