/**
 * Float64 dense linear algebra for checking the inverse roots: a cyclic
 * Jacobi eigen-solver (independent of any iteration under test), matrix
 * functions through it, and a transcription of the reference code's power
 * iteration and coupled Newton–Schulz in float64.
 * @module
 */

import { Rng } from "../../lib/util/rng.ts";

/** C = A·B for row-major n×n matrices. */
export function matmul64(A: Float64Array, B: Float64Array, n: number): Float64Array {
  const C = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const a = A[i * n + k];
      if (a === 0) continue;
      for (let j = 0; j < n; j++) C[i * n + j] += a * B[k * n + j];
    }
  }
  return C;
}

/** Eigen-decomposition of a symmetric matrix: values and column eigenvectors V (A = V·diag·Vᵀ). */
export function symmetricEigen(
  A: Float64Array,
  n: number,
): { values: Float64Array; V: Float64Array } {
  const a = Float64Array.from(A);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, V };
}

/** f(A) for symmetric A through its eigen-decomposition. */
export function matrixFunction(A: Float64Array, n: number, f: (x: number) => number): Float64Array {
  const { values, V } = symmetricEigen(A, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const fk = f(values[k]);
    for (let i = 0; i < n; i++) {
      const vik = V[i * n + k] * fk;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * V[j * n + k];
    }
  }
  return out;
}

/** A random SPD matrix Q·diag(eigs)·Qᵀ with Q from Gram–Schmidt on normals. */
export function spdWithEigenvalues(eigs: readonly number[], seed: number): Float64Array {
  const n = eigs.length;
  const r = new Rng(seed, 5);
  const Q = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const col = Array.from({ length: n }, () => r.normal());
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += col[i] * Q[i * n + k];
      for (let i = 0; i < n; i++) col[i] -= dot * Q[i * n + k];
    }
    const norm = Math.hypot(...col);
    for (let i = 0; i < n; i++) Q[i * n + j] = col[i] / norm;
  }
  const A = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) A[i * n + j] += Q[i * n + k] * eigs[k] * Q[j * n + k];
    }
  }
  return A;
}

/** The reference code's max_eignvalue: v = 1; repeat: u = Aᵀv/‖·‖; v = A·u; λ = ‖v‖. */
export function referencePowerIteration(A: Float64Array, n: number, rounds = 10): number {
  let v = new Float64Array(n).fill(1);
  let lambda = 0;
  for (let r = 0; r < rounds; r++) {
    const u = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) u[j] += A[i * n + j] * v[i];
    const nu = Math.hypot(...u);
    for (let j = 0; j < n; j++) u[j] /= nu;
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w[i] += A[i * n + j] * u[j];
    v = w;
    lambda = Math.hypot(...v);
  }
  return lambda;
}

/** The reference code's isqrt_newton_schulz on A + ε·λ̂·I, in float64. */
export function referenceInverseSqrt(
  A: Float64Array,
  n: number,
  eps = 1e-5,
  steps = 10,
): Float64Array {
  const lambda = referencePowerIteration(A, n);
  const Ad = Float64Array.from(A);
  for (let i = 0; i < n; i++) Ad[i * n + i] += eps * lambda;
  let tau = 0;
  for (let i = 0; i < n; i++) tau += Ad[i * n + i];
  let Y: Float64Array = Ad.map((x) => x / tau);
  let Z: Float64Array = new Float64Array(n * n);
  for (let i = 0; i < n; i++) Z[i * n + i] = 1;
  for (let k = 0; k < steps; k++) {
    const ZY = matmul64(Z, Y, n);
    const T = ZY.map((x, i) => (Math.floor(i / n) === i % n ? 1.5 : 0) - 0.5 * x);
    Y = matmul64(Y, T, n);
    Z = matmul64(T, Z, n);
  }
  return Z.map((x) => x / Math.sqrt(tau));
}

/** The scalar recurrence z ← z(3 − s·z²)/2 from z = 1, `steps` times. */
export function scalarNewtonSchulz(s: number, steps = 10): number {
  let z = 1;
  for (let k = 0; k < steps; k++) z = (z * (3 - s * z * z)) / 2;
  return z;
}
