/**
 * Float64 reference for pooling over NHWC input, written as plain loops from
 * the definitions (PyTorch semantics: ceil_mode = false, average pooling
 * with count_include_pad = true, max-pool ties to the first element in
 * window scan order). Shares no code with the GPU kernels.
 * @module
 */

import type { Pool2dGeometry } from "../../lib/kernels/pool/pool.ts";

/** Output size, recomputed here on purpose. */
export function poolOutRef(g: Pool2dGeometry): [number, number] {
  return [
    Math.floor((g.inH + 2 * g.padH - g.kh) / g.strideH) + 1,
    Math.floor((g.inW + 2 * g.padW - g.kw) / g.strideW) + 1,
  ];
}

/** Visits every (output index, input index) pair of in-image window taps, in scan order. */
function forEachTap(g: Pool2dGeometry, f: (o: number, i: number) => void): void {
  const [oh, ow] = poolOutRef(g);
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let c = 0; c < g.channels; c++) {
          const o = ((n * oh + oy) * ow + ox) * g.channels + c;
          for (let ky = 0; ky < g.kh; ky++) {
            for (let kx = 0; kx < g.kw; kx++) {
              const iy = oy * g.strideH - g.padH + ky;
              const ix = ox * g.strideW - g.padW + kx;
              if (iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW) continue;
              f(o, ((n * g.inH + iy) * g.inW + ix) * g.channels + c);
            }
          }
        }
      }
    }
  }
}

/** Max pool: values and flat argmax indices (first maximum wins). */
export function maxPoolRef(
  g: Pool2dGeometry,
  x: ArrayLike<number>,
): { y: Float64Array; argmax: Float64Array } {
  const [oh, ow] = poolOutRef(g);
  const size = g.batch * oh * ow * g.channels;
  const y = new Float64Array(size).fill(-Infinity);
  const argmax = new Float64Array(size).fill(-1);
  forEachTap(g, (o, i) => {
    if (argmax[o] < 0 || x[i] > y[o]) {
      y[o] = x[i];
      argmax[o] = i;
    }
  });
  return { y, argmax };
}

/** Max-pool input gradient: each output's gradient goes to its argmax. */
export function maxPoolBackwardRef(
  g: Pool2dGeometry,
  dy: ArrayLike<number>,
  argmax: ArrayLike<number>,
): Float64Array {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.channels);
  for (let o = 0; o < dy.length; o++) dx[argmax[o]] += dy[o];
  return dx;
}

/** Average pool with divisor kh·kw (padding counts as zeros). */
export function avgPoolRef(g: Pool2dGeometry, x: ArrayLike<number>): Float64Array {
  const [oh, ow] = poolOutRef(g);
  const y = new Float64Array(g.batch * oh * ow * g.channels);
  forEachTap(g, (o, i) => {
    y[o] += x[i] / (g.kh * g.kw);
  });
  return y;
}

/** Average-pool input gradient. */
export function avgPoolBackwardRef(g: Pool2dGeometry, dy: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.channels);
  forEachTap(g, (o, i) => {
    dx[i] += dy[o] / (g.kh * g.kw);
  });
  return dx;
}

/** Global average pool [N,H,W,C] → [N,C]. */
export function globalAvgPoolRef(
  n: number,
  h: number,
  w: number,
  c: number,
  x: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(n * c);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < h * w; p++) {
      for (let k = 0; k < c; k++) y[b * c + k] += x[(b * h * w + p) * c + k] / (h * w);
    }
  }
  return y;
}

/** Global average pool gradient [N,C] → [N,H,W,C]. */
export function globalAvgPoolBackwardRef(
  n: number,
  h: number,
  w: number,
  c: number,
  dy: ArrayLike<number>,
): Float64Array {
  const dx = new Float64Array(n * h * w * c);
  for (let i = 0; i < dx.length; i++) {
    dx[i] = dy[Math.floor(i / (h * w * c)) * c + (i % c)] / (h * w);
  }
  return dx;
}
