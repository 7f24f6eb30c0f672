import { assert, assertThrows } from "../assert.ts";
import { f32, gpuTest, randn, upload, withArena } from "../util.ts";
import { absRef, appendOnesRef, crossRef, type Matrix } from "../ref/gram.ts";
import { conv2dBackwardWeightRef, im2colRef, outSizeRef } from "../ref/conv.ts";
import { gramConvPatches, gramDense } from "../../lib/kernels/gram/gram.ts";
import { conv2dBackwardWeight, conv2dVariants } from "../../lib/kernels/conv/conv.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";

import { assertGram, checkDenseGram, checkPatchGram, PATCH_CASES } from "./gram_cases.ts";

/** The texture and first storage variants (the `wg` tiles have gram_gemm_test.ts). */
const legacy = (vs: string[]) => vs.filter((v) => !v.startsWith("wg"));

Deno.test(
  "gram dense: every texture and tiled variant, ones column, custom scale and EMA",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const cases: [number, number][] = [[37, 10], [64, 16], [300, 1], [1, 7], [517, 33]];
      for (const [rows, cols] of cases) {
        await checkDenseGram(gpu, arena, rows, cols, legacy, ["plain", "scale", "ema"]);
      }
    }),
);

Deno.test(
  "gram conv patches: every texture and tiled variant against the materialised float64 im2col",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const [name, g] of Object.entries(PATCH_CASES)) {
        await checkPatchGram(gpu, arena, name, g, legacy, [undefined, 0.75]);
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
