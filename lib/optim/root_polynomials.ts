/**
 * Per-iteration polynomials for the `converged` inverse-root mode.
 *
 * The coupled iteration T = p(M), Y ← Y·T, Z ← T·Z with M = Z·Y acts on each
 * eigenvalue x of M as x ← x·p(x)². Writing σ = √x this is σ ← q(σ) with the
 * odd quintic q(σ) = σ·(a + b·σ² + c·σ⁴): the same scalar dynamics as
 * polynomial iterations for the polar factor. So, like Polar Express (Amsel
 * et al., 2025), we pick for every iteration the (a, b, c) that minimise
 * max |1 − q(σ)| over the interval the spectrum is known to occupy, and carry
 * the interval forward. Plain Newton–Schulz would need 12–22 iterations where
 * these need about 7.
 *
 * Everything here is float64 CPU work done once when a plan is built; the
 * coefficients are baked into the WGSL.
 * @module
 */

/** Coefficients of T = a·I + b·M + c·M² for one iteration. */
export type RootStep = readonly [number, number, number];

/** A designed schedule and what it guarantees (in exact arithmetic). */
export interface RootSchedule {
  /** One triple per iteration. */
  steps: RootStep[];
  /** Bound on |1 − σ| after the last step, over the design interval. */
  finalError: number;
}

/** q(σ) = σ(a + bσ² + cσ⁴). */
export function applyStep([a, b, c]: RootStep, s: number): number {
  const s2 = s * s;
  return s * (a + s2 * (b + c * s2));
}

/**
 * Exact range of q over [lo, hi]: extrema of a polynomial on an interval lie
 * at the ends or where q'(σ) = a + 3bσ² + 5cσ⁴ = 0 (a quadratic in σ²).
 */
export function imageOf(step: RootStep, lo: number, hi: number): [number, number] {
  const candidates = [lo, hi];
  const [a, b, c] = step;
  if (c !== 0) {
    const disc = 9 * b * b - 20 * a * c;
    if (disc >= 0) {
      for (const sgn of [-1, 1]) {
        const s2 = (-3 * b + sgn * Math.sqrt(disc)) / (10 * c);
        if (s2 > 0) candidates.push(Math.sqrt(s2));
      }
    }
  } else if (b !== 0 && -a / (3 * b) > 0) candidates.push(Math.sqrt(-a / (3 * b)));
  let min = Infinity;
  let max = -Infinity;
  for (const s of candidates) {
    if (s < lo || s > hi) continue;
    const v = applyStep(step, s);
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return [min, max];
}

/** max |1 − q(σ)| over [lo, hi]. */
function worstError(step: RootStep, lo: number, hi: number): number {
  const [min, max] = imageOf(step, lo, hi);
  const w = Math.max(1 - min, max - 1);
  return Number.isFinite(w) ? w : Infinity;
}

/** Nelder–Mead minimisation of the minimax error (3 parameters). */
function minimise(f: (x: number[]) => number, start: number[], scale: number[]): number[] {
  let simplex = [start, ...start.map((_, i) => start.map((v, j) => (i === j ? v + scale[j] : v)))];
  let values = simplex.map(f);
  for (let iter = 0; iter < 1500; iter++) {
    const order = values.map((v, i) => [v, i] as const).sort((p, q) => p[0] - q[0]).map((p) =>
      p[1]
    );
    simplex = order.map((i) => simplex[i]);
    values = order.map((i) => values[i]);
    const n = start.length;
    const centroid = start.map((_, j) => simplex.slice(0, n).reduce((s, p) => s + p[j], 0) / n);
    const towards = (t: number) => centroid.map((c, j) => c + t * (simplex[n][j] - c));
    const reflected = towards(-1);
    const fr = f(reflected);
    if (fr < values[0]) {
      const expanded = towards(-2);
      const fe = f(expanded);
      [simplex[n], values[n]] = fe < fr ? [expanded, fe] : [reflected, fr];
    } else if (fr < values[n - 1]) {
      [simplex[n], values[n]] = [reflected, fr];
    } else {
      const contracted = towards(0.5);
      const fc = f(contracted);
      if (fc < values[n]) [simplex[n], values[n]] = [contracted, fc];
      else {
        simplex = simplex.map((p) => p.map((v, j) => simplex[0][j] + 0.5 * (v - simplex[0][j])));
        values = simplex.map(f);
      }
    }
    if (Math.abs(values[n] - values[0]) < 1e-14 * Math.max(1, Math.abs(values[0]))) break;
  }
  let best = 0;
  values.forEach((v, i) => (v < values[best] ? (best = i) : 0));
  return simplex[best];
}

/** The degree-5 Newton–Schulz step: quadratically convergent near σ = 1. */
export const NEWTON_SCHULZ_QUINTIC: RootStep = [15 / 8, -10 / 8, 3 / 8];

/**
 * Designs iterations for eigenvalues of the normalised matrix in [xMin, 1]
 * (σ in [√xMin, 1]) until |1 − σ| ≤ `tolerance` or `maxSteps` is reached.
 * Each interval's deviation from 1 is widened by 1 % as slack for f32
 * rounding (Polar Express uses a similar safety factor).
 */
export function designRootSchedule(xMin: number, tolerance = 1e-7, maxSteps = 16): RootSchedule {
  if (!(xMin > 0 && xMin < 1)) throw new RangeError(`xMin must be in (0, 1), got ${xMin}`);
  let lo = Math.sqrt(xMin);
  let hi = 1;
  const steps: RootStep[] = [];
  let error = Math.max(1 - lo, hi - 1);
  while (error > tolerance && steps.length < maxSteps) {
    // Newton–Schulz rescaled to the interval: q(σ/hi) maps hi to 1.
    const [na, nb, nc] = NEWTON_SCHULZ_QUINTIC;
    let step: RootStep = [na / hi, nb / hi ** 3, nc / hi ** 5];
    if (lo < 0.9) {
      const found = minimise((x) => worstError(x as unknown as RootStep, lo, hi), [...step], [
        0.5,
        0.5,
        0.2,
      ]) as unknown as RootStep;
      if (worstError(found, lo, hi) < worstError(step, lo, hi)) step = found;
    }
    const [a, b, c] = step;
    const [newLo, newHi] = imageOf(step, lo, hi);
    // The image must stay positive and the deviation shrink: otherwise the design failed.
    if (!(newLo > 0) || !(Math.max(1 - newLo, newHi - 1) < error)) {
      throw new Error(`root schedule did not contract at step ${steps.length}`);
    }
    steps.push([a, b, c]);
    // Widen by 1 % (of the deviation from 1, or of lo itself when that is
    // smaller): slack for f32 rounding.
    lo = Math.min(newLo, 1) - 0.01 * Math.min(newLo, Math.abs(1 - newLo));
    hi = Math.max(newHi, 1) + 0.01 * Math.max(newHi - 1, 0);
    error = Math.max(1 - lo, hi - 1, 0);
  }
  return { steps, finalError: error };
}
