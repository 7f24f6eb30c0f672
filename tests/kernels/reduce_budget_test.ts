/**
 * The `reduce.axis` family at llvmpipe's loop limiter (an invocation's loops
 * stop, silently, after 65535 iterations in all): every plan either adapter
 * lists for reductions whose longest loop sits at the budget computes the
 * float64 sums exactly; plans that would pass it, in the first pass, the
 * combining pass or the one pass of a reduction without scratch, are refused
 * with a message instead of storing a partial result.
 */

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { submit } from "../../lib/gpu/commands.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena, Tensor } from "../../lib/gpu/tensor.ts";
import {
  type AxisPass,
  axisReduce,
  type AxisReduceProblem,
  LOOP_BUDGET,
  parseReducePlan,
  reduceAxisFamily,
  reducePlanValid,
  reduceRows,
  type ReduceVariant,
  SERIAL_MAX_CHUNK,
  SERIAL_UNROLL,
} from "../../lib/kernels/reduce/reduce.ts";
import { recordChoices } from "../../lib/kernels/tune/choose.ts";
import { assertClose, download, gpuTest, randn, upload, withArena } from "../util.ts";
import { fakeGpu } from "./tune/fakes.ts";

/** Integers in [-4, 4]: every partial sum of these sizes (and of squares) is exact in f32. */
function smallInts(seed: number, n: number): Float64Array {
  return randn(seed, n).map((v) => Math.max(-4, Math.min(4, Math.round(v * 2))));
}

/** Iterations of the longest loop of one pass of `v` over L inputs. */
function longestLoop(v: string, L: number): number {
  const p = parseReducePlan(v, L)!;
  return p.strategy === "serial"
    ? Math.floor(p.chunk / SERIAL_UNROLL) + (p.chunk % SERIAL_UNROLL)
    : Math.ceil(p.chunk / p.ty);
}

/** Every plan either adapter's family lists, offers the tuner, or runs untuned for `p`. */
function allPlans(p: AxisReduceProblem): string[] {
  const all = new Set<string>();
  for (const g of [fakeGpu(true), fakeGpu(false)]) {
    for (const v of reduceAxisFamily.variants(g, p)) all.add(v);
    for (const v of reduceAxisFamily.candidates!(g, p)) all.add(v);
  }
  return [...all];
}

/** Σx and Σx² of M outputs over L inputs (`contiguous` says which index has stride 1). */
function sumsPass(p: AxisReduceProblem, x: Tensor, out: Tensor): AxisPass {
  const i = p.contiguous === "m" ? `k * ${p.M}u + m` : `m * ${p.L}u + k`;
  return {
    label: "t_budget",
    M: p.M,
    L: p.L,
    width: 2,
    combine: "sum",
    inputs: [{ name: "x", tensor: x }],
    outputs: [{ name: "out", tensor: out, write: true }],
    load: (n) => `vec2<f32>(${n.x}[${i}], ${n.x}[${i}] * ${n.x}[${i}])`,
    store: (n) => `  ${n.out}[m] = acc.x;\n  ${n.out}[${p.M}u + m] = acc.y;`,
  };
}

async function checkAtBudget(gpu: Gpu, arena: BufferArena, p: AxisReduceProblem, seed: number) {
  const xv = smallInts(seed, p.M * p.L);
  const want = new Float64Array(2 * p.M);
  for (let m = 0; m < p.M; m++) {
    for (let k = 0; k < p.L; k++) {
      const v = xv[p.contiguous === "m" ? k * p.M + m : m * p.L + k];
      want[m] += v;
      want[p.M + m] += v * v;
    }
  }
  const x = upload(gpu, arena, "x", [p.M * p.L], xv);
  const plans = allPlans(p);
  // The case reaches the budget: some listed plan's loop runs (nearly) LOOP_BUDGET times.
  const longest = Math.max(...plans.map((v) => longestLoop(v, p.L)));
  assert(longest > LOOP_BUDGET - SERIAL_UNROLL, `longest loop ${longest} of ${plans.join(", ")}`);
  for (const v of plans) {
    const out = arena.tensor(`out.${v}`, [2 * p.M]);
    const cmds = axisReduce(gpu, sumsPass(p, x, out), {
      variant: v as ReduceVariant,
      contiguous: p.contiguous,
      arena,
    });
    submit(gpu, cmds);
    // Exact: a loop stopped early would drop inputs.
    assertClose(await download(gpu, out), want, { atol: 0, rtol: 0 }, `${p.M}×${p.L} ${v}`);
  }
}

Deno.test(
  "reduce.axis: every listed plan is exact with its longest loop at llvmpipe's budget",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const base = { combine: "sum", width: 2, streams: 1, split: true } as const;
      // A loss total: one serial invocation over a whole chunk of SERIAL_MAX_CHUNK - 1 inputs.
      await checkAtBudget(
        gpu,
        arena,
        { ...base, M: 1, L: SERIAL_MAX_CHUNK - 1, contiguous: "k" },
        1,
      );
      // Columns (batch-norm sums): tree workgroups of 2 threads per output over one chunk.
      await checkAtBudget(
        gpu,
        arena,
        { ...base, M: 64, L: 2 * LOOP_BUDGET - 1, contiguous: "m" },
        2,
      );
    }),
);

const placeholder = (name: string, size: number): Tensor => ({
  buffer: {} as GPUBuffer,
  offset: 0,
  shape: [size],
  size,
  name,
});

Deno.test("reduce.axis: a plan whose combining pass would pass the loop budget is not valid", () => {
  // 300000 chunks of one input: the first pass is trivial, but combining 300000
  // partial sums per output in a 64×4 tree workgroup loops 75000 times.
  const tree = parseReducePlan("tree_1x2_s300000", 300000)!;
  assertEquals(reducePlanValid(tree, 64, 300000), false);
  // The serial combine of 500000 chunks falls back to the same tree (125000 iterations).
  assertEquals(reducePlanValid(parseReducePlan("serial_s500000", 500000)!, 64, 500000), false);
  // 300000 chunks combine serially within the budget (37500 iterations).
  assertEquals(reducePlanValid(parseReducePlan("serial_s300000", 300000)!, 64, 300000), true);
  const pass: AxisPass = {
    label: "t",
    M: 64,
    L: 300000,
    width: 1,
    combine: "sum",
    inputs: [{ name: "x", tensor: placeholder("x", 64 * 300000) }],
    outputs: [{ name: "out", tensor: placeholder("out", 64), write: true }],
    load: (n) => `${n.x}[k * 64u + m]`,
    store: (n) => `  ${n.out}[m] = acc;`,
  };
  assertThrows(
    () =>
      axisReduce(fakeGpu(true), pass, {
        variant: "tree_1x2_s300000",
        contiguous: "m",
        arena: {} as BufferArena,
      }),
    RangeError,
    `unsupported variant "tree_1x2_s300000"`,
  );
});

Deno.test("reduce.axis: one pass too long for the loop budget is refused, naming the arena", () => {
  // 17·10⁶ inputs in one 256-thread workgroup: 66407 iterations each. On
  // llvmpipe this stored the maximum of the first 16.8·10⁶ values, silently.
  const cols = 17_000_000;
  const args = {
    op: "max" as const,
    x: placeholder("x", cols),
    rows: 1,
    cols,
    out: placeholder("out", 1),
  };
  for (const gpu of [fakeGpu(true), fakeGpu(false)]) {
    assertThrows(
      () => recordChoices({ useCache: false }, () => reduceRows(gpu, args)),
      RangeError,
      "pass a scratch arena",
    );
  }
});
