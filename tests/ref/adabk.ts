/**
 * Float64 AdaBK for one Linear layer, transcribed from the reference code
 * (spec §2–5): EMA statistics every T_s steps, reference inverse roots every
 * T_ir steps, Ĝ = L̂·G·R̂ with norm recovery, then the base update.
 * @module
 */

import { matmul64, referenceInverseSqrt } from "./linalg.ts";

/** A rectangular product C[m,n] = A[m,k]·B[k,n]. */
export function mm(
  A: Float64Array,
  B: Float64Array,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const a = A[i * k + p];
      for (let j = 0; j < n; j++) C[i * n + j] += a * B[p * n + j];
    }
  }
  return C;
}

/** Xᵀ·X/scaleDiv for X [rows, cols]. */
function gram(X: Float64Array, rows: number, cols: number, scale: number): Float64Array {
  const out = new Float64Array(cols * cols);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < cols; i++) {
      const xi = X[r * cols + i];
      for (let j = 0; j < cols; j++) out[i * cols + j] += xi * X[r * cols + j] * scale;
    }
  }
  return out;
}

/** Kronecker state of one layer. */
export interface RefKron {
  out: number;
  inF: number;
  bias: boolean;
  L: Float64Array;
  R: Float64Array;
  Lhat: Float64Array;
  Rhat: Float64Array;
  k: number;
}

/** Fresh state (zero statistics, identity roots). */
export function refKron(out: number, inF: number, bias: boolean): RefKron {
  const cols = inF + (bias ? 1 : 0);
  const eye = (n: number) =>
    new Float64Array(n * n).map((_, i) => (Math.floor(i / n) === i % n ? 1 : 0));
  return {
    out,
    inF,
    bias,
    L: new Float64Array(out * out),
    R: new Float64Array(cols * cols),
    Lhat: eye(out),
    Rhat: eye(cols),
    k: 0,
  };
}

/**
 * One AdaBK preconditioning step: returns G̃ split as [weight grad, bias grad]
 * for the base optimizer, and advances k.
 */
export function refPrecondition(
  s: RefKron,
  X: Float64Array,
  D: Float64Array,
  rows: number,
  Wg: Float64Array,
  bg: Float64Array | undefined,
  o: { alpha: number; eps: number; Ts: number; Tir: number },
): { w: Float64Array; b?: Float64Array } {
  const cols = s.inF + (s.bias ? 1 : 0);
  if (s.k % o.Ts === 0) {
    const Xt = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < s.inF; j++) Xt[r * cols + j] = X[r * s.inF + j];
      if (s.bias) Xt[r * cols + s.inF] = 1;
    }
    const xx = gram(Xt, rows, cols, 1 / rows);
    const gg = gram(D, rows, s.out, 1);
    s.R = s.R.map((v, i) => o.alpha * v + (1 - o.alpha) * xx[i]);
    s.L = s.L.map((v, i) => o.alpha * v + (1 - o.alpha) * gg[i]);
  }
  if (s.k % o.Tir === 0) {
    s.Rhat = referenceInverseSqrt(s.R, cols, o.eps);
    s.Lhat = referenceInverseSqrt(s.L, s.out, o.eps);
  }
  const G = new Float64Array(s.out * cols);
  for (let i = 0; i < s.out; i++) {
    for (let j = 0; j < s.inF; j++) G[i * cols + j] = Wg[i * s.inF + j];
    if (bg) G[i * cols + s.inF] = bg[i];
  }
  const H = mm(mm(s.Lhat, G, s.out, s.out, cols), s.Rhat, s.out, cols, cols);
  const norm = (a: Float64Array) => Math.sqrt(a.reduce((t, v) => t + v * v, 0));
  const scale = norm(G) / (norm(H) + 1e-12);
  const w = new Float64Array(s.out * s.inF);
  const b = bg ? new Float64Array(s.out) : undefined;
  for (let i = 0; i < s.out; i++) {
    for (let j = 0; j < s.inF; j++) w[i * s.inF + j] = H[i * cols + j] * scale;
    if (b) b[i] = H[i * cols + s.inF] * scale;
  }
  s.k++;
  return { w, b };
}

export { matmul64 };
