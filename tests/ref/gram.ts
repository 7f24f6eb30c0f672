/**
 * Float64 reference for Gram statistics over an explicitly materialised
 * matrix (for conv layers: the im2col matrix from tests/ref/conv.ts).
 * @module
 */

/** A row-major float64 matrix. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** X with a trailing column of ones. */
export function appendOnesRef(x: Matrix): Matrix {
  const cols = x.cols + 1;
  const data = new Float64Array(x.rows * cols);
  for (let r = 0; r < x.rows; r++) {
    for (let c = 0; c < x.cols; c++) data[r * cols + c] = x.data[r * x.cols + c];
    data[r * cols + x.cols] = 1;
  }
  return { rows: x.rows, cols, data };
}

/** scale · AᵀB for A [rows, m], B [rows, n] (same rows); result [m, n]. */
export function crossRef(a: Matrix, b: Matrix, scale = 1): Float64Array {
  if (a.rows !== b.rows) throw new Error(`crossRef: ${a.rows} vs ${b.rows} rows`);
  const out = new Float64Array(a.cols * b.cols);
  for (let i = 0; i < a.cols; i++) {
    for (let j = 0; j < b.cols; j++) {
      let s = 0;
      for (let r = 0; r < a.rows; r++) s += a.data[r * a.cols + i] * b.data[r * b.cols + j];
      out[i * b.cols + j] = scale * s;
    }
  }
  return out;
}

/** Element-wise |x| of a matrix (for rounding-error bounds). */
export function absRef(x: Matrix): Matrix {
  return { ...x, data: Float64Array.from(x.data, Math.abs) };
}

/** α·old + (1 − α)·fresh, element-wise. */
export function emaRef(
  old: ArrayLike<number>,
  fresh: ArrayLike<number>,
  alpha: number,
): Float64Array {
  return Float64Array.from(fresh, (v, i) => alpha * old[i] + (1 - alpha) * v);
}
