import { assert, assertThrows } from "../assert.ts";
import { gpuTest, testGpu, upload, withArena } from "../util.ts";
import { dot, numericGrad } from "../ref/finite_diff.ts";
import {
  conv2dBackwardInputRef,
  conv2dBackwardWeightRef,
  conv2dRef,
  im2colRef,
  outSizeRef,
} from "../ref/conv.ts";
import {
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  type Conv2dGeometry,
  conv2dVariants,
  convOutputSize,
  validateConv2d,
} from "../../lib/kernels/conv/conv.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";

import { abs, assertDotBound, CASES, checkPasses, geom, operands } from "./conv_cases.ts";

Deno.test("reference conv: forward equals the materialised im2col GEMM", () => {
  for (const [name, g] of Object.entries(CASES)) {
    const { x, w, bias } = operands(g, 3);
    const y = conv2dRef(g, x, w, bias);
    const cinG = g.inC / g.groups;
    const coutG = g.outC / g.groups;
    const K = cinG * g.kh * g.kw;
    for (let grp = 0; grp < g.groups; grp++) {
      const cols = im2colRef(g, x, grp);
      assert(cols.cols === K, name);
      for (let r = 0; r < cols.rows; r++) {
        for (let c = 0; c < coutG; c++) {
          const co = grp * coutG + c;
          let s = bias[co];
          for (let k = 0; k < K; k++) s += cols.data[r * K + k] * w[co * K + k];
          // Both sides are float64 sums of the same ≤ 201 terms in different orders.
          assert(
            Math.abs(s - y[r * g.outC + co]) <= 1e-12 * (1 + Math.abs(s)),
            `${name}: im2col mismatch`,
          );
        }
      }
    }
  }
});

Deno.test("reference conv: backward passes match central finite differences", () => {
  // Tiny versions of the awkward cases (finite differences cost 2 forwards per input).
  const tiny: Conv2dGeometry[] = [
    geom({ inH: 5, inW: 4, inC: 2, outC: 3, strideH: 2, padH: 1, padW: 2, dilationW: 2 }),
    geom({ batch: 2, inH: 4, inW: 5, inC: 4, outC: 2, groups: 2, padH: 1, padW: 1, kh: 2, kw: 3 }),
    geom({ inH: 5, inW: 5, inC: 3, outC: 3, groups: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 }),
  ];
  for (const g of tiny) {
    const { x, w, bias, dy } = operands(g, 9);
    const dx = conv2dBackwardInputRef(g, dy, w);
    const { dw, dbias } = conv2dBackwardWeightRef(g, x, dy);
    // The loss Σ dy·y is bilinear, so central differences are exact up to
    // float64 rounding of the loss (~1e-16·|loss|/h with h = 1e-5): 1e-7 is ample.
    const check = (num: Float64Array, ana: Float64Array, what: string) => {
      for (let i = 0; i < num.length; i++) {
        assert(
          Math.abs(num[i] - ana[i]) <= 1e-7 * (1 + Math.abs(ana[i])),
          `${what}[${i}]: ${num[i]} vs ${ana[i]}`,
        );
      }
    };
    check(numericGrad((v) => dot(dy, conv2dRef(g, v, w, bias)), Float64Array.from(x)), dx, "dx");
    check(numericGrad((v) => dot(dy, conv2dRef(g, x, v, bias)), Float64Array.from(w)), dw, "dw");
    check(
      numericGrad((v) => dot(dy, conv2dRef(g, x, w, v)), Float64Array.from(bias)),
      dbias,
      "dbias",
    );
  }
});

Deno.test("conv geometry: output size and validation errors", () => {
  const g = CASES["4x3 kernel > strides 2x3, dilation (1,2)"];
  const [oh, ow] = outSizeRef(g);
  const { outH, outW } = convOutputSize(g);
  assert(outH === oh && outW === ow, `${outH}x${outW} vs ${oh}x${ow}`);
  assertThrows(() => convOutputSize(geom({ inH: 2, inW: 8, inC: 1, outC: 1 })), RangeError, "2x8");
  assertThrows(
    () => validateConv2d(geom({ inH: 8, inW: 8, inC: 6, outC: 4, groups: 4 })),
    RangeError,
    "groups 4",
  );
  assertThrows(
    () => validateConv2d(geom({ inH: 8, inW: 8, inC: 6, outC: 4, strideH: 0 })),
    RangeError,
    "strideH",
  );
  assertThrows(
    () => validateConv2d(geom({ inH: 8, inW: 8, inC: 6, outC: 4, padW: -1 })),
    RangeError,
    "padW",
  );
});

Deno.test(
  "conv builders name the tensor and both shapes on a mismatch",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      await Promise.resolve();
      const g = geom({ inH: 6, inW: 6, inC: 4, outC: 8 });
      const x = arena.tensor("x", [1, 6, 6, 4]);
      const w = arena.tensor("w", [8, 4, 3, 3]);
      const badY = arena.tensor("yBad", [1, 6, 6, 8]);
      assertThrows(
        () => conv2dForward(gpu, { geom: g, x, w, y: badY }),
        RangeError,
        '"yBad" has shape [1, 6, 6, 8], expected [1, 4, 4, 8]',
      );
      const y = arena.tensor("y", [1, 4, 4, 8]);
      const badW = arena.tensor("wT", [4, 8, 3, 3]);
      assertThrows(
        () => conv2dBackwardInput(gpu, { geom: g, dy: y, w: badW, dx: x }),
        RangeError,
        '"wT"',
      );
      assertThrows(
        () => conv2dBackwardWeight(gpu, { geom: g, x, dy: y, dw: w, dbias: x }),
        RangeError,
        "dbias",
      );
      assertThrows(
        () => conv2dForward(gpu, { geom: g, x, w, y, variant: "nope" }),
        RangeError,
        "valid here",
      );
    }),
);

for (const [name, g] of Object.entries(CASES)) {
  Deno.test(
    `conv ${name}: default, smallest texture tile and tiled variants match the reference`,
    gpuTest,
    () =>
      withArena((gpu, arena) =>
        checkPasses(gpu, arena, g, name, (vs) => {
          const tex = vs.filter((v) => v.startsWith("tex_"));
          return [...new Set([vs[0], tex[tex.length - 1] ?? "tiled", "tiled"])];
        })
      ),
  );
}

Deno.test(
  "conv: every texture tile, on the vec4 path and on the row-window path",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // Channels per group multiples of 4: every pass takes the vec4 kernels.
      const aligned = geom({ batch: 2, inH: 11, inW: 10, inC: 8, outC: 36, padH: 1, padW: 1 });
      await checkPasses(gpu, arena, aligned, "aligned", (vs) => vs);
      // Cin 3: the forward pass takes the row-window kernel (stride 2 and dilation 2 here).
      const rowsFwd = geom({
        inH: 9,
        inW: 11,
        inC: 3,
        outC: 36,
        padH: 1,
        padW: 2,
        strideW: 2,
        dilationH: 2,
      });
      await checkPasses(
        gpu,
        arena,
        rowsFwd,
        "row-window forward",
        (vs, pass) => pass === "forward" ? vs : [],
      );
      // Cout 6 at stride 1: the input gradient takes the row-window kernel.
      const rowsIn = geom({ inH: 7, inW: 9, inC: 36, outC: 6, padH: 2, padW: 1, dilationW: 2 });
      await checkPasses(
        gpu,
        arena,
        rowsIn,
        "row-window input",
        (vs, pass) => pass === "input" ? vs : [],
      );
    }),
);

Deno.test(
  "conv: small-K forward and weight passes (Cin 1-3), every texture tile, vec4 and scalar stores",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // Cin 1 and 2 take the row-window kernel; Cout 16 its vec4 stores (and
      // the tex_4x16 tile), Cout 5 its scalar stores. Rows of 7 and 9 pixels
      // leave partial pixel tiles for every tile width.
      const small: Record<string, Conv2dGeometry> = {
        "Cin 1 -> 16, 3x3 pad 1": geom({
          batch: 3,
          inH: 7,
          inW: 9,
          inC: 1,
          outC: 16,
          padH: 1,
          padW: 1,
        }),
        "Cin 1 -> 16, 3x3 stride 2 pad 2": geom({
          batch: 3,
          inH: 9,
          inW: 7,
          inC: 1,
          outC: 16,
          strideH: 2,
          strideW: 2,
          padH: 2,
          padW: 2,
        }),
        "Cin 1 -> 5, 5x5 pad 2": geom({
          batch: 3,
          inH: 7,
          inW: 9,
          inC: 1,
          outC: 5,
          kh: 5,
          kw: 5,
          padH: 2,
          padW: 2,
        }),
        "Cin 1 -> 16, 1x1 stride 2": geom({
          batch: 3,
          inH: 7,
          inW: 9,
          inC: 1,
          outC: 16,
          kh: 1,
          kw: 1,
          strideH: 2,
          strideW: 2,
        }),
        "Cin 2 -> 16, 3x3 pad 0": geom({ batch: 3, inH: 7, inW: 9, inC: 2, outC: 16 }),
        "Cin 3 -> 5, 3x3 pad 1": geom({
          batch: 3,
          inH: 7,
          inW: 9,
          inC: 3,
          outC: 5,
          padH: 1,
          padW: 1,
        }),
      };
      for (const [name, g] of Object.entries(small)) {
        // Every texture tile of the forward and weight passes (their small-K rules).
        await checkPasses(gpu, arena, g, name, (vs, pass) =>
          pass === "input" ? [] : vs.filter((v) =>
            v.startsWith("tex_")
          ));
      }
    }),
);

Deno.test(
  "conv weight gradient without bias leaves the bias column out",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const g = CASES["groups 2"];
      const { x, dy } = operands(g, 5);
      const [oh, ow] = outSizeRef(g);
      const X = upload(gpu, arena, "x", [1, 6, 6, 8], x);
      const DY = upload(gpu, arena, "dy", [1, oh, ow, 8], dy);
      const { dw } = conv2dBackwardWeightRef(g, x, dy);
      const abs2 = conv2dBackwardWeightRef(g, abs(x), abs(dy));
      for (const variant of conv2dVariants(gpu, "weight", g)) {
        const DW = arena.tensor("dw", [8, 4, 3, 3]);
        submit(gpu, conv2dBackwardWeight(gpu, { geom: g, x: X, dy: DY, dw: DW, variant }));
        const [got] = await readTensors(gpu, [DW]);
        assertDotBound(got, dw, abs2.dw, oh * ow, `no-bias weight-grad ${variant}`);
      }
    }),
);

Deno.test("conv default variant follows the adapter", gpuTest, async () => {
  const gpu = await testGpu();
  const g = CASES["stride 2, pad 0, Cin 8"];
  for (const pass of ["forward", "input", "weight"] as const) {
    const vs = conv2dVariants(gpu, pass, g);
    assert(vs.includes("tiled") && vs.some((v) => v.startsWith("tex_")), vs.join());
    assert(vs[0].startsWith("tex_") === gpu.adapter.isFallbackAdapter, `${pass}: ${vs[0]}`);
  }
});
