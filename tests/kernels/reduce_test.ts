import { assert, assertEquals, assertThrows } from "../assert.ts";
import { submit } from "../../lib/gpu/commands.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";
import { readTensor } from "../../lib/gpu/transfer.ts";
import {
  LOOP_BUDGET,
  planReduction,
  reduceAll,
  reduceCols,
  type ReduceOp,
  reduceRows,
  type ReduceStrategy,
} from "../../lib/kernels/reduce/reduce.ts";
import { absSumStrided, reduceAllRef, reduceColsRef, reduceRowsRef } from "../ref/reduce.ts";
import { assertClose, download, f32, gpuTest, randn, upload, withArena } from "../util.ts";

const OPS: ReduceOp[] = ["sum", "mean", "max", "sumsq", "norm"];
const VARIANTS: ReduceStrategy[] = ["serial", "tree"];

/** Integers in [-4, 4]: every partial sum (and sum of squares) of ≤ 1e6 of them is exact in f32. */
function smallInts(seed: number, n: number): Float64Array {
  return randn(seed, n).map((v) => Math.max(-4, Math.min(4, Math.round(v * 2))));
}

/**
 * Tolerance for integer data: sum, sumsq and max are exact (all partial sums
 * stay below 2^24); mean adds one division (≤ 2.5 ulp in WGSL), norm one sqrt
 * (≤ 2.5 ulp); 4 ulp = 2^-21 covers either.
 */
function exactTol(op: ReduceOp) {
  return op === "mean" || op === "norm" ? { atol: 0, rtol: 2 ** -21 } : { atol: 0, rtol: 0 };
}

/**
 * Worst-case bound for random data: recursive f32 summation of `depth` terms
 * errs by at most depth·2^-24·Σ|terms|; `depth` is the longest chain of
 * additions the plan makes (chunk length + number of chunks, an upper bound
 * for the tree too). Plus 4 ulp for the final division or sqrt.
 */
function roundingTol(op: ReduceOp, depth: number, absSum: number, count: number, value: number) {
  if (op === "max") return { atol: 0, rtol: 0 };
  let atol = depth * 2 ** -24 * absSum;
  if (op === "mean") atol /= count;
  if (op === "norm") atol = atol / Math.max(2 * Math.abs(value), 1e-30); // d√s = ds / (2√s)
  return { atol, rtol: 2 ** -21 };
}

function depthOf(variant: ReduceStrategy, M: number, L: number, contiguous: "k" | "m"): number {
  const p = planReduction(variant, M, L, contiguous, true);
  return p.chunk + p.splits + 8;
}

async function runAll(
  gpu: Gpu,
  arena: BufferArena,
  op: ReduceOp,
  xv: Float64Array,
  variant: ReduceStrategy,
  start = 0,
): Promise<number> {
  const x = upload(gpu, arena, "x", [xv.length], xv);
  const out = upload(gpu, arena, "out", [1], [start]);
  submit(gpu, reduceAll(gpu, { op, x, out, variant, arena, accumulate: start !== 0 }));
  return (await download(gpu, out))[0];
}

Deno.test(
  "reduceAll: every op, sizes 1, 7, 1000003, both variants, exact on integer data",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const n of [1, 7, 1000003]) {
        const xv = smallInts(n, n);
        for (const variant of VARIANTS) {
          for (const op of OPS) {
            const got = await runAll(gpu, arena, op, xv, variant);
            assertClose(
              [got],
              [reduceAllRef(op, xv)],
              exactTol(op),
              `reduceAll ${op} n=${n} ${variant}`,
            );
          }
        }
      }
    }),
);

Deno.test(
  "reduceAll: random data within the summation bound; accumulate; max of negatives",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const n = 100003;
      const xv = f32(randn(9, n, 3));
      const neg = f32(randn(10, 1001).map((v) => -Math.abs(v) - 1));
      for (const variant of VARIANTS) {
        for (const op of OPS) {
          const want = reduceAllRef(op, xv);
          const tol = roundingTol(
            op,
            depthOf(variant, 1, n, "k"),
            absSumStrided(xv, 0, n, 1, op === "sumsq" || op === "norm"),
            n,
            want,
          );
          assertClose(
            [await runAll(gpu, arena, op, xv, variant)],
            [want],
            tol,
            `reduceAll ${op} ${variant}`,
          );
          // Accumulate: out = 10 + result, one extra rounding (2^-24 relative) on top.
          const acc = await runAll(gpu, arena, op, xv, variant, 10);
          assertClose([acc], [10 + want], {
            atol: tol.atol + 2 ** -23 * Math.abs(10 + want),
            rtol: tol.rtol,
          }, `reduceAll ${op} ${variant} accumulate`);
        }
        // max must not start from 0: every value is ≤ -1.
        assertEquals(
          await runAll(gpu, arena, "max", neg, variant),
          reduceAllRef("max", neg),
          `max of negatives ${variant}`,
        );
      }
    }),
);

Deno.test(
  "reduceAll: results are bitwise deterministic across runs",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const xv = f32(randn(3, 300007));
      for (const variant of VARIANTS) {
        const a = await runAll(gpu, arena, "sum", xv, variant);
        const b = await runAll(gpu, arena, "sum", xv, variant);
        assertEquals(a, b, `repeat ${variant}`);
      }
    }),
);

Deno.test(
  "reduceRows: 1×1, 3×257, 513×3, 2×100000, 1×600000 (split with an arena), both variants",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // 2×100000 in one pass runs 100000 inputs per invocation, beyond llvmpipe's
      // 65535-iteration loop limiter unless the loop is unrolled; 1×600000 exceeds
      // even the unrolled serial budget and must fall back to the tree kernel.
      const shapes: [number, number][] = [[1, 1], [3, 257], [513, 3], [2, 100000], [1, 600000]];
      for (const [rows, cols] of shapes) {
        const xv = smallInts(rows * 7 + cols, rows * cols);
        const x = upload(gpu, arena, "x", [rows, cols], xv);
        for (const variant of VARIANTS) {
          for (const op of OPS) {
            for (const withArena of [false, true]) {
              const out = arena.tensor("out", [rows]);
              submit(
                gpu,
                reduceRows(gpu, {
                  op,
                  x,
                  rows,
                  cols,
                  out,
                  variant,
                  arena: withArena ? arena : undefined,
                }),
              );
              const what = `reduceRows ${op} ${rows}x${cols} ${variant}${
                withArena ? " split" : ""
              }`;
              assertClose(
                await download(gpu, out),
                reduceRowsRef(op, xv, rows, cols),
                exactTol(op),
                what,
              );
            }
          }
        }
      }
    }),
);

Deno.test(
  "reduceCols: 1×1, 3×257, 513×3, 20000×5, both variants, accumulate",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const shapes: [number, number][] = [[1, 1], [3, 257], [513, 3], [20000, 5]];
      for (const [rows, cols] of shapes) {
        const xv = smallInts(rows + 3 * cols, rows * cols);
        const x = upload(gpu, arena, "x", [rows, cols], xv);
        for (const variant of VARIANTS) {
          for (const op of OPS) {
            const want = reduceColsRef(op, xv, rows, cols);
            const out = arena.tensor("out", [cols]);
            submit(gpu, reduceCols(gpu, { op, x, rows, cols, out, variant, arena }));
            const what = `reduceCols ${op} ${rows}x${cols} ${variant}`;
            assertClose(await download(gpu, out), want, exactTol(op), what);
            // Accumulating twice doubles integer results exactly.
            const acc = arena.tensor("acc", [cols]);
            const cmds = reduceCols(gpu, {
              op,
              x,
              rows,
              cols,
              out: acc,
              variant,
              arena,
              accumulate: true,
            });
            submit(gpu, [...cmds, ...cmds]);
            assertClose(
              await download(gpu, acc),
              want.map((v) => 2 * v),
              exactTol(op),
              `${what} accumulate`,
            );
          }
        }
      }
    }),
);

Deno.test(
  "reduceCols: random data within the summation bound",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const rows = 8192, cols = 6;
      const xv = f32(randn(21, rows * cols));
      const x = upload(gpu, arena, "x", [rows, cols], xv);
      for (const variant of VARIANTS) {
        const out = arena.tensor("out", [cols]);
        submit(gpu, reduceCols(gpu, { op: "sum", x, rows, cols, out, variant, arena }));
        const got = await download(gpu, out);
        const want = reduceColsRef("sum", xv, rows, cols);
        const depth = depthOf(variant, cols, rows, "m");
        for (let c = 0; c < cols; c++) {
          const tol = roundingTol("sum", depth, absSumStrided(xv, c, rows, cols), rows, want[c]);
          assertClose([got[c]], [want[c]], tol, `reduceCols sum col ${c} ${variant}`);
        }
      }
    }),
);

Deno.test("plans keep every invocation within llvmpipe's loop budget", () => {
  for (const variant of VARIANTS) {
    for (const [M, L] of [[1, 1], [1, 1e6], [1, 5e7], [4096, 2e6], [3, 1e5], [2048, 600000]]) {
      for (const contiguous of ["k", "m"] as const) {
        for (const split of [true, false]) {
          const p = planReduction(variant, M, L, contiguous, split);
          const iters = p.strategy === "serial"
            ? Math.ceil(p.chunk / 8) + 7
            : Math.ceil(p.chunk / p.ty);
          const what = `${variant} M=${M} L=${L} ${contiguous} split=${split}: ${
            JSON.stringify(p)
          }`;
          assert(
            p.splits * p.chunk >= L && (p.splits - 1) * p.chunk < L,
            `chunks must tile L: ${what}`,
          );
          if (split || p.strategy === "serial") {
            assert(iters <= LOOP_BUDGET, `loop budget: ${what}`);
          }
          if (!split) assert(p.splits === 1, `no split allowed: ${what}`);
        }
      }
    }
  }
});

Deno.test(
  "reductions reject bad shapes, aliasing and a missing arena",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const x = arena.tensor("grads", [4, 300]);
      const out = arena.tensor("o", [2]);
      assertThrows(() => reduceAll(gpu, { op: "sum", x, out }), RangeError, '"o" [2]');
      assertThrows(
        () => reduceRows(gpu, { op: "sum", x, rows: 3, cols: 300, out }),
        RangeError,
        '"grads" [4, 300]',
      );
      assertThrows(
        () => reduceCols(gpu, { op: "sum", x, rows: 4, cols: 300, out }),
        RangeError,
        "cols",
      );
      assertThrows(() => reduceAll(gpu, { op: "prod" as ReduceOp, x, out }), RangeError, "prod");
      const one = { ...x, size: 1, shape: [1], name: "first" };
      assertThrows(
        () => reduceAll(gpu, { op: "sum", x, out: one }),
        RangeError,
        "must not share storage",
      );
      const big = arena.tensor("big", [100000]);
      const o1 = arena.tensor("o1", [1]);
      assertThrows(
        () => reduceAll(gpu, { op: "sum", x: big, out: o1, variant: "serial" }),
        RangeError,
        "arena",
      );
      // A plan without split needs no arena.
      submit(gpu, reduceAll(gpu, { op: "sum", x: out, out: o1 }));
      assert((await readTensor(gpu, o1))[0] === 0);
    }),
);
