/**
 * Float64 CPU reference for matmul with its epilogue, and its backward pass.
 *
 * Plain loops, written independently of the GPU kernels: indices are spelled
 * out from the layout definitions (a: [m,k] or [k,m] with transA; b: [k,n] or
 * [n,k] with transB; batch-major).
 * @module
 */

/** Activation names (mirrors the library's type without importing it). */
export type RefActivation = "none" | "relu" | "gelu" | "tanh" | "sigmoid";

/** Problem description for the reference. */
export interface RefMatmulOpts {
  /** Rows of op(a). */
  m: number;
  /** Columns of op(b). */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Number of products (default 1). */
  batch?: number;
  /** One b for every batch. */
  bBroadcast?: boolean;
  /** a stored [k, m]. */
  transA?: boolean;
  /** b stored [n, k]. */
  transB?: boolean;
  /** Product scale (default 1). */
  alpha?: number;
  /** Scale of c0 (default 0). */
  beta?: number;
  /** Previous out, read when beta ≠ 0 (length batch·m·n). */
  c0?: ArrayLike<number>;
  /** Added to every row (length n). */
  bias?: ArrayLike<number>;
  /** Applied last (default "none"). */
  activation?: RefActivation;
}

/** Activation value in float64 (gelu: tanh approximation). */
export function activationRef(x: number, act: RefActivation): number {
  switch (act) {
    case "none":
      return x;
    case "relu":
      return x > 0 ? x : 0;
    case "tanh":
      return Math.tanh(x);
    case "sigmoid":
      return 1 / (1 + Math.exp(-x));
    case "gelu":
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  }
}

/** Derivative of the activation at pre-activation x (relu: 0 at x = 0). */
export function activationGradRef(x: number, act: RefActivation): number {
  switch (act) {
    case "none":
      return 1;
    case "relu":
      return x > 0 ? 1 : 0;
    case "tanh":
      return 1 - Math.tanh(x) ** 2;
    case "sigmoid": {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 - s);
    }
    case "gelu": {
      const c = Math.sqrt(2 / Math.PI);
      const u = c * (x + 0.044715 * x ** 3);
      const t = Math.tanh(u);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }
  }
}

function aAt(a: ArrayLike<number>, o: RefMatmulOpts, bt: number, i: number, p: number): number {
  const { m, k } = o;
  return o.transA ? a[bt * m * k + p * m + i] : a[bt * m * k + i * k + p];
}

function bAt(b: ArrayLike<number>, o: RefMatmulOpts, bt: number, p: number, j: number): number {
  const { n, k } = o;
  const base = o.bBroadcast || (o.batch ?? 1) === 1 ? 0 : bt * k * n;
  return o.transB ? b[base + j * k + p] : b[base + p * n + j];
}

/** Pre-activation z = alpha·op(a)·op(b) + beta·c0 + bias, [batch, m, n]. */
export function matmulPreactRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  o: RefMatmulOpts,
): Float64Array {
  const { m, n, k } = o;
  const batch = o.batch ?? 1;
  const alpha = o.alpha ?? 1;
  const beta = o.beta ?? 0;
  const z = new Float64Array(batch * m * n);
  for (let bt = 0; bt < batch; bt++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += aAt(a, o, bt, i, p) * bAt(b, o, bt, p, j);
        const idx = bt * m * n + i * n + j;
        let v = alpha * s;
        if (beta !== 0) v += beta * o.c0![idx];
        if (o.bias) v += o.bias[j];
        z[idx] = v;
      }
    }
  }
  return z;
}

/** out = act(alpha·op(a)·op(b) + beta·c0 + bias), [batch, m, n]. */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  o: RefMatmulOpts,
): Float64Array {
  const z = matmulPreactRef(a, b, o);
  const act = o.activation ?? "none";
  return z.map((v) => activationRef(v, act));
}

/**
 * Σ|terms| of each output's dot product, alpha-scaled: the scale of the fp32
 * rounding error (|fl(Σ) − Σ| ≤ γ_k·Σ|terms|), for tolerances.
 */
export function matmulAbsRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  o: RefMatmulOpts,
): Float64Array {
  const abs = (x: ArrayLike<number>) => Float64Array.from(x as ArrayLike<number>, Math.abs);
  return matmulPreactRef(abs(a), abs(b), {
    ...o,
    alpha: Math.abs(o.alpha ?? 1),
    beta: Math.abs(o.beta ?? 0),
    c0: o.c0 ? abs(o.c0) : undefined,
    bias: o.bias ? abs(o.bias) : undefined,
  });
}

/** Gradients of Σ dOut·out with respect to a, b, c0 and bias. */
export interface RefMatmulGrads {
  /** Gradient for a (a's stored layout). */
  da: Float64Array;
  /** Gradient for b (b's stored layout). */
  db: Float64Array;
  /** Gradient for the previous out. */
  dc0: Float64Array;
  /** Gradient for the bias. */
  dbias: Float64Array;
}

/** Backward pass of {@link matmulRef} for upstream gradient `dOut`. */
export function matmulBackwardRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dOut: ArrayLike<number>,
  o: RefMatmulOpts,
): RefMatmulGrads {
  const { m, n, k } = o;
  const batch = o.batch ?? 1;
  const alpha = o.alpha ?? 1;
  const beta = o.beta ?? 0;
  const act = o.activation ?? "none";
  const z = matmulPreactRef(a, b, o);
  const dz = z.map((v, i) => dOut[i] * activationGradRef(v, act));
  const da = new Float64Array(a.length);
  const db = new Float64Array(b.length);
  const dc0 = dz.map((v) => beta * v);
  const dbias = new Float64Array(n);
  const shared = o.bBroadcast || batch === 1;
  for (let bt = 0; bt < batch; bt++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const g = dz[bt * m * n + i * n + j];
        dbias[j] += g;
        for (let p = 0; p < k; p++) {
          const ai = o.transA ? bt * m * k + p * m + i : bt * m * k + i * k + p;
          const bBase = shared ? 0 : bt * k * n;
          const bi = o.transB ? bBase + j * k + p : bBase + p * n + j;
          da[ai] += alpha * g * b[bi];
          db[bi] += alpha * g * a[ai];
        }
      }
    }
  }
  return { da, db, dc0, dbias };
}
