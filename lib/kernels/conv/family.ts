/**
 * The conv kernel families `conv.forward`, `conv.input` and `conv.weight`
 * (lib/kernels/tune/family.ts): problems, variants, the untuned choice, the
 * tuner's candidates, WGSL and timing commands.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { writeTensor } from "../../gpu/transfer.ts";
import type { Command } from "../../gpu/commands.ts";
import type { KernelFamily } from "../tune/family.ts";
import {
  type Conv2dGeometry,
  type ConvDims,
  convDims,
  type ConvPass,
  convShapes,
} from "./geometry.ts";
import { convCandidates, convHeuristic, convVariantList, convVariantValid } from "./variants.ts";
import { forwardCodes, forwardCommands } from "./forward.ts";
import { inputCodes, inputCommands } from "./input.ts";
import { weightCodes, weightCommands } from "./weight.ts";

/** A conv problem: its geometry and whether the pass carries a bias (forward, weight). */
export interface ConvProblem {
  /** The convolution. */
  geom: Conv2dGeometry;
  /** Bias added (forward) or its gradient computed (weight); ignored by the input pass. */
  bias: boolean;
}

/** Cache-key text of a geometry: every field, in a fixed order. */
export function geometryKey(g: Conv2dGeometry): string {
  return `n${g.batch} ${g.inH}x${g.inW}x${g.inC}->${g.outC} k${g.kh}x${g.kw} s${g.strideH}x${g.strideW}` +
    ` p${g.padH}x${g.padW} d${g.dilationH}x${g.dilationW} g${g.groups}`;
}

/**
 * Throws a RangeError naming the valid variants unless `variant` can run
 * `which` pass of `d` here.
 */
export function checkConvVariant(gpu: Gpu, d: ConvDims, which: ConvPass, variant: string): void {
  if (!convVariantValid(gpu, d, which, variant)) {
    throw new RangeError(
      `conv2d ${which}: unknown or unsupported variant "${variant}" (valid here: ${
        convVariantList(gpu, d, which).join(", ")
      })`,
    );
  }
}

/** Small finite values (timing must not depend on them, but NaN paths could). */
function fill(gpu: Gpu, t: Tensor, seed: number): Tensor {
  writeTensor(
    gpu,
    t,
    Float32Array.from({ length: t.size }, (_, i) => ((i * 7919 + seed) % 17) / 17 - 0.5),
  );
  return t;
}

function scratch(gpu: Gpu, p: ConvProblem, arena: BufferArena) {
  const s = convShapes(convDims(p.geom));
  return {
    x: () => fill(gpu, arena.tensor("tune.x", s.x), 1),
    w: () => fill(gpu, arena.tensor("tune.w", s.w), 2),
    dy: () => fill(gpu, arena.tensor("tune.dy", s.y), 3),
    bias: () => (p.bias ? fill(gpu, arena.tensor("tune.bias", s.bias), 4) : undefined),
    out: (shape: number[]) => arena.tensor("tune.out", shape),
    s,
  };
}

function family(which: ConvPass, id: string): KernelFamily<ConvProblem> {
  const bias = (p: ConvProblem) => which !== "input" && p.bias;
  const dims = (p: ConvProblem) => convDims(p.geom);
  return {
    id,
    key: (p) => `${geometryKey(p.geom)}${bias(p) ? " bias" : ""}`,
    variants: (gpu, p) => convVariantList(gpu, dims(p), which, bias(p)),
    heuristic: (gpu, p) => convHeuristic(gpu, dims(p), which, bias(p)),
    candidates: (gpu, p) => convCandidates(gpu, dims(p), which, bias(p)),
    // Every pass does the forward's products: 2·N·Ho·Wo·Cout·Cin_g·kh·kw.
    work(p) {
      const d = dims(p);
      return 2 * d.batch * d.outH * d.outW * d.outC * d.cinG * d.kpos;
    },
    wgsl(gpu, p, variant) {
      const d = dims(p);
      checkConvVariant(gpu, d, which, variant);
      if (which === "forward") return forwardCodes(gpu, d, bias(p), variant);
      if (which === "input") return inputCodes(gpu, d, variant);
      return weightCodes(gpu, d, bias(p), variant);
    },
    benchCommands(gpu, p, variant, arena): Command[] {
      const d = dims(p);
      checkConvVariant(gpu, d, which, variant);
      const t = scratch(gpu, p, arena);
      if (which === "forward") {
        return forwardCommands(
          gpu,
          d,
          { x: t.x(), w: t.w(), bias: t.bias(), y: t.out(t.s.y) },
          variant,
        );
      }
      if (which === "input") {
        return inputCommands(gpu, d, { dy: t.dy(), w: t.w(), dx: t.out(t.s.x) }, variant);
      }
      const dbias = p.bias ? arena.tensor("tune.dbias", t.s.bias) : undefined;
      return weightCommands(
        gpu,
        d,
        { x: t.x(), dy: t.dy(), dw: t.out(t.s.w), dbias },
        variant,
        arena,
      );
    },
  };
}

/** Conv forward pass: `y = conv(x, w) + bias`. */
export const convForwardFamily: KernelFamily<ConvProblem> = family("forward", "conv.forward");
/** Conv input gradient. */
export const convInputFamily: KernelFamily<ConvProblem> = family("input", "conv.input");
/** Conv weight (and bias) gradient, split-K over batch × space. */
export const convWeightFamily: KernelFamily<ConvProblem> = family("weight", "conv.weight");

/** The family of `which` pass. */
export function convFamily(which: ConvPass): KernelFamily<ConvProblem> {
  return which === "forward"
    ? convForwardFamily
    : which === "input"
    ? convInputFamily
    : convWeightFamily;
}
