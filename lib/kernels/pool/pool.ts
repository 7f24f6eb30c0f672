/**
 * Pooling kernels over NHWC activations: max pooling (with the argmax its
 * backward pass needs), average pooling and global average pooling, each
 * forward and backward.
 *
 * Semantics (PyTorch's, with ceil_mode = false):
 * - out = floor((in + 2·pad − k) / stride) + 1; padding may be at most half
 *   the kernel (so every window holds at least one real element).
 * - Max: padding never wins. Ties go to the first element in window scan
 *   order (row by row), which is the smallest flat input index. `argmax`
 *   stores that flat index `((n·H + iy)·W + ix)·C + c` as an f32, exact
 *   because inputs are limited to 2^24 elements. NaN inputs are not
 *   propagated (comparisons with NaN are false).
 * - Average: `count_include_pad = true`, i.e. the divisor is always kh·kw,
 *   padded positions counting as zeros.
 * Backward passes are gathers: each input element sums the windows that
 * reach it in a fixed order, so results are deterministic (no atomics).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import type { Command } from "../../gpu/commands.ts";
import { prologue, run } from "./common.ts";
import { expectShape } from "../conv/geometry.ts";
import { activationExpr } from "../wgsl.ts";

/** Window geometry of a 2-D pooling over NHWC input. */
export interface Pool2dGeometry {
  /** Images. */
  batch: number;
  /** Input height. */
  inH: number;
  /** Input width. */
  inW: number;
  /** Channels (pooled independently). */
  channels: number;
  /** Window height. */
  kh: number;
  /** Window width. */
  kw: number;
  /** Vertical stride. */
  strideH: number;
  /** Horizontal stride. */
  strideW: number;
  /** Padding above and below. */
  padH: number;
  /** Padding left and right. */
  padW: number;
}

/** Largest input a max pool accepts: argmax indices must be exact in f32. */
export const MAX_POOL_INPUT = 1 << 24;

/** Checks the geometry (positive sizes, padding ≤ half the window); RangeError otherwise. */
export function validatePool2d(g: Pool2dGeometry): void {
  for (const k of ["batch", "inH", "inW", "channels", "kh", "kw", "strideH", "strideW"] as const) {
    if (!Number.isInteger(g[k]) || g[k] < 1) {
      throw new RangeError(`pool2d: ${k} must be a positive integer, got ${g[k]}`);
    }
  }
  for (const [p, k] of [["padH", "kh"], ["padW", "kw"]] as const) {
    if (!Number.isInteger(g[p]) || g[p] < 0 || 2 * g[p] > g[k]) {
      throw new RangeError(
        `pool2d: ${p} must be an integer in [0, ${k}/2] = [0, ${Math.floor(g[k] / 2)}], got ${
          g[p]
        }`,
      );
    }
  }
}

/** Output size; RangeError naming the sizes when the window does not fit. */
export function poolOutputSize(g: Pool2dGeometry): { outH: number; outW: number } {
  validatePool2d(g);
  const outH = Math.floor((g.inH + 2 * g.padH - g.kh) / g.strideH) + 1;
  const outW = Math.floor((g.inW + 2 * g.padW - g.kw) / g.strideW) + 1;
  if (!(outH >= 1 && outW >= 1)) {
    throw new RangeError(
      `pool2d: input ${g.inH}x${g.inW} with padding ${g.padH}x${g.padW} is smaller than the window ${g.kh}x${g.kw}`,
    );
  }
  return { outH, outW };
}

/** Output size and the input and output shapes [N, H, W, C] of `g`; `what` names it in errors. */
export function shapes(what: string, g: Pool2dGeometry) {
  const { outH, outW } = poolOutputSize(g);
  return {
    what,
    outH,
    outW,
    x: [g.batch, g.inH, g.inW, g.channels],
    y: [g.batch, outH, outW, g.channels],
  };
}

/** Decodes `t` (an NHWC index over `h`×`w`) into n, y, x, c. */
function decode(g: Pool2dGeometry, h: number, w: number): string {
  return `  let c = t % ${g.channels}u;
  let px = (t / ${g.channels}u) % ${w}u;
  let py = (t / ${g.channels * w}u) % ${h}u;
  let n = t / ${g.channels * w * h}u;`;
}

/**
 * argmax of a window whose output a fused ReLU zeroed: no input gets its
 * gradient (the flat indices are below 2^24, and 2^24 is exact in f32).
 */
export const NO_ARGMAX = MAX_POOL_INPUT;

/**
 * WGSL of the max-pool forward pass (one invocation per output element).
 * With `relu`, y = max(window max, 0) and a window whose max is not positive
 * records {@link NO_ARGMAX}, so the unchanged backward gather applies the
 * ReLU's gradient too (ReLU after max pooling, in one kernel each way).
 */
export function maxPoolForwardWgsl(g: Pool2dGeometry, relu = false): string {
  const { outH, outW } = poolOutputSize(g);
  if (g.channels % 4 === 0) return maxPoolForwardVec4Wgsl(g, outH, outW, relu);
  return `// max pool ${g.kh}x${g.kw} forward
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<f32>;
${prologue(g.batch * outH * outW * g.channels)}
${decode(g, outH, outW)}
  var best = 0.0;
  var at = -1;
  for (var ky = 0; ky < ${g.kh}; ky++) {
    let iy = i32(py) * ${g.strideH} - ${g.padH} + ky;
    if (iy < 0 || iy >= ${g.inH}) { continue; }
    for (var kx = 0; kx < ${g.kw}; kx++) {
      let ix = i32(px) * ${g.strideW} - ${g.padW} + kx;
      if (ix < 0 || ix >= ${g.inW}) { continue; }
      let i = ((i32(n) * ${g.inH} + iy) * ${g.inW} + ix) * ${g.channels} + i32(c);
      let v = x[i];
      // Strict '>' keeps the first maximum in scan order.
      if (at < 0 || v > best) {
        best = v;
        at = i;
      }
    }
  }
${
    relu
      ? `  y[t] = ${activationExpr("relu", "best", "f32")};
  // relu'(best) = 0: no input receives this window's gradient.
  argmax[t] = select(${NO_ARGMAX}.0, f32(at), best > 0.0);`
      : `  y[t] = best;
  argmax[t] = f32(at);`
  }
}
`;
}

/**
 * The forward pass for channels in multiples of 4: one invocation per output
 * pixel and 4 channels, vec4 loads and stores (llvmpipe stores a vec4 for
 * the price of a float), the same per-channel scan and ties as the scalar
 * kernel.
 */
function maxPoolForwardVec4Wgsl(
  g: Pool2dGeometry,
  outH: number,
  outW: number,
  relu: boolean,
): string {
  const cv = g.channels / 4;
  return `// max pool ${g.kh}x${g.kw} forward, vec4 channels
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> argmax: array<vec4<f32>>;
${prologue(g.batch * outH * outW * cv)}
  let c4 = t % ${cv}u;
  let px = (t / ${cv}u) % ${outW}u;
  let py = (t / ${cv * outW}u) % ${outH}u;
  let n = t / ${cv * outW * outH}u;
  var best = vec4<f32>();
  var at = vec4<f32>();
  var first = true;
  for (var ky = 0; ky < ${g.kh}; ky++) {
    let iy = i32(py) * ${g.strideH} - ${g.padH} + ky;
    if (iy < 0 || iy >= ${g.inH}) { continue; }
    for (var kx = 0; kx < ${g.kw}; kx++) {
      let ix = i32(px) * ${g.strideW} - ${g.padW} + kx;
      if (ix < 0 || ix >= ${g.inW}) { continue; }
      let i = u32((i32(n) * ${g.inH} + iy) * ${g.inW} + ix) * ${cv}u + c4;
      let v = x[i];
      // Flat indices of the 4 channels (exact in f32 below 2^24).
      let iv = vec4<f32>(f32(i * 4u)) + vec4<f32>(0.0, 1.0, 2.0, 3.0);
      // Strict '>' keeps the first maximum in scan order, per channel.
      let take = (v > best) | vec4<bool>(first);
      best = select(best, v, take);
      at = select(at, iv, take);
      first = false;
    }
  }
${
    relu
      ? `  y[t] = ${activationExpr("relu", "best", "vec4<f32>")};
  // relu'(best) = 0: no input receives this window's gradient.
  argmax[t] = select(vec4<f32>(${NO_ARGMAX}.0), at, best > vec4<f32>());`
      : `  y[t] = best;
  argmax[t] = at;`
  }
}
`;
}

/**
 * True when the windows of `g` do not overlap and need no padding (stride =
 * window, padding 0): every input lies in at most one window (the condition
 * for fusing the pooling into a batch norm).
 */
export function disjointWindows(g: Pool2dGeometry): boolean {
  return g.strideH === g.kh && g.strideW === g.kw && g.padH === 0 && g.padW === 0;
}

/**
 * True when the windows tile the input exactly (disjoint, sizes divisible):
 * every input lies in exactly one window.
 */
function tiles(g: Pool2dGeometry): boolean {
  return disjointWindows(g) && g.inH % g.kh === 0 && g.inW % g.kw === 0;
}

/**
 * The backward pass when the windows tile the input: one invocation per
 * output (and 4 channels when they divide by 4) writes its whole window,
 * dy at the argmax and 0 elsewhere: two loads per window instead of two
 * per input, and no index arithmetic per input.
 */
function maxPoolBackwardTiledWgsl(g: Pool2dGeometry, outH: number, outW: number): string {
  const V = g.channels % 4 === 0 ? 4 : 1;
  const T = V === 4 ? "vec4<f32>" : "f32";
  const cv = g.channels / V;
  const offsets = V === 4 ? " + vec4<f32>(0.0, 1.0, 2.0, 3.0)" : "";
  return `// max pool ${g.kh}x${g.kw} backward, windows tiling the input
@group(0) @binding(0) var<storage, read> dy: array<${T}>;
@group(0) @binding(1) var<storage, read> argmax: array<${T}>;
@group(0) @binding(2) var<storage, read_write> dx: array<${T}>;
${prologue(g.batch * outH * outW * cv)}
  let cw = t % ${cv}u;
  let px = (t / ${cv}u) % ${outW}u;
  let py = (t / ${cv * outW}u) % ${outH}u;
  let n = t / ${cv * outW * outH}u;
  let d = dy[t];
  let am = argmax[t];
  for (var ky = 0u; ky < ${g.kh}u; ky++) {
    for (var kx = 0u; kx < ${g.kw}u; kx++) {
      let i = ((n * ${g.inH}u + py * ${g.kh}u + ky) * ${g.inW}u + px * ${g.kw}u + kx) * ${cv}u + cw;
      let iv = ${T}(f32(i * ${V}u))${offsets};
      dx[i] = select(${T}(), d, am == iv);
    }
  }
}
`;
}

/**
 * WGSL of the max-pool backward pass: a gather (one invocation per input
 * element, summing the windows that chose it in a fixed order), or, when the
 * windows tile the input, one invocation per window writing it whole.
 */
export function maxPoolBackwardWgsl(g: Pool2dGeometry): string {
  const { outH, outW } = poolOutputSize(g);
  if (tiles(g)) return maxPoolBackwardTiledWgsl(g, outH, outW);
  return `// max pool ${g.kh}x${g.kw} backward
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
${prologue(g.batch * g.inH * g.inW * g.channels)}
${decode(g, g.inH, g.inW)}
${windowRange(g, outH, outW)}
  var s = 0.0;
  for (var oy = oy0; oy <= oy1; oy++) {
    for (var ox = ox0; ox <= ox1; ox++) {
      let o = ((n * ${outH}u + u32(oy)) * ${outW}u + u32(ox)) * ${g.channels}u + c;
      if (u32(argmax[o]) == t) { s += dy[o]; }
    }
  }
  dx[t] = s;
}
`;
}

/** WGSL computing the output windows [oy0, oy1] × [ox0, ox1] that cover input (py, px). */
function windowRange(g: Pool2dGeometry, outH: number, outW: number): string {
  // Window o covers inputs [o·s − p, o·s − p + k − 1], so input i is reached by
  // o ∈ [ceil((i + p − k + 1) / s), floor((i + p) / s)] ∩ [0, out − 1].
  return `  let ay = i32(py) + ${g.padH - g.kh + 1};
  let ax = i32(px) + ${g.padW - g.kw + 1};
  let oy0 = select(0, (ay + ${g.strideH - 1}) / ${g.strideH}, ay > 0);
  let ox0 = select(0, (ax + ${g.strideW - 1}) / ${g.strideW}, ax > 0);
  let oy1 = min(${outH - 1}, (i32(py) + ${g.padH}) / ${g.strideH});
  let ox1 = min(${outW - 1}, (i32(px) + ${g.padW}) / ${g.strideW});`;
}

/** WGSL of the average-pool forward pass (divisor kh·kw, padding counted). */
export function avgPoolForwardWgsl(g: Pool2dGeometry): string {
  const { outH, outW } = poolOutputSize(g);
  return `// avg pool ${g.kh}x${g.kw} forward
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
${prologue(g.batch * outH * outW * g.channels)}
${decode(g, outH, outW)}
  var s = 0.0;
  for (var ky = 0; ky < ${g.kh}; ky++) {
    let iy = i32(py) * ${g.strideH} - ${g.padH} + ky;
    if (iy < 0 || iy >= ${g.inH}) { continue; }
    for (var kx = 0; kx < ${g.kw}; kx++) {
      let ix = i32(px) * ${g.strideW} - ${g.padW} + kx;
      if (ix < 0 || ix >= ${g.inW}) { continue; }
      s += x[((i32(n) * ${g.inH} + iy) * ${g.inW} + ix) * ${g.channels} + i32(c)];
    }
  }
  y[t] = s / ${g.kh * g.kw}.0;
}
`;
}

/** WGSL of the average-pool backward gather. */
export function avgPoolBackwardWgsl(g: Pool2dGeometry): string {
  const { outH, outW } = poolOutputSize(g);
  return `// avg pool ${g.kh}x${g.kw} backward
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
${prologue(g.batch * g.inH * g.inW * g.channels)}
${decode(g, g.inH, g.inW)}
${windowRange(g, outH, outW)}
  var s = 0.0;
  for (var oy = oy0; oy <= oy1; oy++) {
    for (var ox = ox0; ox <= ox1; ox++) {
      s += dy[((n * ${outH}u + u32(oy)) * ${outW}u + u32(ox)) * ${g.channels}u + c];
    }
  }
  dx[t] = s / ${g.kh * g.kw}.0;
}
`;
}

/** The argmax is a flat input index stored as f32: exact only up to 2^24. */
function checkArgmaxRange(what: string, role: string, t: Tensor): void {
  if (t.size > MAX_POOL_INPUT) {
    throw new RangeError(
      `${what}: ${role} "${t.name}" has ${t.size} elements; argmax needs ≤ 2^24`,
    );
  }
}

/**
 * Max pooling: y [N,Ho,Wo,C] and argmax [N,Ho,Wo,C] (flat input index as
 * f32; ties: first in window scan order) from x [N,H,W,C]; with `relu`,
 * y = max(pooled, 0) (see {@link maxPoolForwardWgsl}).
 */
export function maxPool2dForward(
  gpu: Gpu,
  a: { geom: Pool2dGeometry; x: Tensor; y: Tensor; argmax: Tensor; relu?: boolean },
): Command[] {
  const s = shapes("maxPool2dForward", a.geom);
  expectShape(s.what, "x", a.x, s.x);
  expectShape(s.what, "y", a.y, s.y);
  expectShape(s.what, "argmax", a.argmax, s.y);
  checkArgmaxRange(s.what, "input", a.x);
  const v4 = a.geom.channels % 4 === 0;
  return run(
    gpu,
    `maxpool${a.relu ? "_relu" : ""}_fwd${v4 ? "_w4" : ""}`,
    maxPoolForwardWgsl(a.geom, a.relu),
    [a.x, a.y, a.argmax],
    v4 ? a.y.size / 4 : a.y.size,
  );
}

/** Max-pool input gradient from dy and the forward's argmax; overwrites dx. */
export function maxPool2dBackward(
  gpu: Gpu,
  a: { geom: Pool2dGeometry; dy: Tensor; argmax: Tensor; dx: Tensor },
): Command[] {
  const s = shapes("maxPool2dBackward", a.geom);
  expectShape(s.what, "dy", a.dy, s.y);
  expectShape(s.what, "argmax", a.argmax, s.y);
  expectShape(s.what, "dx", a.dx, s.x);
  checkArgmaxRange(s.what, "input gradient", a.dx);
  const perWindow = tiles(a.geom);
  const v = perWindow && a.geom.channels % 4 === 0 ? 4 : 1;
  return run(
    gpu,
    perWindow ? `maxpool_bwd_windows_w${v}` : "maxpool_bwd",
    maxPoolBackwardWgsl(a.geom),
    [a.dy, a.argmax, a.dx],
    perWindow ? a.dy.size / v : a.dx.size,
  );
}

/** Average pooling, padding counted in the divisor (count_include_pad = true). */
export function avgPool2dForward(
  gpu: Gpu,
  a: { geom: Pool2dGeometry; x: Tensor; y: Tensor },
): Command[] {
  const s = shapes("avgPool2dForward", a.geom);
  expectShape(s.what, "x", a.x, s.x);
  expectShape(s.what, "y", a.y, s.y);
  return run(gpu, "avgpool_fwd", avgPoolForwardWgsl(a.geom), [a.x, a.y], a.y.size);
}

/** Average-pool input gradient; overwrites dx. */
export function avgPool2dBackward(
  gpu: Gpu,
  a: { geom: Pool2dGeometry; dy: Tensor; dx: Tensor },
): Command[] {
  const s = shapes("avgPool2dBackward", a.geom);
  expectShape(s.what, "dy", a.dy, s.y);
  expectShape(s.what, "dx", a.dx, s.x);
  return run(gpu, "avgpool_bwd", avgPoolBackwardWgsl(a.geom), [a.dy, a.dx], a.dx.size);
}

export * from "./global.ts";
