/**
 * Deterministic reductions: whole tensor, per row, per column, and the
 * generic axis reduction that batch norm and the loss build on.
 *
 * Every reduction is "M outputs, each combining L inputs": output m reads
 * load(m, k) for k in [0, L). The L inputs are cut into S contiguous chunks;
 * with S > 1 a first pass writes S·M partial results into scratch and a
 * second pass combines them in chunk order, so results depend only on the
 * shape and the variant, never on scheduling (no float atomics).
 *
 * Two strategies; untuned, the adapter picks one and its rules the chunk
 * count and workgroup (axis_plan.ts); the `reduce.axis` family
 * (axis_reduce.ts) lets the tuner pick any plan of either per shape:
 * - "serial" (software adapters such as llvmpipe): one invocation per
 *   (output, chunk) loops over its chunk. llvmpipe runs workgroup memory and
 *   barriers slowly, and its 8-lane SIMD needs only a few hundred
 *   invocations to be busy, so chunks are long (≥ 256 inputs).
 * - "tree" (real GPUs): one workgroup of TX×TY threads per (TX outputs,
 *   chunk); the TY threads of an output stride through the chunk and
 *   combine their results in a fixed-shape tree in workgroup memory.
 *   Threads along x take consecutive outputs when outputs are contiguous in
 *   memory (column reductions), so loads coalesce either way.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { f32Lit } from "../wgsl.ts";
import { checkDims, checkDisjoint, checkSize } from "../elementwise/operands.ts";
import type { ReduceVariant } from "./axis.ts";
import { axisReduce, type AxisReduceOptions } from "./axis_reduce.ts";

export * from "./axis.ts";
export * from "./axis_reduce.ts";

/** Reduction operator. `norm` is the Frobenius/L2 norm √(Σx²); `mean` divides the sum by the count. */
export type ReduceOp = "sum" | "mean" | "max" | "sumsq" | "norm";

const REDUCE_OPS: readonly ReduceOp[] = ["sum", "mean", "max", "sumsq", "norm"];

// ---------------------------------------------------------------------------
// Public reductions
// ---------------------------------------------------------------------------

function checkOp(label: string, op: ReduceOp): void {
  if (!REDUCE_OPS.includes(op)) {
    throw new RangeError(`${label}: unknown reduction "${op}" (expected ${REDUCE_OPS.join(", ")})`);
  }
}

/** Load expression, combine rule and finishing expression of `op` over `count` values. */
function opParts(
  op: ReduceOp,
  count: number,
): { sq: boolean; combine: "sum" | "max"; finish: (acc: string) => string } {
  switch (op) {
    case "sum":
      return { sq: false, combine: "sum", finish: (a) => a };
    case "mean":
      return { sq: false, combine: "sum", finish: (a) => `${a} / ${f32Lit(count)}` };
    case "max":
      return { sq: false, combine: "max", finish: (a) => a };
    case "sumsq":
      return { sq: true, combine: "sum", finish: (a) => a };
    case "norm":
      return { sq: true, combine: "sum", finish: (a) => `sqrt(${a})` };
  }
}

/** Builds the reduction of x viewed as M outputs × L inputs at index m·so + k·sk. */
function reduceView(
  gpu: Gpu,
  label: string,
  op: ReduceOp,
  x: Tensor,
  out: Tensor,
  M: number,
  L: number,
  so: number,
  sk: number,
  accumulate: boolean,
  opts: AxisReduceOptions,
): Command[] {
  checkDisjoint(label, ["x", x], ["out", out]);
  const p = opParts(op, L);
  const idx = `${so === 0 ? "" : `m * ${so}u + `}k${sk === 1 ? "" : ` * ${sk}u`}`;
  return axisReduce(gpu, {
    label: `${label}_${op}${accumulate ? "_acc" : ""}`,
    M,
    L,
    width: 1,
    combine: p.combine,
    inputs: [{ name: "x", tensor: x }],
    outputs: [{ name: "out", tensor: out, write: true }],
    load: (n) => (p.sq ? `${n.x}[${idx}] * ${n.x}[${idx}]` : `${n.x}[${idx}]`),
    store: (n) => `  ${n.out}[m] ${accumulate ? "+=" : "="} ${p.finish("acc")};`,
  }, opts);
}

/** Arguments of {@link reduceAll}. */
export interface ReduceAllArgs {
  /** Operator. */
  op: ReduceOp;
  /** Input (any shape). */
  x: Tensor;
  /** Result [1]. */
  out: Tensor;
  /** out += result instead of out = result. */
  accumulate?: boolean;
  /** Scratch for the two-pass split, required when x is large (more than a few hundred values). */
  arena?: BufferArena;
  /** Force a variant. */
  variant?: ReduceVariant;
}

/** out[0] (+)= op over every element of x. */
export function reduceAll(gpu: Gpu, a: ReduceAllArgs): Command[] {
  const label = "reduce_all";
  checkOp(label, a.op);
  checkSize(label, "out", a.out, 1);
  return reduceView(gpu, label, a.op, a.x, a.out, 1, a.x.size, 0, 1, a.accumulate ?? false, {
    variant: a.variant,
    arena: a.arena,
    contiguous: "k",
    requireSplit: true,
  });
}

/** Arguments of {@link reduceRows}. */
export interface ReduceRowsArgs {
  /** Operator. */
  op: ReduceOp;
  /** Input [rows, cols]. */
  x: Tensor;
  /** Rows. */
  rows: number;
  /** Columns. */
  cols: number;
  /** Result [rows]. */
  out: Tensor;
  /** Optional scratch: lets few long rows be split across more invocations. */
  arena?: BufferArena;
  /** Force a variant. */
  variant?: ReduceVariant;
}

/** out[r] = op over row r of x. */
export function reduceRows(gpu: Gpu, a: ReduceRowsArgs): Command[] {
  const label = "reduce_rows";
  checkOp(label, a.op);
  checkDims(label, a.rows, a.cols);
  checkSize(label, "x", a.x, a.rows * a.cols, `rows ${a.rows} × cols ${a.cols}`);
  checkSize(label, "out", a.out, a.rows, "rows");
  return reduceView(gpu, label, a.op, a.x, a.out, a.rows, a.cols, a.cols, 1, false, {
    variant: a.variant,
    arena: a.arena,
    contiguous: "k",
  });
}

/** Arguments of {@link reduceCols}. */
export interface ReduceColsArgs {
  /** Operator. */
  op: ReduceOp;
  /** Input [rows, cols]. */
  x: Tensor;
  /** Rows. */
  rows: number;
  /** Columns. */
  cols: number;
  /** Result [cols]. */
  out: Tensor;
  /** out += result instead of out = result. */
  accumulate?: boolean;
  /** Scratch for the two-pass split, required when there are many rows. */
  arena?: BufferArena;
  /** Force a variant. */
  variant?: ReduceVariant;
}

/** out[c] (+)= op over column c of x (bias gradients, per-channel statistics). */
export function reduceCols(gpu: Gpu, a: ReduceColsArgs): Command[] {
  const label = "reduce_cols";
  checkOp(label, a.op);
  checkDims(label, a.rows, a.cols);
  checkSize(label, "x", a.x, a.rows * a.cols, `rows ${a.rows} × cols ${a.cols}`);
  checkSize(label, "out", a.out, a.cols, "cols");
  return reduceView(
    gpu,
    label,
    a.op,
    a.x,
    a.out,
    a.cols,
    a.rows,
    1,
    a.cols,
    a.accumulate ?? false,
    {
      variant: a.variant,
      arena: a.arena,
      contiguous: "m",
      requireSplit: true,
    },
  );
}
