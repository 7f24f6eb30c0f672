/**
 * The `wg…` Gram variants (symmetric implicit GEMM, split-K) against the
 * float64 references on llvmpipe: dense and patch Grams at sizes that are
 * non-multiples of every tile, an odd square tile with guarded load slots,
 * and a long reduction through the lane reduction.
 */

import { assert } from "../assert.ts";
import { f32, gpuTest, randn, upload, withArena } from "../util.ts";
import { absRef, appendOnesRef, crossRef } from "../ref/gram.ts";
import { im2colRef } from "../ref/conv.ts";
import { gramConvPatches } from "../../lib/kernels/gram/gram.ts";
import { patchShape } from "../../lib/kernels/gram/problem.ts";
import { gramPlan } from "../../lib/kernels/gram/plan.ts";
import { gemmTileFor, gemmTileTable } from "../../lib/kernels/conv/gemm_tiles.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import {
  assertGram,
  assertSymmetric,
  checkDenseGram,
  checkPatchGram,
  geom,
  PATCH_CASES,
} from "./gram_cases.ts";

/** 9 threads; 12-wide square tiles, 8-deep steps: load slots do not divide the workgroup. */
const ODD = "wg12x12x8_r4x4";
/** The table's smallest tile (4 slices of each 64-deep step) and a 2-slice one. */
const SMALL = ["wg16x16x64_r4x4_z4", "wg32x32x32_r4x4_z2"];

Deno.test(
  "gram dense wg: table tiles and an odd tile, ones column, scale and EMA",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const all = gemmTileTable("gram").filter((v) => gemmTileFor(gpu, v) !== undefined);
      // 517 × 33 (vec4 off: 33 columns) with every tile; small shapes with the small tiles.
      await checkDenseGram(gpu, arena, 517, 33, () => [...all, ODD], ["ema"]);
      await checkDenseGram(gpu, arena, 300, 36, () => [...SMALL, ODD], ["plain"]); // vec4 loads
      for (const [rows, cols] of [[37, 10], [300, 1], [1, 7]]) {
        await checkDenseGram(gpu, arena, rows, cols, () => [SMALL[0], ODD], ["scale"]);
      }
    }),
);

Deno.test(
  "gram patches wg: every awkward geometry with small, sliced and odd tiles",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const [name, g] of Object.entries(PATCH_CASES)) {
        await checkPatchGram(gpu, arena, name, g, () => [...SMALL, ODD], [0.75]);
      }
    }),
);

Deno.test(
  "gram patches wg: 32,768 rows in many chunks through the lane reduction",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const g = geom({ batch: 8, inH: 64, inW: 64, inC: 4, padH: 1, padW: 1 });
      const variant = SMALL[0];
      const s = patchShape({ geom: g, appendOnes: true });
      const plan = gramPlan(gpu, s, variant, {});
      // d' = 37: 3 tile rows, 6 upper tiles, chunks of 256 rows → 128 chunks, 16 lanes.
      assert(plan.partialFloats === 128 * 37 * 40, `${plan.partialFloats}`);
      assert(plan.steps[1].code.includes("in 16 lanes"), "lane reduction expected");
      const x = f32(randn(41, 8 * 64 * 64 * 4));
      const X = upload(gpu, arena, "x", [8, 64, 64, 4], x);
      const out = arena.tensor("R", [37, 37]);
      submit(gpu, gramConvPatches(gpu, { geom: g, x: X, out, appendOnes: true, variant, arena }));
      const [got] = await readTensors(gpu, [out]);
      const m = appendOnesRef(im2colRef(g, x, 0));
      const want = crossRef(m, m, 1 / m.rows);
      assertGram(got, want, crossRef(absRef(m), absRef(m), 1 / m.rows), m.rows, "long patch gram");
      assertSymmetric(got, 37, "long patch gram");
    }),
);
