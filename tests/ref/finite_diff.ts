/**
 * Central finite differences, to check every reference backward pass.
 * @module
 */

/**
 * Gradient of scalar `f` at `x` by central differences with step `h`
 * (float64: h = 1e-5 gives ~1e-9 relative error for smooth f).
 */
export function numericGrad(
  f: (x: Float64Array) => number,
  x: Float64Array,
  h = 1e-5,
): Float64Array {
  const g = new Float64Array(x.length);
  const xp = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    const xi = xp[i];
    xp[i] = xi + h;
    const fp = f(xp);
    xp[i] = xi - h;
    const fm = f(xp);
    xp[i] = xi;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** Σ w_i · y_i: turns a tensor output into a scalar with random weights. */
export function dot(w: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += w[i] * y[i];
  return s;
}
