/**
 * Shared by the conv tests: awkward geometries, seeded operands, the fp32
 * dot-product error bound, and a checker that runs every pass of a geometry
 * with chosen variants against the float64 references (tests/ref/conv.ts).
 * @module
 */

import { assert } from "../assert.ts";
import { f32, randn, upload } from "../util.ts";
import {
  conv2dBackwardInputRef,
  conv2dBackwardWeightRef,
  conv2dRef,
  outSizeRef,
} from "../ref/conv.ts";
import {
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  type Conv2dGeometry,
  conv2dVariants,
} from "../../lib/kernels/conv/conv.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";

/** A geometry with defaults: stride 1, no padding, no dilation, one group. */
export function geom(
  p: Partial<Conv2dGeometry> & Pick<Conv2dGeometry, "inH" | "inW" | "inC" | "outC">,
): Conv2dGeometry {
  return {
    batch: 1,
    kh: 3,
    kw: 3,
    strideH: 1,
    strideW: 1,
    padH: 0,
    padW: 0,
    dilationH: 1,
    dilationW: 1,
    groups: 1,
    ...p,
  };
}

/** The awkward geometries every variant must get right. */
export const CASES: Record<string, Conv2dGeometry> = {
  "odd 7x9, Cin 6 (scalar path), pad 1": geom({
    batch: 2,
    inH: 7,
    inW: 9,
    inC: 6,
    outC: 8,
    padH: 1,
    padW: 1,
  }),
  "stride 2, pad 0, Cin 8": geom({ inH: 9, inW: 8, inC: 8, outC: 12, strideH: 2, strideW: 2 }),
  "dilation 2, pad 2": geom({
    batch: 2,
    inH: 8,
    inW: 7,
    inC: 4,
    outC: 4,
    padH: 2,
    padW: 2,
    dilationH: 2,
    dilationW: 2,
  }),
  "groups 2": geom({ inH: 6, inW: 6, inC: 8, outC: 8, padH: 1, padW: 1, groups: 2 }),
  "depthwise, stride 2": geom({
    batch: 2,
    inH: 7,
    inW: 7,
    inC: 8,
    outC: 8,
    strideH: 2,
    strideW: 2,
    padH: 1,
    padW: 1,
    groups: 8,
  }),
  "1x1, 12 -> 20": geom({ batch: 2, inH: 5, inW: 5, inC: 12, outC: 20, kh: 1, kw: 1 }),
  "5x5, pad 2": geom({ inH: 9, inW: 10, inC: 4, outC: 6, kh: 5, kw: 5, padH: 2, padW: 2 }),
  "Cin 1, batch 3": geom({ batch: 3, inH: 8, inW: 8, inC: 1, outC: 5, padH: 1, padW: 1 }),
  "4x3 kernel > strides 2x3, dilation (1,2)": geom({
    inH: 10,
    inW: 13,
    inC: 3,
    outC: 7,
    kh: 4,
    kw: 3,
    strideH: 2,
    strideW: 3,
    padH: 1,
    padW: 2,
    dilationW: 2,
  }),
  "groups 3, unaligned per-group channels, stride 2": geom({
    batch: 2,
    inH: 6,
    inW: 7,
    inC: 6,
    outC: 9,
    strideH: 2,
    strideW: 2,
    padH: 1,
    padW: 1,
    groups: 3,
  }),
};

const U = 2 ** -24;

/**
 * fp32 dot products of K terms (any summation order, FMA or not) satisfy
 * |computed − exact| ≤ γ_K · Σ|a_k·b_k| with γ_K = K·u/(1 − K·u), u = 2^-24
 * (Higham, Accuracy and Stability, Thm 3.1 and §3.1). Inputs are exactly
 * representable f32 values, so this bound is rigorous per element; the
 * 1e-30 absolute slack only admits exact zeros. Indexing mistakes produce
 * errors of the size of the terms themselves, far above the bound.
 */
export function assertDotBound(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  absSum: ArrayLike<number>,
  terms: number,
  what: string,
): void {
  assert(
    actual.length === expected.length,
    `${what}: length ${actual.length} != ${expected.length}`,
  );
  const gamma = (terms * U) / (1 - terms * U);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const bound = gamma * absSum[i] + 1e-30;
    if (!(err <= bound)) {
      throw new Error(
        `${what}: element ${i} is ${actual[i]}, expected ${
          expected[i]
        } (error ${err}, bound ${bound})`,
      );
    }
  }
}

/** Element-wise absolute values (for error bounds). */
export const abs = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>, Math.abs);

/** Random f32-exact operands for `g`. */
export function operands(g: Conv2dGeometry, seed: number) {
  const [oh, ow] = outSizeRef(g);
  return {
    x: f32(randn(seed, g.batch * g.inH * g.inW * g.inC)),
    w: f32(randn(seed + 1, g.outC * (g.inC / g.groups) * g.kh * g.kw, 0.5)),
    bias: f32(randn(seed + 2, g.outC)),
    dy: f32(randn(seed + 3, g.batch * oh * ow * g.outC)),
  };
}

/** Runs all three passes of `g` with the given variants and checks each against the reference. */
export async function checkPasses(
  gpu: Gpu,
  arena: BufferArena,
  g: Conv2dGeometry,
  name: string,
  pick: (variants: string[], pass: "forward" | "input" | "weight") => string[],
): Promise<void> {
  const { x, w, bias, dy } = operands(g, 17);
  const [oh, ow] = outSizeRef(g);
  const cinG = g.inC / g.groups;
  const coutG = g.outC / g.groups;
  const X = upload(gpu, arena, "x", [g.batch, g.inH, g.inW, g.inC], x);
  const W = upload(gpu, arena, "w", [g.outC, cinG, g.kh, g.kw], w);
  const B = upload(gpu, arena, "bias", [g.outC], bias);
  const DY = upload(gpu, arena, "dy", [g.batch, oh, ow, g.outC], dy);
  const y = conv2dRef(g, x, w, bias);
  const yAbs = conv2dRef(g, abs(x), abs(w), abs(bias));
  const dx = conv2dBackwardInputRef(g, dy, w);
  const dxAbs = conv2dBackwardInputRef(g, abs(dy), abs(w));
  const { dw, dbias } = conv2dBackwardWeightRef(g, x, dy);
  const abs2 = conv2dBackwardWeightRef(g, abs(x), abs(dy));
  for (const v of pick(conv2dVariants(gpu, "forward", g), "forward")) {
    const Y = arena.tensor("y", [g.batch, oh, ow, g.outC]);
    submit(gpu, conv2dForward(gpu, { geom: g, x: X, w: W, bias: B, y: Y, variant: v }));
    const [got] = await readTensors(gpu, [Y]);
    // K = Cin_g·kh·kw products plus the bias term.
    assertDotBound(got, y, yAbs, cinG * g.kh * g.kw + 1, `${name} forward ${v}`);
  }
  for (const v of pick(conv2dVariants(gpu, "input", g), "input")) {
    // Stale contents: the pass must overwrite dx, not accumulate into it.
    const DX = upload(gpu, arena, "dx", [g.batch, g.inH, g.inW, g.inC], x);
    submit(gpu, conv2dBackwardInput(gpu, { geom: g, dy: DY, w: W, dx: DX, variant: v }));
    const [got] = await readTensors(gpu, [DX]);
    assertDotBound(got, dx, dxAbs, coutG * g.kh * g.kw, `${name} input-grad ${v}`);
  }
  for (const v of pick(conv2dVariants(gpu, "weight", g), "weight")) {
    const DW = upload(gpu, arena, "dw", [g.outC, cinG, g.kh, g.kw], w); // stale contents
    const DB = upload(gpu, arena, "dbias", [g.outC], bias);
    submit(
      gpu,
      conv2dBackwardWeight(gpu, { geom: g, x: X, dy: DY, dw: DW, dbias: DB, variant: v, arena }),
    );
    const [gotW, gotB] = await readTensors(gpu, [DW, DB]);
    const rows = g.batch * oh * ow;
    // Each entry sums one product per output pixel: K = N·Ho·Wo.
    assertDotBound(gotW, dw, abs2.dw, rows, `${name} weight-grad ${v}`);
    assertDotBound(gotB, dbias, abs2.dbias, rows, `${name} bias-grad ${v}`);
  }
}
