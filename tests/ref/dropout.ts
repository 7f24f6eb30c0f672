/**
 * CPU reference for inverted dropout, drawing the mask from
 * lib/util/rng.ts's `uniform01` (the GPU must match it bit for bit).
 * @module
 */

import { uniform01 } from "../../lib/util/rng.ts";

/** keep_i = uniform01(seed, stream, i) ≥ p, with p rounded to f32 as the kernel sees it. */
export function dropoutMaskRef(seed: number, stream: number, n: number, p: number): Uint8Array {
  const p32 = Math.fround(p);
  const keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) keep[i] = uniform01(seed, stream, i) >= p32 ? 1 : 0;
  return keep;
}

/** y = keep ? x/(1 − p) : 0 (also the backward, with dy for x). */
export function dropoutApplyRef(x: ArrayLike<number>, keep: Uint8Array, p: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = keep[i] ? x[i] / (1 - Math.fround(p)) : 0;
  return y;
}
