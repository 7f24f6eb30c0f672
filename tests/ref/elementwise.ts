/**
 * Float64 references for the elementwise kernels: plain loops over the
 * textbook formulas, sharing no code with the WGSL.
 * @module
 */

/** Activation names (mirrors the kernel's UnaryOp). */
export type RefUnaryOp = "relu" | "gelu" | "tanh" | "sigmoid" | "identity";

/** op(v) for one value. */
export function activation(op: RefUnaryOp, v: number): number {
  switch (op) {
    case "relu":
      return v > 0 ? v : 0;
    case "gelu":
      // tanh approximation of GELU (PyTorch approximate="tanh").
      return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    case "tanh":
      return Math.tanh(v);
    case "sigmoid":
      return 1 / (1 + Math.exp(-v));
    case "identity":
      return v;
  }
}

/** op'(v), by the analytic derivative (relu'(0) = 0). */
export function activationGrad(op: RefUnaryOp, v: number): number {
  switch (op) {
    case "relu":
      return v > 0 ? 1 : 0;
    case "gelu": {
      const c = Math.sqrt(2 / Math.PI);
      const u = c * (v + 0.044715 * v ** 3);
      const t = Math.tanh(u);
      const du = c * (1 + 3 * 0.044715 * v * v);
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du;
    }
    case "tanh": {
      const t = Math.tanh(v);
      return 1 - t * t;
    }
    case "sigmoid": {
      const s = 1 / (1 + Math.exp(-v));
      return s * (1 - s);
    }
    case "identity":
      return 1;
  }
}

/** y = op(x). */
export function unaryRef(op: RefUnaryOp, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = activation(op, x[i]);
  return y;
}

/** dx = op'(x)·dy, plus `base` when accumulating. */
export function unaryBackwardRef(
  op: RefUnaryOp,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  base?: ArrayLike<number>,
): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    dx[i] = (base ? base[i] : 0) + activationGrad(op, x[i]) * dy[i];
  }
  return dx;
}

/** out = x + y. */
export function addRef(x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] + y[i];
  return out;
}

/** y + alpha·x. */
export function axpyRef(alpha: number, x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = y[i] + alpha * x[i];
  return out;
}

/** alpha·x. */
export function scaleRef(alpha: number, x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = alpha * x[i];
  return out;
}

/** out[r, c] = x[r, c] + bias[c]. */
export function addBiasRef(
  x: ArrayLike<number>,
  bias: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c] + bias[c];
  }
  return out;
}
