/**
 * The `reduce.axis` family: every plan it lists computes the float64
 * reference (odd sizes, both layouts, every combine rule, with and without
 * scratch); names are canonical; the untuned plan is what the strategies
 * gave before the family existed; reductions record the family's choice,
 * take a tuned one from the cache, and a tuning run picks and keeps one.
 */

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { dispatchCount, submit } from "../../lib/gpu/commands.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena, Tensor } from "../../lib/gpu/tensor.ts";
import {
  type AxisPass,
  axisReduce,
  type AxisReduceProblem,
  parseReducePlan,
  reduceAxisFamily,
  reduceCols,
  reducePlanName,
  type ReduceVariant,
} from "../../lib/kernels/reduce/reduce.ts";
import { batchNormTrainForward } from "../../lib/kernels/reduce/batchnorm.ts";
import { recordChoices } from "../../lib/kernels/tune/choose.ts";
import { tune } from "../../lib/kernels/tune/tuner.ts";
import { entryHash, tuneCache } from "../../lib/kernels/tune/cache.ts";
import {
  assertClose,
  download,
  gpuTest,
  maxAbs,
  randn,
  testGpu,
  upload,
  withArena,
} from "../util.ts";
import { sumDepth, U } from "./batchnorm_bounds.ts";
import { fakeGpu, removeQuietly, tempTunePath, withTuneEnv } from "./tune/fakes.ts";

/** Integers in [-4, 4]: sums of squares of ≤ 10⁶ of them are exact in f32. */
function smallInts(seed: number, n: number): Float64Array {
  return randn(seed, n).map((v) => Math.max(-4, Math.min(4, Math.round(v * 2))));
}

/** One reduction under test: its pass over `x` (and `y`), and the float64 results of `out`. */
interface Case {
  what: string;
  M: number;
  L: number;
  contiguous: "k" | "m";
  split: boolean;
  streams: 1 | 2;
  combine: AxisReduceProblem["combine"];
  width: 1 | 2;
  pass: (x: Tensor, y: Tensor, out: Tensor) => AxisPass;
  /** Float64 values of `out` [2M] from the inputs. */
  want: (x: Float64Array, y: Float64Array) => Float64Array;
  /** Tolerance for plan `v`. */
  tol: (v: ReduceVariant, x: Float64Array) => { atol: number; rtol: number };
}

const exact = () => ({ atol: 0, rtol: 0 });

/** x[index(m, k)] for every k of output m. */
function column(x: Float64Array, c: Case, m: number): number[] {
  return Array.from({ length: c.L }, (_, k) => x[c.contiguous === "m" ? k * c.M + m : m * c.L + k]);
}

const CASES: Case[] = [
  {
    // Batch-norm statistics: the bounds of batchnorm_test.ts (mean: D·2^-24·max|x|; the centred
    // sum of squares, a sum of positive terms, relatively 2·D·2^-24).
    what: "welford, columns, 5 × 1031",
    M: 5,
    L: 1031,
    contiguous: "m",
    split: true,
    streams: 1,
    combine: "welford",
    width: 1,
    pass: (x, _y, out) => ({
      label: "t_welford",
      M: 5,
      L: 1031,
      width: 1,
      combine: "welford",
      inputs: [{ name: "x", tensor: x }],
      outputs: [{ name: "out", tensor: out, write: true }],
      load: (n) => `${n.x}[k * 5u + m]`,
      store: (n) => `  ${n.out}[m] = acc.y;\n  ${n.out}[5u + m] = acc.z;`,
    }),
    want(x) {
      const out = new Float64Array(10);
      for (let m = 0; m < 5; m++) {
        const v = column(x, CASES[0], m);
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        out[m] = mean;
        out[5 + m] = v.reduce((a, b) => a + (b - mean) ** 2, 0);
      }
      return out;
    },
    tol: (v, x) => ({
      atol: sumDepth(v, 1031, 5) * U * maxAbs(x),
      rtol: 2 * sumDepth(v, 1031, 5) * U,
    }),
  },
  {
    // Two sums at once over two streams, rows contiguous: integer data, every sum exact.
    what: "sum of width 2 over two streams, rows, 37 × 300",
    M: 37,
    L: 300,
    contiguous: "k",
    split: true,
    streams: 2,
    combine: "sum",
    width: 2,
    pass: (x, y, out) => ({
      label: "t_sum2",
      M: 37,
      L: 300,
      width: 2,
      combine: "sum",
      inputs: [{ name: "x", tensor: x }, { name: "y", tensor: y }],
      outputs: [{ name: "out", tensor: out, write: true }],
      load: (n) =>
        `vec2<f32>(${n.x}[m * 300u + k] + ${n.y}[m * 300u + k], ${n.x}[m * 300u + k] * ${n.x}[m * 300u + k])`,
      store: (n) => `  ${n.out}[m] = acc.x;\n  ${n.out}[37u + m] = acc.y;`,
    }),
    want(x, y) {
      const out = new Float64Array(74);
      for (let m = 0; m < 37; m++) {
        for (let k = 0; k < 300; k++) {
          out[m] += x[m * 300 + k] + y[m * 300 + k];
          out[37 + m] += x[m * 300 + k] ** 2;
        }
      }
      return out;
    },
    tol: exact,
  },
  {
    what: "max of one long row, 1 × 4099",
    M: 1,
    L: 4099,
    contiguous: "k",
    split: true,
    streams: 1,
    combine: "max",
    width: 1,
    pass: (x, _y, out) => ({
      label: "t_max",
      M: 1,
      L: 4099,
      width: 1,
      combine: "max",
      inputs: [{ name: "x", tensor: x }],
      outputs: [{ name: "out", tensor: out, write: true }],
      load: (n) => `${n.x}[k]`,
      store: (n) => `  ${n.out}[0] = acc;\n  ${n.out}[1] = -acc;`,
    }),
    want: (x) => {
      const m = Math.max(...x);
      return Float64Array.from([m, -m]);
    },
    tol: exact,
  },
  {
    // No scratch: only plans of one chunk may be listed.
    what: "sum of columns without scratch, 70 × 65",
    M: 70,
    L: 65,
    contiguous: "m",
    split: false,
    streams: 1,
    combine: "sum",
    width: 1,
    pass: (x, _y, out) => ({
      label: "t_sum_noscratch",
      M: 70,
      L: 65,
      width: 1,
      combine: "sum",
      inputs: [{ name: "x", tensor: x }],
      outputs: [{ name: "out", tensor: out, write: true }],
      load: (n) => `${n.x}[k * 70u + m]`,
      store: (n) => `  ${n.out}[m] = acc;\n  ${n.out}[70u + m] = 2.0 * acc;`,
    }),
    want(x) {
      const out = new Float64Array(140);
      for (let m = 0; m < 70; m++) {
        out[m] = column(x, CASES[3], m).reduce((a, b) => a + b, 0);
        out[70 + m] = 2 * out[m];
      }
      return out;
    },
    tol: exact,
  },
];

function problemOf(c: Case): AxisReduceProblem {
  return {
    M: c.M,
    L: c.L,
    contiguous: c.contiguous,
    combine: c.combine,
    width: c.width,
    streams: c.streams,
    split: c.split,
  };
}

/** Every plan either adapter's tuner may list or choose for `c`. */
function plansOf(gpu: Gpu, c: Case): string[] {
  const p = problemOf(c);
  const all = new Set(reduceAxisFamily.variants(gpu, p));
  for (const g of [fakeGpu(true), fakeGpu(false)]) {
    for (const v of reduceAxisFamily.candidates!(g, p)) all.add(v);
    all.add(reduceAxisFamily.heuristic(g, p));
  }
  return [...all];
}

async function checkCase(gpu: Gpu, arena: BufferArena, c: Case, seed: number): Promise<number> {
  const xv = c.combine === "welford"
    ? randn(seed, c.M * c.L, 3).map((v) => v + 40)
    : smallInts(seed, c.M * c.L);
  const yv = smallInts(seed + 1, c.M * c.L);
  const x = upload(gpu, arena, "x", [c.M * c.L], xv);
  const y = upload(gpu, arena, "y", [c.M * c.L], yv);
  const want = c.want(xv, yv);
  const plans = plansOf(gpu, c);
  const outs = plans.map((v) => {
    const out = arena.tensor(`out.${v}`, [2 * c.M]);
    const pass = c.pass(x, y, out);
    const variant = v as ReduceVariant;
    submit(
      gpu,
      axisReduce(gpu, pass, {
        variant,
        contiguous: c.contiguous,
        arena: c.split ? arena : undefined,
      }),
    );
    return out;
  });
  for (let i = 0; i < plans.length; i++) {
    const v = plans[i] as ReduceVariant;
    if (!c.split) {
      assert(parseReducePlan(v, c.L)!.splits === 1, `${c.what}: ${v} splits without scratch`);
    }
    assertClose(await download(gpu, outs[i]), want, c.tol(v, xv), `${c.what}, ${v}`);
  }
  return plans.length;
}

Deno.test(
  "reduce.axis: every listed plan matches float64 (welford, sum², max, no scratch; odd sizes)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      let n = 0;
      for (const [i, c] of CASES.entries()) n += await checkCase(gpu, arena, c, 11 + i);
      assert(n >= 40, `only ${n} plans checked`);
    }),
);

Deno.test("reduce.axis: names are canonical; bad forced plans are refused by name", () => {
  const gpu = fakeGpu(true);
  for (const c of CASES) {
    const p = problemOf(c);
    const vs = reduceAxisFamily.variants(gpu, p);
    assertEquals(vs[0], reduceAxisFamily.heuristic(gpu, p), "the untuned plan comes first");
    assertEquals(new Set(vs).size, vs.length, "no duplicates");
    for (const v of vs) {
      const plan = parseReducePlan(v, c.L);
      assert(plan, `${v} parses`);
      assertEquals(reducePlanName(plan), v, "one name per plan");
    }
  }
  // 10 inputs cannot be cut into 6 chunks (chunks of 2 make 5): the name is not canonical.
  assertEquals(parseReducePlan("serial_s6", 10), undefined);
  assertEquals(parseReducePlan("serial_s11", 10), undefined);
  assertEquals(parseReducePlan("serial_s0", 10), undefined);
  assertEquals(parseReducePlan("tree_8x8", 10), undefined);
  const x = { buffer: {} as GPUBuffer, offset: 0, shape: [700], size: 700, name: "x" };
  const out = { buffer: {} as GPUBuffer, offset: 0, shape: [70], size: 70, name: "out" };
  const pass: AxisPass = CASES[3].pass(x, x, out);
  // Not a power of two; 512 threads; two chunks without scratch.
  for (const v of ["tree_3x8_s1", "tree_32x16_s1", "serial_s2"]) {
    assertThrows(
      () => axisReduce(gpu, pass, { variant: v as ReduceVariant, contiguous: "m" }),
      RangeError,
      `unknown or unsupported variant "${v}"`,
    );
  }
});

Deno.test("reduce.axis: the untuned plans are the ones of the strategies before the family", () => {
  // Recorded from planReduction at d07e7b1 (before the family): batch-norm statistics of the
  // demo's layers at batch 128, a whole-tensor sum, rows without scratch.
  const cases: [Omit<AxisReduceProblem, "combine" | "width" | "streams">, string, string][] = [
    [{ M: 16, L: 100352, contiguous: "m", split: true }, "serial_s64", "tree_16x16_s512"],
    [{ M: 32, L: 25088, contiguous: "m", split: true }, "serial_s32", "tree_32x8_s392"],
    [{ M: 1, L: 1000003, contiguous: "k", split: true }, "serial_s1024", "tree_1x256_s489"],
    [{ M: 37, L: 300, contiguous: "k", split: false }, "serial_s1", "tree_1x256_s1"],
  ];
  for (const [shape, software, hardware] of cases) {
    const p: AxisReduceProblem = { ...shape, combine: "welford", width: 1, streams: 1 };
    assertEquals(reduceAxisFamily.heuristic(fakeGpu(true), p), software);
    assertEquals(reduceAxisFamily.heuristic(fakeGpu(false), p), hardware);
    assert(
      reduceAxisFamily.candidates!(fakeGpu(true), p).every((v) => v.startsWith("serial")),
      "software adapters time no workgroup-memory plan",
    );
  }
});

/** A training batch norm over [rows, C] with every per-channel tensor from `arena`. */
function batchNorm(gpu: Gpu, arena: BufferArena, rows: number, C: number) {
  const t = (name: string, n: number) => arena.tensor(name, [n]);
  return batchNormTrainForward(gpu, {
    x: t("bn.x", rows * C),
    y: t("bn.y", rows * C),
    rows,
    channels: C,
    gamma: t("bn.gamma", C),
    beta: t("bn.beta", C),
    eps: 1e-5,
    momentum: 0.1,
    runningMean: t("bn.rm", C),
    runningVar: t("bn.rv", C),
    saveMean: t("bn.mean", C),
    saveInvStd: t("bn.invstd", C),
    arena,
  });
}

Deno.test(
  "reduce.axis: a batch norm records its statistics' choice and runs a tuned plan from the cache",
  gpuTest,
  () =>
    withTuneEnv(undefined, () =>
      withArena(async (gpu, arena) => {
        await Promise.resolve();
        const problem: AxisReduceProblem = {
          M: 8,
          L: 4096,
          contiguous: "m",
          combine: "welford",
          width: 1,
          streams: 1,
          split: true,
        };
        const key = reduceAxisFamily.key(problem);
        try {
          tuneCache.clear();
          const untuned = recordChoices({ useCache: true }, () => batchNorm(gpu, arena, 4096, 8));
          const choice = untuned.choices.find((c) => c.family === reduceAxisFamily);
          assertEquals(choice?.key, key);
          assertEquals(choice?.variant, reduceAxisFamily.heuristic(gpu, problem));
          const stats = untuned.result.filter((c) => c.kind === "dispatch" && c.kernel);
          assertEquals(stats.map((c) => c.kind === "dispatch" && c.kernel!.family), [
            "reduce.axis",
            "reduce.axis",
          ]);
          assert(parseReducePlan(choice!.variant, 4096)!.splits > 1, "untuned: partial + combine");

          // A current cache entry for one chunk: the statistics become one dispatch.
          const variant = "serial_s1";
          tuneCache.set(gpu.adapter.key, reduceAxisFamily.id, key, {
            variant,
            ms: 1,
            timings: { [variant]: 1 },
            hash: entryHash(gpu, reduceAxisFamily, problem, [variant]),
            date: new Date().toISOString(),
          });
          const tuned = recordChoices({ useCache: true }, () => batchNorm(gpu, arena, 4096, 8));
          const c2 = tuned.choices.find((c) => c.family === reduceAxisFamily)!;
          assertEquals([c2.variant, c2.tuned], [variant, true]);
          assertEquals(dispatchCount(tuned.result), dispatchCount(untuned.result) - 1);
          const off = recordChoices({ useCache: false }, () => batchNorm(gpu, arena, 4096, 8));
          assertEquals(
            off.choices.find((c) => c.family === reduceAxisFamily)!.variant,
            choice!.variant,
          );
        } finally {
          tuneCache.clear();
        }
      })),
);

Deno.test(
  "reduce.axis: tuning times every candidate on this adapter, keeps the fastest, and reductions use it",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const gpu = await testGpu();
      const path = tempTunePath("reduce");
      const problem: AxisReduceProblem = {
        M: 24,
        L: 3000,
        contiguous: "m",
        combine: "sum",
        width: 1,
        streams: 1,
        split: true,
      };
      try {
        const [r] = await tune(gpu, reduceAxisFamily, [problem], { path, samples: 2 });
        assertEquals(r.source, "timed");
        assertEquals(
          Object.keys(r.timings).sort(),
          reduceAxisFamily.candidates!(gpu, problem).sort(),
        );
        assertEquals(r.timings[r.variant], Math.min(...Object.values(r.timings)));
        await withArena(async (g, arena) => {
          await Promise.resolve();
          const x = arena.tensor("x", [3000, 24]);
          const out = arena.tensor("out", [24]);
          const cmds = reduceCols(g, { op: "sum", x, rows: 3000, cols: 24, out, arena });
          const k = cmds.find((c) => c.kind === "dispatch")!;
          assert(k.kind === "dispatch");
          assertEquals([k.kernel?.variant, k.kernel?.tuned], [r.variant, true]);
        });
      } finally {
        removeQuietly(path);
        tuneCache.clear();
      }
    }),
);
