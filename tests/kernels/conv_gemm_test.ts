/**
 * The `wg…` implicit-GEMM conv variants (lib/kernels/conv/gemm.ts) against
 * the float64 references, on llvmpipe: every awkward geometry, every tile of
 * the tables, an odd tile whose load slots do not divide the workgroup, and
 * split-K over long reductions (grid chunks and in-workgroup slices).
 * Problems stay small: llvmpipe runs workgroup-memory kernels at ~0.1 GFLOP/s.
 */

import { assert } from "../assert.ts";
import { gpuTest, upload, withArena } from "../util.ts";
import { conv2dBackwardWeightRef, outSizeRef } from "../ref/conv.ts";
import { conv2dBackwardWeight, type Conv2dGeometry } from "../../lib/kernels/conv/conv.ts";
import { convDims } from "../../lib/kernels/conv/geometry.ts";
import { inputGemmPlan, weightGemmPlan } from "../../lib/kernels/conv/gemm_passes.ts";
import { gemmTileFor, gemmTileTable } from "../../lib/kernels/conv/gemm_tiles.ts";
import { parseGemmTile } from "../../lib/kernels/conv/gemm.ts";
import { weightFinishWgsl } from "../../lib/kernels/conv/weight.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import { abs, assertDotBound, CASES, checkPasses, geom, operands } from "./conv_cases.ts";

/**
 * A tile that divides nothing evenly: 24 threads, 12-wide columns, 8-deep
 * steps, so A and B load slots are not multiples of the thread count (the
 * guarded load path) and every size is a non-multiple of the tile.
 */
const ODD = "wg32x12x8_r4x4";
/** The smallest pixel tile, and a weight tile in 4 slices of 4 rows (slices see data even on tiny problems). */
const PIXEL = "wg64x16x16_r4x4";
const SLICED = "wg16x16x16_r4x4_z4";
/** The weight table's smallest tile: 4 slices of each 64-deep step. */
const WIDE_SLICED = "wg16x16x64_r4x4_z4";

Deno.test("wg tile names parse back, and malformed ones are refused", () => {
  for (const kind of ["pixels", "weight", "gram"] as const) {
    for (const name of gemmTileTable(kind)) assert(parseGemmTile(name) !== undefined, name);
  }
  assert(parseGemmTile(ODD)?.bn === 12);
  // tm not a multiple of 4; bk not divisible by the slices; not a wg name.
  for (const bad of ["wg64x16x16_r2x4", "wg64x16x16_r4x4_z3", "wg64x16x4", "tex_16x16"]) {
    assert(parseGemmTile(bad) === undefined, bad);
  }
});

for (const [name, g] of Object.entries(CASES)) {
  Deno.test(
    `conv wg ${name}: every pass with a pixel, a sliced and an odd tile matches the reference`,
    gpuTest,
    () =>
      withArena((gpu, arena) =>
        checkPasses(
          gpu,
          arena,
          g,
          name,
          (_, pass) => pass === "weight" ? [SLICED, ODD] : [PIXEL, ODD],
        )
      ),
  );
}

/** Strided convs whose input gradient runs per stride phase (dilation 1). */
const PHASED: Record<string, Conv2dGeometry> = {
  "1x1 stride 2 (three phases without taps)": geom({
    batch: 2,
    inH: 7,
    inW: 8,
    inC: 8,
    outC: 12,
    kh: 1,
    kw: 1,
    strideH: 2,
    strideW: 2,
  }),
  "3x3 stride 2 pad 1, odd 9x7 (uneven phase extents)": geom({
    batch: 2,
    inH: 9,
    inW: 7,
    inC: 4,
    outC: 8,
    strideH: 2,
    strideW: 2,
    padH: 1,
    padW: 1,
  }),
  "2x2 stride 3 pad 2 (a residue without taps), Cout 5": geom({
    inH: 11,
    inW: 10,
    inC: 3,
    outC: 5,
    kh: 2,
    kw: 2,
    strideH: 3,
    strideW: 3,
    padH: 2,
    padW: 2,
  }),
  "5x3 strides 2x3, pad (2,1), groups 2": geom({
    batch: 2,
    inH: 10,
    inW: 11,
    inC: 4,
    outC: 6,
    kh: 5,
    kw: 3,
    strideH: 2,
    strideW: 3,
    padH: 2,
    padW: 1,
    groups: 2,
  }),
};

for (const [name, g] of Object.entries(PHASED)) {
  Deno.test(
    `conv wg input gradient per stride phase: ${name}`,
    gpuTest,
    () =>
      withArena(async (gpu, arena) => {
        const d = convDims(g);
        assert(
          inputGemmPlan(gpu, d, gemmTileFor(gpu, PIXEL)!).steps[0].label.startsWith(
            "conv_dx_phases",
          ),
        );
        await checkPasses(gpu, arena, g, name, (_, pass) => (pass === "input" ? [PIXEL, ODD] : []));
      }),
  );
}

Deno.test(
  "conv wg: every tile of the tables on the vec4 paths (channels multiples of 4)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // Cin 8, Cout 36: vec4 loads of x and dy, vec4 stores of y; Cout and
      // pixel counts are non-multiples of every tile.
      const g = geom({ batch: 2, inH: 11, inW: 10, inC: 8, outC: 36, padH: 1, padW: 1 });
      const fits = (kind: "pixels" | "weight") =>
        gemmTileTable(kind).filter((v) => gemmTileFor(gpu, v) !== undefined);
      await checkPasses(
        gpu,
        arena,
        g,
        "aligned",
        (_, pass) => pass === "weight" ? fits("weight") : fits("pixels"),
      );
    }),
);

Deno.test(
  "conv wg weight gradient: split-K over 32,768 pixels with the lane reduction",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const g = geom({ batch: 8, inH: 64, inW: 64, inC: 4, outC: 4, padH: 1, padW: 1 });
      const d = convDims(g);
      const tile = gemmTileFor(gpu, WIDE_SLICED)!;
      const plan = weightGemmPlan(gpu, d, true, tile, weightFinishWgsl);
      // 3 tiles of 16 columns (37 with the bias column): 128 chunks of 256 rows, 16 lanes.
      assert(
        plan.steps.length === 2 && plan.partialFloats === 128 * 4 * 40,
        `${plan.partialFloats}`,
      );
      assert(plan.steps[1].code.includes("in 16 lanes"), "lane reduction expected");
      const { x, dy } = operands(g, 31);
      const [oh, ow] = outSizeRef(g);
      const X = upload(gpu, arena, "x", [8, 64, 64, 4], x);
      const DY = upload(gpu, arena, "dy", [8, oh, ow, 4], dy);
      const { dw, dbias } = conv2dBackwardWeightRef(g, x, dy);
      const mag = conv2dBackwardWeightRef(g, abs(x), abs(dy));
      for (const variant of [WIDE_SLICED, "wg32x64x16_r4x4"]) {
        const DW = upload(gpu, arena, "dw", [4, 4, 3, 3], new Float32Array(144).fill(7));
        const DB = upload(gpu, arena, "db", [4], [7, 7, 7, 7]);
        submit(
          gpu,
          conv2dBackwardWeight(gpu, { geom: g, x: X, dy: DY, dw: DW, dbias: DB, variant, arena }),
        );
        const [gotW, gotB] = await readTensors(gpu, [DW, DB]);
        assertDotBound(gotW, dw, mag.dw, 8 * oh * ow, `long weight-grad ${variant}`);
        assertDotBound(gotB, dbias, mag.dbias, 8 * oh * ow, `long bias-grad ${variant}`);
      }
    }),
);
