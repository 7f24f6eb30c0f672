import { assert, assertEquals, assertThrows } from "../assert.ts";
import { f32, gpuTest, randn, upload, withArena } from "../util.ts";
import { absRef, appendOnesRef, crossRef, emaRef, type Matrix } from "../ref/gram.ts";
import { conv2dBackwardWeightRef, im2colRef, outSizeRef } from "../ref/conv.ts";
import { gramConvPatches, gramDense, gramVariants } from "../../lib/kernels/gram/gram.ts";
import {
  conv2dBackwardWeight,
  type Conv2dGeometry,
  conv2dVariants,
} from "../../lib/kernels/conv/conv.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";

const U = 2 ** -24;

/**
 * Each Gram entry is scale·Σ_r x_ri·x_rj over `rows` products. fp32 dot
 * products satisfy |err| ≤ γ_rows·Σ|x_ri·x_rj| in any summation order
 * (Higham Thm 3.1); the scale product, f32 rounding of the constants α and
 * (1−α)·scale, and the EMA's multiply-add add at most four more roundings,
 * hence γ_{rows+4} applied to the magnitudes `absRef` of both terms. An
 * indexing error is of the size of the entries themselves.
 */
function assertGram(
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
function assertSymmetric(m: Float32Array, d: number, what: string) {
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
function oldStats(groups: number, d: number, seed: number): Float64Array {
  const r = f32(randn(seed, groups * d * d));
  for (let g = 0; g < groups; g++) {
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < a; b++) r[g * d * d + a * d + b] = r[g * d * d + b * d + a];
    }
  }
  return r;
}

Deno.test(
  "gram dense: every variant, ones column, custom scale and EMA",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const cases: [number, number][] = [[37, 10], [64, 16], [300, 1], [1, 7], [517, 33]];
      for (const [rows, cols] of cases) {
        const x = f32(randn(rows + cols, rows * cols));
        const X = upload(gpu, arena, "x", [rows, cols], x);
        const xm: Matrix = { rows, cols, data: x };
        for (const ones of [false, true]) {
          const m = ones ? appendOnesRef(xm) : xm;
          const dp = m.cols;
          const old = oldStats(1, dp, 3);
          const probe = arena.tensor("probe", [dp, dp]);
          for (
            const v of gramVariants(gpu, {
              kind: "dense",
              x: X,
              rows,
              cols,
              out: probe,
              appendOnes: ones,
            })
          ) {
            for (const mode of ["plain", "scale", "ema"] as const) {
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
    }),
);

function geom(
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

const PATCH_CASES: Record<string, Conv2dGeometry> = {
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

Deno.test(
  "gram conv patches: every variant against the materialised float64 im2col",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const [name, g] of Object.entries(PATCH_CASES)) {
        const x = f32(randn(11, g.batch * g.inH * g.inW * g.inC));
        const X = upload(gpu, arena, "x", [g.batch, g.inH, g.inW, g.inC], x);
        for (const ones of [false, true]) {
          const cols = (g.inC / g.groups) * g.kh * g.kw;
          const dp = cols + (ones ? 1 : 0);
          const old = oldStats(g.groups, dp, 4);
          const outShape = g.groups === 1 ? [dp, dp] : [g.groups, dp, dp];
          for (
            const v of gramVariants(gpu, {
              kind: "patches",
              geom: g,
              x: X,
              out: upload(gpu, arena, "o", outShape, old),
              appendOnes: ones,
            })
          ) {
            for (const ema of [undefined, 0.75]) {
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
    }),
);

Deno.test(
  "spec identity: Σ_rows Dᵀ·[X̃ | 1] equals the GPU weight gradient with the bias column",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const [name, g0] of Object.entries(PATCH_CASES)) {
        const g = { ...g0, outC: 2 * g0.groups + (g0.groups === 1 ? 3 : 0) };
        const [oh, ow] = outSizeRef(g);
        const x = f32(randn(21, g.batch * g.inH * g.inW * g.inC));
        const dy = f32(randn(22, g.batch * oh * ow * g.outC));
        const X = upload(gpu, arena, "x", [g.batch, g.inH, g.inW, g.inC], x);
        const DY = upload(gpu, arena, "dy", [g.batch, oh, ow, g.outC], dy);
        const cinG = g.inC / g.groups;
        const coutG = g.outC / g.groups;
        const K = cinG * g.kh * g.kw;
        // The identity, in float64 from materialised matrices: G_g = D_gᵀ·[X̃_g | 1].
        const want = new Float64Array(g.outC * (K + 1));
        const mag = new Float64Array(g.outC * (K + 1));
        for (let grp = 0; grp < g.groups; grp++) {
          const xt = appendOnesRef(im2colRef(g, x, grp));
          const rows = xt.rows;
          const dg = new Float64Array(rows * coutG);
          for (let r = 0; r < rows; r++) {
            for (let c = 0; c < coutG; c++) dg[r * coutG + c] = dy[r * g.outC + grp * coutG + c];
          }
          const D: Matrix = { rows, cols: coutG, data: dg };
          want.set(crossRef(D, xt), grp * coutG * (K + 1));
          mag.set(crossRef(absRef(D), absRef(xt)), grp * coutG * (K + 1));
        }
        // Cross-check the two float64 references against each other first.
        const ref = conv2dBackwardWeightRef(g, x, dy);
        for (let co = 0; co < g.outC; co++) {
          for (let k = 0; k < K; k++) {
            assert(
              Math.abs(ref.dw[co * K + k] - want[co * (K + 1) + k]) <=
                1e-12 * (1 + mag[co * (K + 1) + k]),
            );
          }
          assert(
            Math.abs(ref.dbias[co] - want[co * (K + 1) + K]) <= 1e-12 * (1 + mag[co * (K + 1) + K]),
          );
        }
        for (const variant of conv2dVariants(gpu, "weight", g)) {
          const DW = arena.tensor("dw", [g.outC, cinG, g.kh, g.kw]);
          const DB = arena.tensor("db", [g.outC]);
          submit(
            gpu,
            conv2dBackwardWeight(gpu, { geom: g, x: X, dy: DY, dw: DW, dbias: DB, variant, arena }),
          );
          const [dw, db] = await readTensors(gpu, [DW, DB]);
          // dw [Cout, Cin_g, kh, kw] reshaped to Cout × Cin_g·kh·kw, dbias appended as the last column.
          const got = new Float64Array(g.outC * (K + 1));
          for (let co = 0; co < g.outC; co++) {
            for (let k = 0; k < K; k++) got[co * (K + 1) + k] = dw[co * K + k];
            got[co * (K + 1) + K] = db[co];
          }
          assertGram(got, want, mag, g.batch * oh * ow, `identity ${name} ${variant}`);
        }
      }
    }),
);

Deno.test(
  "gram builders reject mismatched shapes and unknown variants",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      await Promise.resolve();
      const X = arena.tensor("acts", [10, 6]);
      assertThrows(
        () => gramDense(gpu, { x: X, rows: 10, cols: 5, out: arena.tensor("R", [5, 5]) }),
        RangeError,
        '"acts"',
      );
      assertThrows(
        () =>
          gramDense(gpu, {
            x: X,
            rows: 10,
            cols: 6,
            out: arena.tensor("Rbad", [6, 6]),
            appendOnes: true,
          }),
        RangeError,
        '"Rbad" has shape [6, 6], expected [7, 7]',
      );
      const g = PATCH_CASES["groups 2"];
      const x = arena.tensor("x", [g.batch, g.inH, g.inW, g.inC]);
      assertThrows(
        () => gramConvPatches(gpu, { geom: g, x, out: arena.tensor("R", [36, 36]) }),
        RangeError,
        "[2, 36, 36]",
      );
      assertThrows(
        () =>
          gramDense(gpu, {
            x: X,
            rows: 10,
            cols: 6,
            out: arena.tensor("R", [6, 6]),
            variant: "fast",
          }),
        RangeError,
        "valid here",
      );
    }),
);
