/**
 * Float64 references for the reductions (plain loops).
 * @module
 */

/** Reduction names (mirrors the kernel's ReduceOp). */
export type RefReduceOp = "sum" | "mean" | "max" | "sumsq" | "norm";

/** op over the values x[start + j·stride], j < count. */
export function reduceStrided(
  op: RefReduceOp,
  x: ArrayLike<number>,
  start: number,
  count: number,
  stride: number,
): number {
  if (op === "max") {
    let m = -Infinity;
    for (let j = 0; j < count; j++) m = Math.max(m, x[start + j * stride]);
    return m;
  }
  let s = 0;
  for (let j = 0; j < count; j++) {
    const v = x[start + j * stride];
    s += op === "sumsq" || op === "norm" ? v * v : v;
  }
  if (op === "mean") return s / count;
  if (op === "norm") return Math.sqrt(s);
  return s;
}

/** op over every element. */
export function reduceAllRef(op: RefReduceOp, x: ArrayLike<number>): number {
  return reduceStrided(op, x, 0, x.length, 1);
}

/** op over each row of x [rows, cols]. */
export function reduceRowsRef(
  op: RefReduceOp,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = reduceStrided(op, x, r * cols, cols, 1);
  return out;
}

/** op over each column of x [rows, cols]. */
export function reduceColsRef(
  op: RefReduceOp,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const out = new Float64Array(cols);
  for (let c = 0; c < cols; c++) out[c] = reduceStrided(op, x, c, rows, cols);
  return out;
}

/** Σ|x| over the values a reduction combines (scales its rounding error). */
export function absSumStrided(
  x: ArrayLike<number>,
  start: number,
  count: number,
  stride: number,
  squared = false,
): number {
  let s = 0;
  for (let j = 0; j < count; j++) {
    const v = x[start + j * stride];
    s += squared ? v * v : Math.abs(v);
  }
  return s;
}
