/**
 * The layer kinds without parameters: activations, pooling, `flatten` and
 * `dropout`. Each is declared once: schema (→ docs/yaml-reference.md),
 * compile step to its op's config, and its builder function.
 *
 * Named exports are the builders only (re-exported by dsl/builder.ts with
 * `export *`); the declarations are the default export, which `export *`
 * leaves out.
 * @module
 */
import { clean, defined, fraction, nonNegIntOrPair, pair, posIntOrPair } from "./primitives.ts";
import {
  type BuilderOptions,
  layerKind,
  leafLayer,
  type NameOpt,
  type WrittenLayer,
} from "./layer_kind.ts";

const reluKind = layerKind("relu", leafLayer("relu", {}, "max(x, 0)."), () => ({}));
const geluKind = layerKind(
  "gelu",
  leafLayer(
    "gelu",
    {},
    'x·Φ(x) in its tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (PyTorch `nn.GELU(approximate="tanh")`).',
  ),
  () => ({}),
);
const tanhKind = layerKind("tanh", leafLayer("tanh", {}, "tanh(x)."), () => ({}));
const sigmoidKind = layerKind("sigmoid", leafLayer("sigmoid", {}, "1 / (1 + e^−x)."), () => ({}));

/** The schema of both window poolings; `stride` defaults to `kernel` (filled in by a transform). */
function windowPool<T extends "maxpool2d" | "avgpool2d">(type: T, description: string) {
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

/** A window pooling's op config. */
function windowConfig(
  l: { kernel: number | number[]; stride: number | number[]; padding: number | number[] },
) {
  return { kernel: pair(l.kernel), stride: pair(l.stride), padding: pair(l.padding) };
}

const maxpool2dKind = layerKind(
  "maxpool2d",
  windowPool(
    "maxpool2d",
    "Max over each window; padded positions never win (PyTorch `nn.MaxPool2d`, floor mode).",
  ),
  windowConfig,
);
const avgpool2dKind = layerKind(
  "avgpool2d",
  windowPool(
    "avgpool2d",
    "Mean over each window; padded zeros count in the divisor (PyTorch `nn.AvgPool2d` defaults, floor mode).",
  ),
  windowConfig,
);
const globalAvgPoolKind = layerKind(
  "global_avg_pool",
  leafLayer("global_avg_pool", {}, "Mean over height and width: [N, H, W, C] → [N, C]."),
  () => ({}),
);
const flattenKind = layerKind(
  "flatten",
  leafLayer("flatten", {}, "Reshape [N, H, W, C] → [N, H·W·C] (NHWC order; no copy)."),
  () => ({}),
);
const dropoutKind = layerKind(
  "dropout",
  leafLayer(
    "dropout",
    { p: fraction.default(0.5).describe("Probability of zeroing an element.") },
    "Inverted dropout: in training each element is zeroed with probability p and the rest scaled by 1/(1 − p); identity in evaluation.",
  ),
  (l) => ({ p: l.p }),
);

/** These layer kinds, in the order the reference lists them. */
export default {
  relu: reluKind,
  gelu: geluKind,
  tanh: tanhKind,
  sigmoid: sigmoidKind,
  maxpool2d: maxpool2dKind,
  avgpool2d: avgpool2dKind,
  global_avg_pool: globalAvgPoolKind,
  flatten: flattenKind,
  dropout: dropoutKind,
};

// The builders' types, derived from the schemas (fields: docs/yaml-reference.md).
/** @ignore */
type ReluInput = WrittenLayer<typeof reluKind>;
/** @ignore */
type GeluInput = WrittenLayer<typeof geluKind>;
/** @ignore */
type TanhInput = WrittenLayer<typeof tanhKind>;
/** @ignore */
type SigmoidInput = WrittenLayer<typeof sigmoidKind>;
/** @ignore */
type MaxPool2dInput = WrittenLayer<typeof maxpool2dKind>;
/** @ignore */
type MaxPool2dOptions = BuilderOptions<typeof maxpool2dKind, "kernel">;
/** @ignore */
type AvgPool2dInput = WrittenLayer<typeof avgpool2dKind>;
/** @ignore */
type AvgPool2dOptions = BuilderOptions<typeof avgpool2dKind, "kernel">;
/** @ignore */
type GlobalAvgPoolInput = WrittenLayer<typeof globalAvgPoolKind>;
/** @ignore */
type FlattenInput = WrittenLayer<typeof flattenKind>;
/** @ignore */
type DropoutInput = WrittenLayer<typeof dropoutKind>;
/** @ignore */
type DropoutOptions = BuilderOptions<typeof dropoutKind, "p">;

/** ReLU. */
export function relu(opts?: NameOpt): ReluInput {
  return { type: "relu", ...defined(opts) };
}

/** GELU (tanh approximation). */
export function gelu(opts?: NameOpt): GeluInput {
  return { type: "gelu", ...defined(opts) };
}

/** tanh. */
export function tanh(opts?: NameOpt): TanhInput {
  return { type: "tanh", ...defined(opts) };
}

/** Logistic sigmoid. */
export function sigmoid(opts?: NameOpt): SigmoidInput {
  return { type: "sigmoid", ...defined(opts) };
}

/** Max pooling with window `kernel` (stride defaults to the kernel). */
export function maxpool2d(
  kernel: number | [number, number],
  opts?: MaxPool2dOptions,
): MaxPool2dInput {
  return { type: "maxpool2d", kernel, ...defined(opts) };
}

/** Average pooling with window `kernel` (stride defaults to the kernel). */
export function avgpool2d(
  kernel: number | [number, number],
  opts?: AvgPool2dOptions,
): AvgPool2dInput {
  return { type: "avgpool2d", kernel, ...defined(opts) };
}

/** Mean over height and width. */
export function globalAvgPool(opts?: NameOpt): GlobalAvgPoolInput {
  return { type: "global_avg_pool", ...defined(opts) };
}

/** Flatten [N, H, W, C] → [N, H·W·C]. */
export function flatten(opts?: NameOpt): FlattenInput {
  return { type: "flatten", ...defined(opts) };
}

/** Dropout; `p` defaults (in the schema) to 0.5. */
export function dropout(p?: number, opts?: DropoutOptions): DropoutInput {
  return { type: "dropout", ...defined({ p }), ...defined(opts) };
}
