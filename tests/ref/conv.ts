/**
 * Float64 reference for conv2d (NHWC activations, weights [Cout, Cin/g, kh, kw]),
 * written as plain loops straight from the definition; shares no code with
 * the GPU kernels. Backward passes loop over the forward's terms and
 * accumulate into the gradient, the most direct transcription of the chain rule.
 * @module
 */

import type { Conv2dGeometry } from "../../lib/kernels/conv/conv.ts";

/** Output size by PyTorch's formula (recomputed here on purpose). */
export function outSizeRef(g: Conv2dGeometry): [number, number] {
  const oh = Math.floor((g.inH + 2 * g.padH - g.dilationH * (g.kh - 1) - 1) / g.strideH) + 1;
  const ow = Math.floor((g.inW + 2 * g.padW - g.dilationW * (g.kw - 1) - 1) / g.strideW) + 1;
  return [oh, ow];
}

/**
 * Calls `f(yIndex, xIndex, wIndex)` for every product term of the forward
 * pass whose input tap lies inside the image (padding contributes nothing).
 */
function forEachTerm(g: Conv2dGeometry, f: (yi: number, xi: number, wi: number) => void): void {
  const [oh, ow] = outSizeRef(g);
  const cinG = g.inC / g.groups;
  const coutG = g.outC / g.groups;
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let co = 0; co < g.outC; co++) {
          const grp = Math.floor(co / coutG);
          const yi = ((n * oh + oy) * ow + ox) * g.outC + co;
          for (let ci = 0; ci < cinG; ci++) {
            for (let ky = 0; ky < g.kh; ky++) {
              const iy = oy * g.strideH - g.padH + ky * g.dilationH;
              if (iy < 0 || iy >= g.inH) continue;
              for (let kx = 0; kx < g.kw; kx++) {
                const ix = ox * g.strideW - g.padW + kx * g.dilationW;
                if (ix < 0 || ix >= g.inW) continue;
                const xi = ((n * g.inH + iy) * g.inW + ix) * g.inC + grp * cinG + ci;
                const wi = ((co * cinG + ci) * g.kh + ky) * g.kw + kx;
                f(yi, xi, wi);
              }
            }
          }
        }
      }
    }
  }
}

/** y = conv(x, w) + bias, [N, Ho, Wo, Cout]. */
export function conv2dRef(
  g: Conv2dGeometry,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias?: ArrayLike<number>,
): Float64Array {
  const [oh, ow] = outSizeRef(g);
  const y = new Float64Array(g.batch * oh * ow * g.outC);
  if (bias) { for (let i = 0; i < y.length; i++) y[i] = bias[i % g.outC]; }
  forEachTerm(g, (yi, xi, wi) => {
    y[yi] += x[xi] * w[wi];
  });
  return y;
}

/** Gradient of Σ y·dy with respect to x, [N, H, W, Cin]. */
export function conv2dBackwardInputRef(
  g: Conv2dGeometry,
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
): Float64Array {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.inC);
  forEachTerm(g, (yi, xi, wi) => {
    dx[xi] += dy[yi] * w[wi];
  });
  return dx;
}

/** Gradients of Σ y·dy with respect to w [Cout, Cin/g, kh, kw] and bias [Cout]. */
export function conv2dBackwardWeightRef(
  g: Conv2dGeometry,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dw: Float64Array; dbias: Float64Array } {
  const dw = new Float64Array(g.outC * (g.inC / g.groups) * g.kh * g.kw);
  const dbias = new Float64Array(g.outC);
  forEachTerm(g, (yi, xi, wi) => {
    dw[wi] += x[xi] * dy[yi];
  });
  for (let i = 0; i < dy.length; i++) dbias[i % g.outC] += dy[i];
  return { dw, dbias };
}

/**
 * im2col of group `grp`, materialised: one row per (image, output pixel),
 * columns ordered channel, kernel row, kernel column (= w reshaped to
 * Cout × Cin_g·kh·kw); zeros where the tap falls in the padding.
 */
export function im2colRef(g: Conv2dGeometry, x: ArrayLike<number>, grp = 0): {
  rows: number;
  cols: number;
  data: Float64Array;
} {
  const [oh, ow] = outSizeRef(g);
  const cinG = g.inC / g.groups;
  const rows = g.batch * oh * ow;
  const cols = cinG * g.kh * g.kw;
  const data = new Float64Array(rows * cols);
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const r = (n * oh + oy) * ow + ox;
        for (let ci = 0; ci < cinG; ci++) {
          for (let ky = 0; ky < g.kh; ky++) {
            for (let kx = 0; kx < g.kw; kx++) {
              const iy = oy * g.strideH - g.padH + ky * g.dilationH;
              const ix = ox * g.strideW - g.padW + kx * g.dilationW;
              const inside = iy >= 0 && iy < g.inH && ix >= 0 && ix < g.inW;
              data[r * cols + (ci * g.kh + ky) * g.kw + kx] = inside
                ? x[((n * g.inH + iy) * g.inW + ix) * g.inC + grp * cinG + ci]
                : 0;
            }
          }
        }
      }
    }
  }
  return { rows, cols, data };
}
