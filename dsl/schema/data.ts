/**
 * The data section: which dataset (from the one table of datasets,
 * lib/data/dataset.ts), batching, validation split, normalisation and
 * augmentation, with the checks that depend on the dataset.
 * @module
 */
import { z } from "zod";
import { DATASET_NAMES, type DatasetName, DATASETS } from "../../lib/data/dataset.ts";
import { PATH_RULES, pathString } from "../strings.ts";
import { clean, fraction, nonNegInt, posInt, posNum } from "./primitives.ts";

const normalizeSchema = z
  .strictObject({
    mean: z.array(z.number()).min(1).describe(
      "Per-channel mean (one value broadcasts to all channels).",
    ),
    std: z.array(posNum).min(1).describe("Per-channel standard deviation, > 0."),
  })
  .superRefine((v, ctx) => {
    if (!clean(ctx)) return;
    if (v.mean.length !== v.std.length) {
      ctx.addIssue({
        code: "custom",
        path: ["std"],
        message: `mean has ${v.mean.length} values but std has ${v.std.length}`,
      });
    }
  })
  .describe("x ← (x − mean) / std per channel, after pixels are scaled to [0, 1].");

const augmentSchema = z
  .strictObject({
    random_crop: z
      .strictObject({
        size: posInt.describe("Side of the square crop."),
        padding: nonNegInt.default(0).describe("Zero padding added on each side before cropping."),
      })
      .optional()
      .describe(
        "Pad, then crop a random size×size window per training sample (seeded); evaluation samples take the centred window, so both have the same shape.",
      ),
    horizontal_flip: z.boolean().default(false).describe("Mirror left-right with probability 1/2."),
  })
  .describe("Training-time augmentation (never applied to evaluation data).");

/** Most values the synthetic training split may hold (the generator keeps them in one float32 array). */
const MAX_SYNTHETIC_VALUES = 2 ** 28;

const syntheticSchema = z
  .strictObject({
    samples: posInt.describe("Number of training samples."),
    classes: z.int().min(2).max(256).describe("Number of classes (labels are stored as bytes)."),
    shape: z
      .array(posInt)
      .refine((s) => s.length === 1 || s.length === 3, {
        error: "expected [features] or [height, width, channels]",
      })
      .describe("Sample shape, [height, width, channels] or [features]."),
    seed: nonNegInt.default(0).describe("Generator seed (independent of run.seed)."),
  })
  .superRefine((v, ctx) => {
    if (!clean(ctx)) return;
    const values = v.samples * v.shape.reduce((a, b) => a * b, 1);
    if (values > MAX_SYNTHETIC_VALUES) {
      ctx.addIssue({
        code: "custom",
        path: ["samples"],
        message: `${v.samples} samples of shape ${JSON.stringify(v.shape)} are ${
          (values * 4 / 2 ** 30).toFixed(1)
        } GiB of float32 values; at most ${MAX_SYNTHETIC_VALUES * 4 / 2 ** 30} GiB`,
      });
    }
  })
  .describe(
    "Random labelled data, for tests and benchmarks (samples × values per sample at most 2²⁸, 1 GiB).",
  );

/** A file-name stem: letters, digits, `.`, `_`, `-`; no directory part. */
const fileStem = z.string().regex(/^(?!\.\.?$)[\w.-]{1,200}$/, {
  error: "expected a file-name stem (letters, digits, . _ -; at most 200 characters, no /)",
});

const idxPrefixSchema = z
  .strictObject({
    train: fileStem.default("train").describe(
      "Training files: <train>-images-idx3-ubyte and <train>-labels-idx1-ubyte.",
    ),
    test: fileStem.default("t10k").describe(
      "Test files: <test>-images-idx3-ubyte and <test>-labels-idx1-ubyte.",
    ),
  })
  .describe(
    "Names of IDX files in path, e.g. {train: emnist-digits-train, test: emnist-digits-test}. Each file may also be gzipped (.gz) or spelled <prefix>-images.idx3-ubyte.",
  );

/** The data section. */
export const DataSchema = z
  .strictObject({
    dataset: z.enum(DATASET_NAMES as [DatasetName, ...DatasetName[]]).describe(
      "Which dataset (see the dataset table below).",
    ),
    path: pathString.optional().describe(
      "Directory holding the dataset files; required for mnist, cifar10 and cifar100. " +
        PATH_RULES,
    ),
    batch_size: posInt.default(128).describe("Samples per training step."),
    shuffle: z.boolean().default(true).describe(
      "Reshuffle the training set each epoch (seeded by run.seed).",
    ),
    validation_split: fraction.default(0).describe(
      "Fraction of the training set held out for evaluation; 0 evaluates on the dataset's test split.",
    ),
    normalize: normalizeSchema.optional().describe(
      "Input normalisation. Default: the dataset's own mean/std (table below); synthetic: none.",
    ),
    augment: augmentSchema.optional().describe("Training-time augmentation; none when absent."),
    synthetic: syntheticSchema.optional().describe(
      "Required when dataset is synthetic, rejected otherwise.",
    ),
    idx_prefix: idxPrefixSchema.optional().describe(
      "IDX file names in path (mnist, or fashion-mnist with a path). Default: train-* and t10k-*, as MNIST and Fashion-MNIST ship them.",
    ),
  })
  .superRefine((v, ctx) => {
    // Which sections a dataset needs depends on `dataset` alone: checked even
    // when other fields are invalid.
    const info = DATASETS[v.dataset] as (typeof DATASETS)[DatasetName] | undefined;
    if (!info) return;
    if (info.path === "required" && v.path === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["path"],
        message: `dataset ${v.dataset} is read from disk: give its directory in path`,
      });
    }
    if (v.dataset === "synthetic" && v.path !== undefined) {
      ctx.addIssue({ code: "custom", path: ["path"], message: "dataset synthetic takes no path" });
    }
    if (v.dataset === "synthetic" && v.synthetic === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["synthetic"],
        message: "dataset synthetic needs a synthetic section {samples, classes, shape}",
      });
    }
    const idx = v.dataset === "mnist" || (v.dataset === "fashion-mnist" && v.path !== undefined);
    if (v.idx_prefix !== undefined && !idx) {
      ctx.addIssue({
        code: "custom",
        path: ["idx_prefix"],
        message: "idx_prefix names IDX files in path: only for mnist, or fashion-mnist with a path",
      });
    }
    if (v.dataset !== "synthetic" && v.synthetic !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["synthetic"],
        message: `synthetic is only used with dataset synthetic, not ${v.dataset}`,
      });
    }
    if (!clean(ctx)) return;
    const shape = sampleShape(v);
    const channels = shape && shape.length === 3 ? shape[2] : 1;
    if (v.normalize && shape && ![1, channels].includes(v.normalize.mean.length)) {
      ctx.addIssue({
        code: "custom",
        path: ["normalize", "mean"],
        message:
          `expected 1 or ${channels} values (the samples have ${channels} channels), got ${v.normalize.mean.length}`,
      });
    }
    if (v.augment && shape && shape.length !== 3) {
      ctx.addIssue({
        code: "custom",
        path: ["augment"],
        message: `augmentation needs image samples [h, w, c], got shape ${JSON.stringify(shape)}`,
      });
    }
    const crop = v.augment?.random_crop;
    const base = sampleShape({ ...v, augment: undefined });
    if (crop && base?.length === 3) {
      const room = Math.min(base[0], base[1]) + 2 * crop.padding;
      if (crop.size > room) {
        ctx.addIssue({
          code: "custom",
          path: ["augment", "random_crop", "size"],
          message: `crop ${crop.size} is larger than the padded image (${room})`,
        });
      }
    }
  })
  .transform((v) => {
    // The per-dataset normalisation default depends on `dataset`, so it is
    // filled in here rather than by `.default()`.
    const info = DATASETS[v.dataset];
    return { ...v, normalize: v.normalize ?? { mean: [...info.mean], std: [...info.std] } };
  })
  .describe("Dataset, batching and input pipeline.");

/** Shape of one sample as the loader yields it (after cropping), or undefined if unknown. */
export function sampleShape(
  data: {
    dataset: DatasetName;
    synthetic?: { shape: number[] } | undefined;
    augment?: { random_crop?: { size: number } | undefined } | undefined;
  },
): number[] | undefined {
  const base = data.dataset === "synthetic"
    ? data.synthetic?.shape
    : [...DATASETS[data.dataset].shape];
  const crop = data.augment?.random_crop;
  if (base && crop && base.length === 3) return [crop.size, crop.size, base[2]];
  return base;
}

/** The number of classes of a validated data section's dataset. */
export function classCount(
  data: { dataset: DatasetName; synthetic?: { classes: number } },
): number {
  return DATASETS[data.dataset].classes ?? data.synthetic!.classes;
}
