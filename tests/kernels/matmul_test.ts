import { assert, assertEquals, assertThrows } from "../assert.ts";
import { numericGrad } from "../ref/finite_diff.ts";
import {
  activationGradRef,
  activationRef,
  matmulAbsRef,
  matmulBackwardRef,
  matmulPreactRef,
  matmulRef,
  type RefActivation,
  type RefMatmulOpts,
} from "../ref/matmul.ts";
import { gpuTest, randn, testGpu, upload, withArena } from "../util.ts";
import type { Command } from "../../lib/gpu/commands.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import {
  ACTIVATIONS,
  matmul,
  matmulChoice,
  type MatmulProblem,
  matmulVariants,
  textureMirror,
} from "../../lib/kernels/matmul/matmul.ts";
import { findMatmulVariant, MATMUL_VARIANTS } from "../../lib/kernels/matmul/variants.ts";
import { resolveMatmul } from "../../lib/kernels/matmul/types.ts";
import { buildTexMatmul } from "../../lib/kernels/matmul/tex.ts";
import { buildTiledMatmul } from "../../lib/kernels/matmul/tiled.ts";
import { buildSplitKMatmul } from "../../lib/kernels/matmul/splitk.ts";
import {
  assertWithin,
  bounds,
  type Case,
  epilogueFor,
  regShapes,
  regTileOf,
  runCases,
  shapeName,
  type ShapePlan,
  SHAPES,
  TRANSPOSES,
} from "./matmul_cases.ts";

// The 32-row tiles take seconds each to compile on llvmpipe, so they skip the
// mid-sized aligned shapes, keeping the small ones and 33×65×17 (full tiles,
// shifted edges, misaligned reads, a K tail) in every transpose pair, plus one
// aligned shape with full 32-row tiles and shifted edges in NN and TT, which
// between them use each operand's two vector-read layouts.
const BIG_TILES = new Set(["tex_32x32", "tex_32x16"]);
const BIG_TILE_SHAPES = SHAPES.filter((s) => s.m <= 12 || s.n <= 12 || s.k === 17);
const BIG_TILE_ALIGNED: MatmulProblem = { m: 40, n: 20, k: 12 };
const ALL_LAYOUTS = TRANSPOSES;
const NN_TT = [TRANSPOSES[0], TRANSPOSES[3]];

// Register-blocked kernels compile in 1–6 s per shape on llvmpipe: each runs
// the shapes reaching every path of their shared generator (regShapes), and
// the cheapest to compile runs every awkward shape too.
const REG_FULL_COVERAGE = "reg_64x64x16_4x4";

/** The shapes and layouts variant `name` is checked on. */
function planFor(name: string): ShapePlan[] {
  const every = (shapes: MatmulProblem[]) =>
    shapes.map((shape) => ({ shape, layouts: ALL_LAYOUTS }));
  const reg = regTileOf(name);
  if (reg) return [...(name === REG_FULL_COVERAGE ? every(SHAPES) : []), ...regShapes(reg)];
  if (BIG_TILES.has(name)) {
    return [...every(BIG_TILE_SHAPES), { shape: BIG_TILE_ALIGNED, layouts: NN_TT }];
  }
  return every(SHAPES);
}

for (const v of MATMUL_VARIANTS) {
  Deno.test(
    `matmul ${v.name}: every transpose × awkward shape × epilogue vs float64`,
    gpuTest,
    () =>
      withArena(async (gpu, arena) => {
        const cases = [];
        let i = 0;
        for (const { shape, layouts } of planFor(v.name)) {
          for (const [transA, transB] of layouts) {
            const c: Case = { ...shape, transA, transB, ...epilogueFor(i++) };
            cases.push({ c, variant: v.name, what: `${v.name} ${shapeName(c)}` });
          }
        }
        await runCases(gpu, arena, cases);
      }),
  );
}

Deno.test(
  "matmul: every activation with the default variant choice",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const cases = ACTIVATIONS.map((activation, i) => {
        const c: Case = { m: 24, n: 28, k: 40, transB: i % 2 === 1, bias: true, activation };
        return { c, what: `default ${shapeName(c)}` };
      });
      await runCases(gpu, arena, cases);
    }),
);

Deno.test(
  "matmul: split-K with a long K (many slices and a K tail)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const cases = ["splitk4_16x16", "splitk16_8x8", "splitk64_8x8"].flatMap((variant, i) =>
        TRANSPOSES.map(([transA, transB], j) => {
          const c: Case = { m: 6, n: 10, k: 1031, transA, transB, ...epilogueFor(i + j) };
          return { c, variant, what: `${variant} ${shapeName(c)}` };
        })
      );
      await runCases(gpu, arena, cases);
    }),
);

Deno.test(
  "matmul: grids past 65535 workgroups wrap to 2-D and cover every tile once",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // At the real limit: 530000 one-element products are 66250 workgroups
      // of 8 for the texture kernel. All kernels are also checked with a
      // lowered limit: wrapping the split-K reduction for real needs > 4.2 M
      // outputs, and the storage-tiled kernel 65536 workgroups with barriers
      // (seconds on llvmpipe).
      const big: Case = {
        m: 1,
        n: 1,
        k: 1,
        batch: 530000,
        bBroadcast: true,
        bias: true,
        activation: "relu",
      };
      // Lowered limit of 3 workgroups per dimension: 10 to 40 workgroups become
      // (x, y) grids with spare workgroups that must not write.
      const c: Case = {
        m: 7,
        n: 13,
        k: 5,
        batch: 40,
        bias: true,
        activation: "tanh",
        transB: true,
      };
      const tile = { tm: 8, tn: 8 };
      await runCases(gpu, arena, [
        { c: big, variant: "tex_8x8", what: "tex_8x8 66250 workgroups" },
        {
          c,
          what: "tex, maxGrid 3",
          build: (g, x) => buildTexMatmul(g, resolveMatmul(x), tile, "t", { maxGrid: 3 }),
        },
        {
          c,
          what: "tiled, maxGrid 3",
          build: (g, x) =>
            buildTiledMatmul(g, resolveMatmul(x), { tx: 8, ty: 8, r: 4, bk: 16 }, "t", 3),
        },
        {
          c,
          what: "split-K, maxGrid 3",
          build: (g, x) => buildSplitKMatmul(g, resolveMatmul(x), tile, 4, "s", 3),
        },
      ]);
    }),
);

Deno.test(
  "matmul: a and b the same tensor share one texture mirror (X·Xᵀ)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const x = Float32Array.from(randn(5, 12 * 20));
      const xT = upload(gpu, arena, "x", [12, 20], x);
      const out = arena.tensor("gram", [12, 12]);
      const cmds = matmul(gpu, {
        a: xT,
        b: xT,
        out,
        m: 12,
        n: 12,
        k: 20,
        transB: true,
        variant: "tex_8x8",
      });
      assertEquals(cmds.filter((c) => c.kind === "copyToTexture").length, 1);
      const again = matmul(gpu, {
        a: xT,
        b: xT,
        out,
        m: 12,
        n: 12,
        k: 20,
        transB: true,
        variant: "tex_16x16",
      });
      const mirrors = (cs: Command[]) =>
        cs.flatMap((c) => (c.kind === "copyToTexture" ? [c.dst] : []));
      assert(mirrors(cmds)[0] === mirrors(again)[0], "the mirror is created once per tensor");
      assert(mirrors(cmds)[0] === textureMirror(gpu, xT));
      submit(gpu, cmds);
      const [got] = await readTensors(gpu, [out]);
      const o = { m: 12, n: 12, k: 20, transB: true };
      const ref = matmulRef(x, x, o);
      assertWithin(got, ref, bounds(matmulAbsRef(x, x, o), ref, 20), "gram");
    }),
);

Deno.test("matmul: the tolerance catches a single wrong element", () => {
  // Guards against a vacuous bound: one value off by 1e-4 relative must fail.
  const o = { m: 4, n: 4, k: 64 };
  const a = Float32Array.from(randn(1, 256));
  const b = Float32Array.from(randn(2, 256));
  const ref = matmulRef(a, b, o);
  const bad = Float32Array.from(ref);
  bad[5] += 1e-4 * Math.max(1, Math.abs(ref[5]));
  assertThrows(
    () => assertWithin(bad, ref, bounds(matmulAbsRef(a, b, o), ref, 64), "bad"),
    Error,
    "element 5",
  );
  assertWithin(Float32Array.from(ref), ref, bounds(matmulAbsRef(a, b, o), ref, 64), "exact");
});

Deno.test(
  "matmul: shape mismatches throw RangeError naming tensors and shapes",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const a = arena.tensor("x", [4, 6]);
      const b = arena.tensor("w", [6, 5]);
      const out = arena.tensor("y", [4, 5]);
      const base = { a, b, out, m: 4, n: 5, k: 6 };
      assertThrows(() => matmul(gpu, { ...base, k: 7 }), RangeError, 'a "x" has shape [4, 6]');
      assertThrows(
        () => matmul(gpu, { ...base, b: arena.tensor("w2", [5, 5]) }),
        RangeError,
        'b "w2"',
      );
      assertThrows(
        () => matmul(gpu, { ...base, out: arena.tensor("y2", [5, 5]) }),
        RangeError,
        "expected [4, 5]",
      );
      assertThrows(
        () => matmul(gpu, { ...base, bias: arena.tensor("bb", [4]) }),
        RangeError,
        'bias "bb"',
      );
      assertThrows(() => matmul(gpu, { ...base, batch: 2 }), RangeError, "expected 2×[4, 6]");
      assertThrows(
        () => matmul(gpu, { ...base, m: 0 }),
        RangeError,
        "m must be a positive integer",
      );
      assertThrows(() => matmul(gpu, { ...base, alpha: NaN }), RangeError, "alpha");
      assertThrows(
        () => matmul(gpu, { ...base, out: a, m: 4, n: 6, k: 6, b: arena.tensor("s", [6, 6]) }),
        RangeError,
        "overlaps",
      );
      assertThrows(() => matmul(gpu, { ...base, variant: "tex_3x3" }), RangeError, "valid: ");
      assertThrows(
        // deno-lint-ignore no-explicit-any
        () => matmul(gpu, { ...base, activation: "swish" as any }),
        RangeError,
        'unknown activation "swish"',
      );
      await Promise.resolve();
    }),
);

Deno.test("matmul: variant listing and the adapter heuristic", gpuTest, async () => {
  const gpu = await testGpu();
  const names = matmulVariants(gpu, { m: 128, n: 256, k: 784, transB: true });
  for (const prefix of ["tex_", "tiled_", "splitk", "reg_", "reg_splitk"]) {
    assert(names.some((n) => n.startsWith(prefix)), prefix);
  }
  const prev = Deno.env.get("ADABK_TUNE");
  Deno.env.set("ADABK_TUNE", "0"); // the heuristic alone, whatever is cached
  try {
    const choice = matmulChoice(gpu, { m: 512, n: 512, k: 512 });
    assertEquals(choice.source, "heuristic");
    // Software adapters must get a texture kernel, GPUs a workgroup-tiled one.
    assertEquals(
      findMatmulVariant(choice.variant)!.family,
      gpu.adapter.isFallbackAdapter ? "tex" : "tiled",
      choice.variant,
    );
    // A tiny output with a long K splits K on any adapter.
    const split = matmulChoice(gpu, { m: 4, n: 10, k: 4096 }).variant;
    assert(/^(reg_)?splitk/.test(split), split);
    assertEquals(
      matmulChoice(gpu, { m: 4, n: 4, k: 4, variant: "tex_8x8" } as MatmulProblem).source,
      "forced",
    );
  } finally {
    if (prev === undefined) Deno.env.delete("ADABK_TUNE");
    else Deno.env.set("ADABK_TUNE", prev);
  }
});

Deno.test("reference: activation derivatives match central differences", () => {
  for (const act of ACTIVATIONS as readonly RefActivation[]) {
    for (const x of [-3.1, -0.7, -0.05, 0.3, 1.9, 4.2]) {
      const num = (activationRef(x + 1e-5, act) - activationRef(x - 1e-5, act)) / 2e-5;
      // Central differences in float64 with h = 1e-5: truncation ~h²·|f'''| ≲ 1e-9.
      assert(Math.abs(num - activationGradRef(x, act)) < 1e-7, `${act}'(${x})`);
    }
  }
});

Deno.test("reference: matmul backward matches central differences", () => {
  const cases: RefMatmulOpts[] = [
    { m: 3, n: 4, k: 5, activation: "gelu", alpha: 0.7, beta: 0.4 },
    { m: 2, n: 3, k: 4, transA: true, transB: true, activation: "tanh" },
    { m: 2, n: 2, k: 3, batch: 2, bBroadcast: true, transB: true, activation: "sigmoid" },
    { m: 3, n: 2, k: 2, batch: 2, transA: true, activation: "relu", beta: -1.5 },
  ];
  cases.forEach((o, ci) => {
    const batch = o.batch ?? 1;
    const bBatch = o.bBroadcast ? 1 : batch;
    const a = randn(10 + ci, batch * o.m * o.k);
    const b = randn(20 + ci, bBatch * o.k * o.n);
    const c0 = randn(30 + ci, batch * o.m * o.n);
    const bias = randn(40 + ci, o.n);
    const w = randn(50 + ci, batch * o.m * o.n);
    const loss = (aa: Float64Array, bb: Float64Array, cc: Float64Array, bi: Float64Array) =>
      matmulRef(aa, bb, { ...o, c0: cc, bias: bi }).reduce((s, v, i) => s + w[i] * v, 0);
    const g = matmulBackwardRef(a, b, w, { ...o, c0, bias });
    // Differences must not straddle relu's kink: every pre-activation is far
    // (≫ h·Σ|∂z/∂x|) from 0.
    const z = matmulPreactRef(a, b, { ...o, c0, bias });
    assert(z.every((v) => Math.abs(v) > 1e-3), `case ${ci}: a pre-activation is too close to 0`);
    // float64 central differences with h = 1e-5: error ~1e-9 for these smooth
    // functions; the 1e-6 bound leaves three orders of margin.
    const check = (got: Float64Array, num: Float64Array, what: string) =>
      got.forEach((v, i) =>
        assert(Math.abs(v - num[i]) < 1e-6, `case ${ci} ${what}[${i}]: ${v} vs ${num[i]}`)
      );
    check(g.da, numericGrad((x) => loss(x, b, c0, bias), a), "da");
    check(g.db, numericGrad((x) => loss(a, x, c0, bias), b), "db");
    check(g.dc0, numericGrad((x) => loss(a, b, x, bias), c0), "dc0");
    check(g.dbias, numericGrad((x) => loss(a, b, c0, x), bias), "dbias");
  });
});
