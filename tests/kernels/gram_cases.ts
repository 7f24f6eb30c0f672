/**
 * Shared by the Gram tests: the rounding bound, symmetry check, previous
 * statistics, patch geometries, and checkers that run chosen variants of a
 * dense or patch Gram against float64 references (tests/ref/gram.ts).
 * @module
 */

import { assert, assertEquals } from "../assert.ts";
import { f32, randn, upload } from "../util.ts";
import { absRef, appendOnesRef, crossRef, emaRef, type Matrix } from "../ref/gram.ts";
import { im2colRef } from "../ref/conv.ts";
import { gramConvPatches, gramDense, gramVariants } from "../../lib/kernels/gram/gram.ts";
import type { Conv2dGeometry } from "../../lib/kernels/conv/conv.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";

const U = 2 ** -24;

/**
 * Each Gram entry is scale·Σ_r x_ri·x_rj over `rows` products. fp32 dot
 * products satisfy |err| ≤ γ_rows·Σ|x_ri·x_rj| in any summation order
 * (Higham Thm 3.1); the scale product, f32 rounding of the constants α and
 * (1−α)·scale, and the EMA's multiply-add add at most four more roundings,
 * hence γ_{rows+4} applied to the magnitudes `absRef` of both terms. An
 * indexing error is of the size of the entries themselves.
 */
export function assertGram(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  mag: ArrayLike<number>,
  rows: number,
  what: string,
) {
  assertEquals(got.length, want.length, `${what}: length`);
  const gamma = ((rows + 4) * U) / (1 - (rows + 4) * U);
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= gamma * mag[i] + 1e-30)) {
      throw new Error(
        `${what}: element ${i} is ${got[i]}, expected ${want[i]} (bound ${gamma * mag[i]})`,
      );
    }
  }
}

/** Asserts out[g][a][b] === out[g][b][a] bit for bit. */
export function assertSymmetric(m: Float32Array, d: number, what: string) {
  for (let g = 0; g < m.length / (d * d); g++) {
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < a; b++) {
        const o = g * d * d;
        assert(m[o + a * d + b] === m[o + b * d + a], `${what}: not symmetric at ${g},${a},${b}`);
      }
    }
  }
}

/** A random symmetric "previous statistics" matrix per group. */
export function oldStats(groups: number, d: number, seed: number): Float64Array {
  const r = f32(randn(seed, groups * d * d));
  for (let g = 0; g < groups; g++) {
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < a; b++) r[g * d * d + a * d + b] = r[g * d * d + b * d + a];
    }
  }
  return r;
}

/** A patch geometry with defaults: batch 2, 3×3, stride 1, no padding, one group. */
export function geom(
  p: Partial<Conv2dGeometry> & Pick<Conv2dGeometry, "inH" | "inW" | "inC">,
): Conv2dGeometry {
  return {
    batch: 2,
    outC: p.groups ?? 1,
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

/** Awkward patch geometries. */
export const PATCH_CASES: Record<string, Conv2dGeometry> = {
  "stride 2, pad 1, dilation 2, Cin 3": geom({
    inH: 9,
    inW: 8,
    inC: 3,
    strideH: 2,
    strideW: 2,
    padH: 1,
    padW: 1,
    dilationH: 2,
    dilationW: 2,
  }),
  "Cin 8 aligned, pad 1": geom({ batch: 3, inH: 7, inW: 6, inC: 8, outC: 4, padH: 1, padW: 1 }),
  "groups 2": geom({ inH: 6, inW: 7, inC: 8, outC: 6, padH: 1, padW: 1, groups: 2 }),
  "depthwise 5x5": geom({
    inH: 8,
    inW: 8,
    inC: 4,
    outC: 4,
    kh: 5,
    kw: 5,
    padH: 2,
    padW: 2,
    groups: 4,
  }),
  "Cin 1, batch 1, 1x2 kernel, stride (1,2)": geom({
    batch: 1,
    inH: 5,
    inW: 9,
    inC: 1,
    kh: 1,
    kw: 2,
    strideW: 2,
  }),
};

/** Which variants of a list to run. */
export type VariantPick = (variants: string[]) => string[];

/**
 * Runs the dense Gram of a random rows×cols matrix, with and without the
 * ones column, for the picked variants and `modes` (plain 1/rows, a custom
 * scale, an EMA over random previous statistics).
 */
export async function checkDenseGram(
  gpu: Gpu,
  arena: BufferArena,
  rows: number,
  cols: number,
  pick: VariantPick,
  modes: readonly ("plain" | "scale" | "ema")[],
): Promise<void> {
  const x = f32(randn(rows + cols, rows * cols));
  const X = upload(gpu, arena, "x", [rows, cols], x);
  const xm: Matrix = { rows, cols, data: x };
  for (const ones of [false, true]) {
    const m = ones ? appendOnesRef(xm) : xm;
    const dp = m.cols;
    const old = oldStats(1, dp, 3);
    const probe = arena.tensor("probe", [dp, dp]);
    for (
      const v of pick(gramVariants(gpu, {
        kind: "dense",
        x: X,
        rows,
        cols,
        out: probe,
        appendOnes: ones,
      }))
    ) {
      for (const mode of modes) {
        const out = upload(gpu, arena, "R", [dp, dp], old);
        const scale = mode === "scale" ? 0.37 : 1 / rows;
        const ema = mode === "ema" ? 0.9 : undefined;
        submit(
          gpu,
          gramDense(gpu, {
            x: X,
            rows,
            cols,
            out,
            appendOnes: ones,
            scale: mode === "scale" ? scale : undefined,
            ema,
            variant: v,
            arena,
          }),
        );
        const [got] = await readTensors(gpu, [out]);
        const fresh = crossRef(m, m, scale);
        const mag = crossRef(absRef(m), absRef(m), scale);
        const what = `dense ${rows}x${cols} ones=${ones} ${v} ${mode}`;
        if (ema === undefined) assertGram(got, fresh, mag, rows, what);
        else {assertGram(
            got,
            emaRef(old, fresh, ema),
            emaRef(old.map(Math.abs), mag, ema),
            rows,
            what,
          );}
        assertSymmetric(got, dp, what);
      }
    }
  }
}

/**
 * Runs the patch Gram of geometry `g`, with and without the ones column,
 * for the picked variants, fresh (`ema` undefined) or as an EMA.
 */
export async function checkPatchGram(
  gpu: Gpu,
  arena: BufferArena,
  name: string,
  g: Conv2dGeometry,
  pick: VariantPick,
  emas: readonly (number | undefined)[],
): Promise<void> {
  const x = f32(randn(11, g.batch * g.inH * g.inW * g.inC));
  const X = upload(gpu, arena, "x", [g.batch, g.inH, g.inW, g.inC], x);
  for (const ones of [false, true]) {
    const cols = (g.inC / g.groups) * g.kh * g.kw;
    const dp = cols + (ones ? 1 : 0);
    const old = oldStats(g.groups, dp, 4);
    const outShape = g.groups === 1 ? [dp, dp] : [g.groups, dp, dp];
    for (
      const v of pick(gramVariants(gpu, {
        kind: "patches",
        geom: g,
        x: X,
        out: upload(gpu, arena, "o", outShape, old),
        appendOnes: ones,
      }))
    ) {
      for (const ema of emas) {
        const out = upload(gpu, arena, "R", outShape, old);
        submit(
          gpu,
          gramConvPatches(gpu, {
            geom: g,
            x: X,
            out,
            appendOnes: ones,
            ema,
            variant: v,
            arena,
          }),
        );
        const [got] = await readTensors(gpu, [out]);
        const want = new Float64Array(g.groups * dp * dp);
        const mag = new Float64Array(g.groups * dp * dp);
        let rows = 0;
        for (let grp = 0; grp < g.groups; grp++) {
          const raw = im2colRef(g, x, grp);
          const m = ones ? appendOnesRef(raw) : raw;
          rows = m.rows;
          want.set(crossRef(m, m, 1 / m.rows), grp * dp * dp);
          mag.set(crossRef(absRef(m), absRef(m), 1 / m.rows), grp * dp * dp);
        }
        const what = `patches ${name} ones=${ones} ${v} ema=${ema}`;
        if (ema === undefined) assertGram(got, want, mag, rows, what);
        else {assertGram(
            got,
            emaRef(old, want, ema),
            emaRef(old.map(Math.abs), mag, ema),
            rows,
            what,
          );}
        assertSymmetric(got, dp, what);
      }
    }
  }
}
