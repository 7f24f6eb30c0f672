/**
 * The layer kinds with parameters: `linear`, `conv2d`, `batchnorm2d`. Each is
 * declared once: schema (→ docs/yaml-reference.md), compile step to its op's
 * config, and its builder function.
 *
 * Named exports are the builders only (the public vocabulary, re-exported by
 * dsl/builder.ts with `export *`); the declarations are the default export,
 * which `export *` leaves out.
 * @module
 */
import { z } from "zod";
import { ShapeError } from "../../lib/ops/types.ts";
import { clean, defined, nonNegInt, pair, posInt, posIntOrPair, posNum } from "./primitives.ts";
import { type BuilderOptions, layerKind, leafLayer, type WrittenLayer } from "./layer_kind.ts";

const linearKind = layerKind(
  "linear",
  leafLayer("linear", {
    out: posInt.describe("Number of output features."),
    bias: z.boolean().default(true).describe("Add a learned bias."),
  }, "Fully connected layer, y = x·Wᵀ + b with W of shape [out, in] (PyTorch `nn.Linear`)."),
  (l) => ({ out: l.out, bias: l.bias }),
);

const conv2dKind = layerKind(
  "conv2d",
  leafLayer(
    "conv2d",
    {
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
    },
    "2-D convolution over NHWC activations; weight [out, in/groups, kh, kw] (PyTorch `nn.Conv2d`).",
  )
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
    }),
  (l, name) => {
    const kernel = pair(l.kernel);
    const dilation = pair(l.dilation);
    let padding: [number, number];
    if (l.padding === "same") {
      const total = kernel.map((k, i) => dilation[i] * (k - 1));
      if (total.some((t) => t % 2 !== 0)) {
        throw new ShapeError(
          name,
          "conv2d",
          `padding "same" with kernel [${kernel}] and dilation [${dilation}] needs asymmetric padding, which is not supported; give explicit padding`,
        );
      }
      padding = [total[0] / 2, total[1] / 2];
    } else padding = pair(l.padding);
    return {
      out: l.out,
      kernel,
      stride: pair(l.stride),
      padding,
      dilation,
      groups: l.groups,
      bias: l.bias,
    };
  },
);

const batchnorm2dKind = layerKind(
  "batchnorm2d",
  leafLayer(
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
  ),
  (l) => ({ eps: l.eps, momentum: l.momentum }),
);

/** These layer kinds, in the order the reference lists them. */
export default {
  linear: linearKind,
  conv2d: conv2dKind,
  batchnorm2d: batchnorm2dKind,
};

// The builders' types, derived from the schemas (fields: docs/yaml-reference.md).
/** @ignore */
type LinearInput = WrittenLayer<typeof linearKind>;
/** @ignore */
type LinearOptions = BuilderOptions<typeof linearKind, "out">;
/** @ignore */
type Conv2dInput = WrittenLayer<typeof conv2dKind>;
/** @ignore */
type Conv2dOptions = BuilderOptions<typeof conv2dKind, "out" | "kernel">;
/** @ignore */
type BatchNorm2dInput = WrittenLayer<typeof batchnorm2dKind>;
/** @ignore */
type BatchNorm2dOptions = BuilderOptions<typeof batchnorm2dKind>;

/** Fully connected layer with `out` features. */
export function linear(out: number, opts?: LinearOptions): LinearInput {
  return { type: "linear", out, ...defined(opts) };
}

/** 2-D convolution with `out` channels and a `kernel` (k or [kh, kw]). */
export function conv2d(
  out: number,
  kernel: number | [number, number],
  opts?: Conv2dOptions,
): Conv2dInput {
  return { type: "conv2d", out, kernel, ...defined(opts) };
}

/** Batch normalisation over channels. */
export function batchnorm2d(opts?: BatchNorm2dOptions): BatchNorm2dInput {
  return { type: "batchnorm2d", ...defined(opts) };
}
