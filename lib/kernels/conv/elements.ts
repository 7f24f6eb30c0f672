/**
 * Element readers over storage buffers for the tiled (real-GPU) variant:
 * the im2col entry of the input and the scattered entry of the output
 * gradient that the input gradient gathers. Plus the split-K count heuristic
 * shared by the weight-gradient and Gram builders.
 * @module
 */

import type { ConvDims } from "./geometry.ts";

/**
 * `fn <name>(g: u32, r: u32, jj: u32) -> f32`: im2col(x)[r][jj] of group g,
 * r = (image, output pixel), jj = (ky·kw + kx)·Cin_g + ci < kh·kw·Cin_g;
 * zero in the padding. Reads buffer `buf`.
 */
export function patchElementWgsl(d: ConvDims, name: string, buf: string): string {
  return `fn ${name}(g: u32, r: u32, jj: u32) -> f32 {
  let kp = jj / ${d.cinG}u;
  let rem = r % ${d.outH * d.outW}u;
  let iy = i32(rem / ${d.outW}u) * ${d.strideH} - ${d.padH} + i32(kp / ${d.kw}u) * ${d.dilationH};
  let ix = i32(rem % ${d.outW}u) * ${d.strideW} - ${d.padW} + i32(kp % ${d.kw}u) * ${d.dilationW};
  if (iy < 0 || iy >= ${d.inH} || ix < 0 || ix >= ${d.inW}) { return 0.0; }
  let n = r / ${d.outH * d.outW}u;
  return ${buf}[((n * ${d.inH}u + u32(iy)) * ${d.inW}u + u32(ix)) * ${d.inC}u + g * ${d.cinG}u + jj % ${d.cinG}u];
}
`;
}

/**
 * `fn <name>(g: u32, m: u32, jj: u32) -> f32`: the output-gradient entry that
 * input pixel m receives through kernel position/channel jj = (ky·kw + kx)·Cout_g + co
 * (zero when no output pixel maps there: padding, or stride not dividing).
 */
export function scatterElementWgsl(d: ConvDims, name: string, buf: string): string {
  const divisible = (t: string, s: number) => (s === 1 ? "" : ` || ${t} % ${s} != 0`);
  return `fn ${name}(g: u32, m: u32, jj: u32) -> f32 {
  let kp = jj / ${d.coutG}u;
  let rem = m % ${d.inH * d.inW}u;
  let ty = i32(rem / ${d.inW}u) + ${d.padH} - i32(kp / ${d.kw}u) * ${d.dilationH};
  let tx = i32(rem % ${d.inW}u) + ${d.padW} - i32(kp % ${d.kw}u) * ${d.dilationW};
  if (ty < 0 || tx < 0${divisible("ty", d.strideH)}${divisible("tx", d.strideW)}) { return 0.0; }
  let oy = ty / ${d.strideH};
  let ox = tx / ${d.strideW};
  if (oy >= ${d.outH} || ox >= ${d.outW}) { return 0.0; }
  let n = m / ${d.inH * d.inW}u;
  return ${buf}[((n * ${d.outH}u + u32(oy)) * ${d.outW}u + u32(ox)) * ${d.outC}u + g * ${d.coutG}u + jj % ${d.coutG}u];
}
`;
}

/** Options for {@link chooseSplits}. */
export interface SplitOptions {
  /** Independent tiles (workgroups or invocations) without splitting. */
  tiles: number;
  /** Reduction length. */
  rows: number;
  /** Wanted tiles × splits, enough to fill the device. */
  target: number;
  /** Smallest chunk worth a split. */
  minRows: number;
  /** Floats one split's partial sums take. */
  partialFloats: number;
  /** Upper bound on all partial sums (fits one storage binding). */
  maxPartialFloats?: number;
}

/** How many chunks to split a long reduction into (1 = no partials). */
export function chooseSplits(o: SplitOptions): number {
  const want = Math.ceil(o.target / Math.max(1, o.tiles));
  const byRows = Math.max(1, Math.floor(o.rows / o.minRows));
  const byMemory = Math.max(
    1,
    Math.floor((o.maxPartialFloats ?? 1 << 24) / Math.max(1, o.partialFloats)),
  );
  return Math.max(1, Math.min(want, byRows, byMemory));
}
