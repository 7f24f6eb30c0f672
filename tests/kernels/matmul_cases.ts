/**
 * Shared machinery of the matmul tests: the fp32 error bound, the checker
 * that names the worst element, case setup against the float64 reference,
 * the awkward shapes and the per-variant case plans.
 * @module
 */

import { assertEquals } from "../assert.ts";
import { matmulAbsRef, matmulRef, type RefActivation, type RefMatmulOpts } from "../ref/matmul.ts";
import { randn, upload } from "../util.ts";
import type { Command } from "../../lib/gpu/commands.ts";
import { submit } from "../../lib/gpu/commands.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import { ACTIVATIONS, matmul, type MatmulProblem } from "../../lib/kernels/matmul/matmul.ts";
import type { MatmulArgs } from "../../lib/kernels/matmul/types.ts";

const U = 2 ** -24; // f32 unit roundoff

/**
 * Per-element error bound for an fp32 result of the reference's formula:
 * a k-term dot product in any summation order errs by at most γ_k·Σ|terms|
 * (γ_k ≈ k·u); alpha, beta·c0 and bias add ≤ 4 more roundings of the same
 * scale; the activation's slope is ≤ 1.13 (gelu), so the whole bound is
 * doubled. The 4e-6·(1 + |ref|) term covers the GPU's own exp/tanh, which
 * Vulkan only requires accurate to a few ulp (plus tiny absolute error).
 */
export function bounds(abs: Float64Array, ref: Float64Array, k: number): Float64Array {
  return abs.map((s, i) => 2 * (k + 4) * U * s + 4e-6 * (1 + Math.abs(ref[i])));
}

/** Asserts |actual − expected| ≤ bound elementwise; names the worst element. */
export function assertWithin(
  actual: ArrayLike<number>,
  expected: Float64Array,
  bound: Float64Array,
  what: string,
) {
  assertEquals(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstRatio = 1;
  for (let i = 0; i < expected.length; i++) {
    const r = Math.abs(actual[i] - expected[i]) / bound[i];
    if (!(r <= worstRatio)) { // NaN fails too
      worst = i;
      worstRatio = Number.isNaN(r) ? Infinity : r;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(bound ${bound[worst].toExponential(2)}, ${worstRatio.toFixed(1)}x over)`,
    );
  }
}

export interface Case extends MatmulProblem {
  alpha?: number;
  beta?: number;
  bias?: boolean;
  activation?: RefActivation;
}

/** Builds commands for validated arguments (default: `matmul` itself). */
export type Builder = (gpu: Gpu, args: MatmulArgs) => Command[];

/** Uploads the operands of `c`, builds `variant`, returns what to check. */
export function setup(
  gpu: Gpu,
  arena: BufferArena,
  c: Case,
  variant: string | undefined,
  seed: number,
  build: Builder,
) {
  const { m, n, k } = c;
  const batch = c.batch ?? 1;
  const bBatch = c.bBroadcast ? 1 : batch;
  const a = Float32Array.from(randn(seed, batch * m * k));
  const b = Float32Array.from(randn(seed + 1, bBatch * k * n));
  const bias = c.bias ? Float32Array.from(randn(seed + 2, n)) : undefined;
  const c0 = Float32Array.from(randn(seed + 3, batch * m * n));
  const aT = upload(gpu, arena, "a", c.transA ? [batch, k, m] : [batch, m, k], a);
  const bT = upload(gpu, arena, "b", c.transB ? [bBatch, n, k] : [bBatch, k, n], b);
  const outT = upload(gpu, arena, "out", [batch, m, n], c0);
  const biasT = bias ? upload(gpu, arena, "bias", [n], bias) : undefined;
  const cmds = build(gpu, {
    ...c,
    a: aT,
    b: bT,
    out: outT,
    bias: biasT,
    variant,
    label: `case_${variant}`,
  });
  const o: RefMatmulOpts = { ...c, c0, bias };
  const ref = matmulRef(a, b, o);
  return { cmds, out: outT, ref, bound: bounds(matmulAbsRef(a, b, o), ref, k) };
}

/** Runs several cases in one submit and one readback, then checks each. */
export async function runCases(
  gpu: Gpu,
  arena: BufferArena,
  cases: { c: Case; variant?: string; what: string; build?: Builder }[],
) {
  const built = cases.map((x, i) => ({
    ...x,
    ...setup(gpu, arena, x.c, x.variant, 100 + 7 * i, x.build ?? matmul),
  }));
  submit(gpu, built.flatMap((x) => x.cmds));
  const outs = await readTensors(gpu, built.map((x) => x.out));
  built.forEach((x, i) => assertWithin(outs[i], x.ref, x.bound, x.what));
}

/** The four (transA, transB) layouts. */
export const TRANSPOSES = [[false, false], [false, true], [true, false], [true, true]] as const;

// Awkward shapes: 1×1×1, primes (nothing divides a tile or 4: scalar reads,
// shifted edge tiles), k = 1, n = 10 (logits), batch with a shared b, and
// multiples of 4 that are not multiples of any tile (vector reads with
// shifted edge tiles), with and without a per-batch b.
export const SHAPES: MatmulProblem[] = [
  { m: 1, n: 1, k: 1 },
  { m: 7, n: 13, k: 5 },
  { m: 33, n: 65, k: 17 },
  { m: 9, n: 6, k: 1 },
  { m: 20, n: 10, k: 36 },
  { m: 5, n: 12, k: 8, batch: 3, bBroadcast: true },
  { m: 36, n: 44, k: 20 },
  { m: 12, n: 8, k: 24, batch: 2 },
];

/** A different epilogue per case index, so every option meets every variant. */
export function epilogueFor(i: number): Pick<Case, "alpha" | "beta" | "bias" | "activation"> {
  return {
    activation: ACTIVATIONS[i % ACTIVATIONS.length],
    bias: i % 2 === 0,
    beta: i % 3 === 0 ? 0.5 : 0,
    alpha: i % 4 === 1 ? 0.75 : 1,
  };
}

export function shapeName(c: Case): string {
  const t = `${c.transA ? "T" : "N"}${c.transB ? "T" : "N"}`;
  const bt = c.batch ? ` batch ${c.batch}${c.bBroadcast ? " shared b" : ""}` : "";
  return `${c.m}x${c.n}x${c.k} ${t}${bt} ${c.activation}${c.bias ? "+bias" : ""}` +
    `${c.beta ? " beta" : ""}${c.alpha !== 1 ? " alpha" : ""}`;
}

/** Workgroup tile of a register-blocked variant, from its stable name. */
export interface RegTileDims {
  /** Tile rows. */
  bm: number;
  /** Tile columns. */
  bn: number;
  /** K step. */
  bk: number;
}

/** The tile of a `reg_*` or `reg_splitk*` variant name, else undefined. */
export function regTileOf(name: string): RegTileDims | undefined {
  const m = /^reg_(?:splitk\d+_)?(\d+)x(\d+)x(\d+)_\d+x\d+$/.exec(name);
  return m ? { bm: Number(m[1]), bn: Number(m[2]), bk: Number(m[3]) } : undefined;
}

/** A shape and the (transA, transB) layouts it runs in. */
export interface ShapePlan {
  /** The problem. */
  shape: MatmulProblem;
  /** Layouts to run it in. */
  layouts: readonly (readonly [boolean, boolean])[];
}

const NN = [false, false] as const;
const NT = [false, true] as const;
const TN = [true, false] as const;
const TT = [true, true] as const;

/**
 * Shapes reaching every path of the register-blocked generator for tile `t`.
 * One shape compiles in 1–6 s on llvmpipe (the K step is unrolled), so each
 * variant gets these few rather than every awkward shape:
 * - 33×65×17, all layouts: every dimension odd, so scalar loads on both
 *   operands in both staging directions, every bounds check, a K tail, a
 *   partial tile, scalar output stores;
 * - exact tiles (bm × 2bn × 3bk) in NN and TT: vec4 loads in all four staging
 *   paths with no bounds checks, three K steps (both buffers, and reuse);
 * - one tile plus 4 (or 8) in each dimension, batched (NT) and with a shared
 *   b (TN): vec4 loads with bounds checks, batch offsets, vec4 stores of a
 *   partial tile;
 * - 9·bm+3 rows and bn+2 columns: ten tile rows, so the grouped workgroup
 *   order has a full group of 8 and a partial one, over two tile columns.
 */
export function regShapes(t: RegTileDims): ShapePlan[] {
  const { bm, bn, bk } = t;
  return [
    { shape: { m: 33, n: 65, k: 17 }, layouts: [NN, NT, TN, TT] },
    { shape: { m: bm, n: 2 * bn, k: 3 * bk }, layouts: [NN, TT] },
    { shape: { m: bm + 4, n: bn + 8, k: bk + 4, batch: 2 }, layouts: [NT] },
    { shape: { m: bm + 4, n: bn + 8, k: bk + 4, batch: 3, bBroadcast: true }, layouts: [TN] },
    { shape: { m: 9 * bm + 3, n: bn + 2, k: 5 }, layouts: [NN] },
  ];
}
