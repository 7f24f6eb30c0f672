/**
 * The register-blocked (GPU-class) matmul beyond the per-variant sweep of
 * matmul_test.ts: split-K with long K, grids that wrap, tiles outside the
 * registry (partial staging rounds, 8×4 micro-tiles), what the generator
 * leaves out on aligned shapes, device-limit checks, and the hardware
 * heuristic on a simulated GPU.
 * @module
 */

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { gpuTest, withArena } from "../util.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import { type MatmulArgs, resolveMatmul, resolveProblem } from "../../lib/kernels/matmul/types.ts";
import {
  buildRegMatmul,
  regKSplit,
  regMatmulWgsl,
  type RegTile,
  regTileFits,
} from "../../lib/kernels/matmul/reg.ts";
import { buildRegSplitKMatmul } from "../../lib/kernels/matmul/splitk.ts";
import { heuristicMatmulVariant, MATMUL_VARIANTS } from "../../lib/kernels/matmul/variants.ts";
import { type Case, epilogueFor, regTileOf, runCases, shapeName } from "./matmul_cases.ts";

const EP = { alpha: 1, beta: 0, hasBias: false, activation: "none" } as const;

Deno.test("reg: every register-blocked variant name parses to its tile", () => {
  const reg = MATMUL_VARIANTS.filter((v) => v.name.startsWith("reg_"));
  assert(reg.length >= 8, `${reg.length} register-blocked variants`);
  for (const v of reg) {
    assert(
      regTileOf(v.name),
      `${v.name} does not parse: matmul_test.ts would skip its tile shapes`,
    );
    assertEquals(v.family, "tiled", v.name); // tuners skip "tiled" on software adapters
  }
});

Deno.test(
  "reg split-K: long K (slices, a K tail past the last slice) and exact slices, batched",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const names = MATMUL_VARIANTS.map((v) => v.name).filter((n) => n.startsWith("reg_splitk"));
      let i = 0;
      const cases = names.flatMap((variant) => {
        const plan: [Case, boolean, boolean][] = [
          [{ m: 6, n: 10, k: 1031 }, false, false],
          [{ m: 6, n: 10, k: 1031 }, true, true],
          // 512 = 8 slices of 64 (or 16 of 32): no K bounds checks at all.
          [{ m: 32, n: 64, k: 512, batch: 2 }, false, true],
        ];
        return plan.map(([s, transA, transB]) => {
          const c: Case = { ...s, transA, transB, ...epilogueFor(i++) };
          return { c, variant, what: `${variant} ${shapeName(c)}` };
        });
      });
      await runCases(gpu, arena, cases);
    }),
);

Deno.test(
  "reg: grids past the per-dimension limit wrap to 2-D and cover every tile once",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const t: RegTile = { bm: 32, bn: 32, bk: 32, tm: 4, tn: 4 };
      const c: Case = {
        m: 7,
        n: 13,
        k: 5,
        batch: 40,
        bias: true,
        activation: "tanh",
        transB: true,
      };
      // 4 batches × 4 K slices = 16 workgroups on a 3-wide grid.
      const s: Case = { m: 7, n: 13, k: 100, batch: 4, beta: 0.5, activation: "relu" };
      await runCases(gpu, arena, [
        {
          c,
          what: "reg, maxGrid 3",
          build: (g, x) => buildRegMatmul(g, resolveMatmul(x), t, "r", { maxGrid: 3 }),
        },
        {
          c: s,
          what: "reg split-K, maxGrid 3",
          build: (g, x) => buildRegSplitKMatmul(g, resolveMatmul(x), t, 8, "s", 3),
        },
      ]);
    }),
);

Deno.test(
  "reg: tiles outside the registry (partial staging rounds, 8×4 micro-tiles)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // 64×32×4 with 4×4 blocks: 128 threads stage 64 groups of a (half idle).
      // 32×16×8 with 8×4 blocks: 16 threads stage 4 groups of a, 2 of b each.
      const tiles: RegTile[] = [
        { bm: 64, bn: 32, bk: 4, tm: 4, tn: 4 },
        { bm: 32, bn: 16, bk: 8, tm: 8, tn: 4 },
      ];
      let i = 0;
      const cases = tiles.flatMap((t) => {
        const shapes: [Case, boolean, boolean][] = [
          [{ m: 33, n: 65, k: 17 }, false, false],
          [{ m: 33, n: 65, k: 17 }, false, true],
          [{ m: 33, n: 65, k: 17 }, true, false],
          [{ m: 33, n: 65, k: 17 }, true, true],
          [{ m: t.bm, n: 2 * t.bn, k: 3 * t.bk }, false, false],
          [{ m: t.bm + 4, n: t.bn + 4, k: t.bk + 8, batch: 2 }, true, true],
        ];
        return shapes.map(([s, transA, transB]) => {
          const c: Case = { ...s, transA, transB, ...epilogueFor(i++) };
          return {
            c,
            what: `reg ${JSON.stringify(t)} ${shapeName(c)}`,
            build: (g: Gpu, x: MatmulArgs) => buildRegMatmul(g, resolveMatmul(x), t, "custom"),
          };
        });
      });
      await runCases(gpu, arena, cases);
    }),
);

Deno.test("reg: aligned shapes compile without bounds checks, awkward ones with them", () => {
  const t: RegTile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 8 };
  const count = (s: string, what: string) => s.split(what).length - 1;
  for (const [transA, transB] of [[false, false], [true, true], [false, true], [true, false]]) {
    const aligned = regMatmulWgsl(resolveProblem({ m: 128, n: 192, k: 64, transA, transB }), t, EP);
    // Only the spare-workgroup return and the two "is there a next K tile" tests.
    assertEquals(count(aligned, "if ("), 3, `aligned ${transA} ${transB}`);
    assert(aligned.includes("array<vec4<f32>>;"), "vec4 bindings");
    assert(!aligned.includes("var<storage, read> A: array<f32>"), "vec4 loads of a");
    const odd = regMatmulWgsl(resolveProblem({ m: 33, n: 65, k: 17, transA, transB }), t, EP);
    for (const bound of ["< 33u", "< 65u", "< 17u"]) assert(odd.includes(bound), bound);
  }
});

Deno.test("reg: K slices are whole K steps, none empty; bad tiles and slices are refused", () => {
  for (const [k, s, bk] of [[1031, 8, 16], [512, 8, 16], [100352, 32, 32], [5, 8, 32]]) {
    const { slices, ks } = regKSplit(k, s, bk);
    assert(ks % bk === 0 && slices <= s && (slices - 1) * ks < k && slices * ks >= k, `${k}`);
  }
  const p = resolveProblem({ m: 8, n: 8, k: 100 });
  assertThrows(
    () => regMatmulWgsl(p, { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 }, null, { slices: 4, ks: 25 }),
    RangeError,
    "not a multiple of bk",
  );
});

/** A stand-in for a GPU with `limits`: the heuristic and validity read nothing else. */
function fakeGpu(limits: Partial<GPUSupportedLimits>): Gpu {
  const base = {
    maxStorageBufferBindingSize: 2 ** 31,
    maxComputeWorkgroupStorageSize: 49152,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupSizeX: 1024,
    maxComputeWorkgroupsPerDimension: 65535,
    maxTextureDimension2D: 32768,
  };
  return {
    adapter: { isFallbackAdapter: false, description: "simulated GPU", key: "sim" },
    limits: { ...base, ...limits },
  } as unknown as Gpu;
}

Deno.test("reg: limits decide which tiles fit", () => {
  const llvmpipe = fakeGpu({ maxComputeWorkgroupStorageSize: 32768 });
  const webgpuDefault = fakeGpu({
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
  });
  assert(!regTileFits(llvmpipe, { bm: 128, bn: 128, bk: 16, tm: 8, tn: 8 }), "33.8 KiB > 32 KiB");
  assert(regTileFits(llvmpipe, { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 }));
  assert(!regTileFits(webgpuDefault, { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 }), "16.9 KiB");
  assert(!regTileFits(webgpuDefault, { bm: 128, bn: 128, bk: 4, tm: 4, tn: 8 }), "512 threads");
  // Every registered variant runs on llvmpipe's limits, so all are tested there.
  const p = resolveProblem({ m: 64, n: 64, k: 64 });
  for (const v of MATMUL_VARIANTS) assert(v.valid(llvmpipe, p), v.name);
});

Deno.test("reg: the hardware heuristic picks tiles by size and splits long K", () => {
  const h200 = fakeGpu({});
  const pick = (m: number, n: number, k: number, gpu = h200) =>
    heuristicMatmulVariant(gpu, resolveProblem({ m, n, k }));
  assertEquals(pick(4096, 4096, 4096), "reg_128x128x8_8x8");
  assertEquals(pick(2048, 2048, 2048), "reg_128x128x8_8x8");
  assertEquals(pick(1569, 1569, 1569), "reg_128x64x8_8x8");
  assertEquals(pick(1024, 1024, 1024), "reg_64x64x16_4x8");
  assertEquals(pick(512, 512, 512), "reg_32x32x32_4x4");
  assertEquals(pick(128, 10, 256), "reg_32x32x32_4x4");
  // A conv weight gradient: 32×288 outputs over batch × pixels.
  assertEquals(pick(32, 288, 128 * 28 * 28), "reg_splitk32_32x32x32_4x4");
  assertEquals(pick(256, 256, 8192), "reg_splitk8_32x32x32_4x4");
  // With WebGPU's default 16 KiB of workgroup memory the 128×128 tile steps aside.
  const small = fakeGpu({ maxComputeWorkgroupStorageSize: 16384 });
  assertEquals(pick(4096, 4096, 4096, small), "reg_128x64x8_8x8");
});
