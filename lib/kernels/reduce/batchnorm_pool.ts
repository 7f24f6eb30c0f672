/**
 * Batch normalisation fused with the max pooling that follows it, when the
 * pooling windows do not overlap (stride = window, no padding): the
 * full-resolution normalised activation and its gradient never exist.
 *
 * Forward (training after the statistics of batchnorm.ts, or evaluation):
 * one kernel normalises each window of x on the fly, takes its maximum and
 * writes the pooled output and its argmax, with the max pool's semantics
 * (pool.ts: the first maximum in scan order wins; with `relu` the output is
 * max(window max, 0) and a window whose maximum is not positive records
 * {@link NO_ARGMAX}). Floor mode: rows and columns past the last whole
 * window belong to no window.
 *
 * Backward (batchnorm_pool_backward.ts): the gradient reaching the batch
 * norm is the pooled gradient at each window's argmax and zero elsewhere, so
 * the sums Σg and Σg·x̂ run over the pooled rows only (reading x at the
 * argmax), and the dx kernel writes each window whole from its pooled
 * gradient.
 *
 * The results equal batch norm (+ ReLU) followed by max pooling (+ ReLU):
 * ReLU and max commute exactly, and a window the ReLU zeroes passes no
 * gradient either way.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Binding, Command } from "../../gpu/commands.ts";
import { numel, type Tensor } from "../../gpu/tensor.ts";
import { expectShape } from "../conv/geometry.ts";
import { bindOperands, type Operand } from "../elementwise/operands.ts";
import { prologue, run } from "../pool/common.ts";
import { defaultRowsPerInvocation } from "../elementwise/map.ts";
import {
  disjointWindows,
  MAX_POOL_INPUT,
  NO_ARGMAX,
  type Pool2dGeometry,
  shapes,
} from "../pool/pool.ts";
import { activationExpr } from "../wgsl.ts";
import { LOOP_BUDGET } from "./reduce.ts";
import { type ChannelAffine, checkEps, evalAffine, trainAffine } from "./batchnorm.ts";
import { checkCommon } from "./batchnorm_common.ts";

/** The fused kernels' shape facts, checked: throws a RangeError naming what does not fit. */
export function fusedPoolShapes(label: string, g: Pool2dGeometry) {
  if (!disjointWindows(g)) {
    throw new RangeError(
      `${label}: windows must not overlap (stride = window, padding 0), got window ${g.kh}x${g.kw}, ` +
        `stride ${g.strideH}x${g.strideW}, padding ${g.padH}x${g.padW}`,
    );
  }
  const { outH, outW, x, y } = shapes(label, g);
  const V = g.channels % 4 === 0 ? 4 : 1;
  const size = numel(x);
  if (size > MAX_POOL_INPUT) {
    throw new RangeError(`${label}: input has ${size} elements; argmax needs ≤ 2^24`);
  }
  return {
    outH,
    outW,
    /** Values per invocation (4 when the channels divide by 4). */
    V,
    /** Channel vectors per pixel. */
    cv: g.channels / V,
    /** Element type. */
    T: V === 4 ? "vec4<f32>" : "f32",
    /** Flat-index offsets of a vector's lanes. */
    lanes: V === 4 ? " + T(0.0, 1.0, 2.0, 3.0)" : "",
    x,
    y,
    rows: g.batch * g.inH * g.inW,
  };
}

/**
 * WGSL around `body`: invocation `t` takes channel vector c = t % cv and
 * `per` consecutive windows of the n × h × w grid (as `n`, `py`, `px`, and
 * `o`, the flat index of the window's channel vector), so per-channel
 * values (`prelude`, after c is known) are loaded once for all of them.
 */
export function windowBlock(
  a: { cv: number; n: number; h: number; w: number; per: number },
  prelude: string,
  body: string,
): { code: string; count: number } {
  const total = a.n * a.h * a.w;
  const count = a.cv * Math.ceil(total / a.per);
  const code = `${prologue(count)}
  let c = t % ${a.cv}u;
  let w0 = (t / ${a.cv}u) * ${a.per}u;
${prelude}
  for (var wi = w0; wi < min(w0 + ${a.per}u, ${total}u); wi++) {
    let px = wi % ${a.w}u;
    let py = (wi / ${a.w}u) % ${a.h}u;
    let n = wi / ${a.w * a.h}u;
    let o = wi * ${a.cv}u + c;
${body}
  }
}
`;
  return { code, count };
}

/**
 * Windows one invocation takes: `forced`, or by adapter. On llvmpipe every
 * storage load costs alike, and sharing the per-channel loads of 16 windows
 * removes most of them (as for the map kernels' rows); GPUs prefer more
 * threads. Capped so an invocation's window loops stay within llvmpipe's
 * loop budget (reduce.ts's LOOP_BUDGET).
 */
export function windowsPerInvocation(
  gpu: Gpu,
  label: string,
  g: Pool2dGeometry,
  forced?: number,
): number {
  if (forced !== undefined && (!Number.isInteger(forced) || forced < 1 || forced > 256)) {
    throw new RangeError(
      `${label}: windowsPerInvocation must be an integer in [1, 256], got ${forced}`,
    );
  }
  const per = forced ?? defaultRowsPerInvocation(gpu);
  return Math.max(1, Math.min(per, Math.floor(LOOP_BUDGET / (g.kh * g.kw + 1))));
}

/** WGSL of input element (ky, kx) of window (n, py, px) in channel vector c, as `i`. */
export function windowElement(g: Pool2dGeometry, cv: number): string {
  return `let i = ((n * ${g.inH}u + py * ${g.kh}u + ky) * ${g.inW}u + px * ${g.kw}u + kx) * ${cv}u + c;`;
}

/** WGSL of the fused forward (argmax written only when the operand list holds it). */
function forwardWgsl(
  label: string,
  g: Pool2dGeometry,
  affine: ChannelAffine,
  relu: boolean,
  io: { x: Tensor; y: Tensor; argmax?: Tensor },
  per: number,
): { code: string; bindings: Binding[]; count: number } {
  const s = fusedPoolShapes(label, g);
  const operands: Operand[] = [
    { name: "x", tensor: io.x },
    ...affine.operands,
    { name: "y", tensor: io.y, write: true },
    ...(io.argmax ? [{ name: "argmax", tensor: io.argmax, write: true }] : []),
  ];
  const bound = bindOperands(label, operands.map((o) => ({ ...o, type: s.T as Operand["type"] })));
  const v = bound.names;
  const first = s.V === 4 ? "vec4<bool>(ky == 0u && kx == 0u)" : "(ky == 0u && kx == 0u)";
  const take = s.V === 4 ? `(v > best) | ${first}` : `v > best || ${first}`;
  const store = relu
    ? `    ${v.y}[o] = ${activationExpr("relu", "best")};${
      io.argmax
        ? `
    // relu'(best) = 0: no input receives this window's gradient.
    ${v.argmax}[o] = select(T(${NO_ARGMAX}.0), at, best > T());`
        : ""
    }`
    : `    ${v.y}[o] = best;${io.argmax ? `\n    ${v.argmax}[o] = at;` : ""}`;
  const body = `    var best = T();
    var at = T();
    for (var ky = 0u; ky < ${g.kh}u; ky++) {
      for (var kx = 0u; kx < ${g.kw}u; kx++) {
        ${windowElement(g, s.cv)}
        // The normalisation's own expression, so values round as they would in memory.
        let v = (${v.x}[i] - mu) * sc + sh;
        // Strict '>' keeps the first maximum in scan order, per channel.
        let take = ${take};
        best = select(best, v, take);
        at = select(at, T(f32(i * ${s.V}u))${s.lanes}, take);
      }
    }
${store}`;
  const block = windowBlock(
    { cv: s.cv, n: g.batch, h: s.outH, w: s.outW, per },
    affine.prelude(v),
    body,
  );
  const code = `// batch norm + max pool ${g.kh}x${g.kw}, disjoint windows, ${per} per invocation
alias T = ${s.T};
${bound.decls}
${block.code}`;
  return { code, bindings: bound.bindings, count: block.count };
}

/** Arguments of {@link batchNormPoolTrainForward} and {@link batchNormPoolEvalForward}. */
export interface BatchNormPoolArgs {
  /** Pooling geometry over x (windows must not overlap). */
  geom: Pool2dGeometry;
  /** Input [N, H, W, C]. */
  x: Tensor;
  /** Scale γ [C]. */
  gamma: Tensor;
  /** Shift β [C]. */
  beta: Tensor;
  /** Pooled output [N, Ho, Wo, C]. */
  y: Tensor;
  /** Apply a ReLU to the pooled output (either side of the pooling: they commute). */
  relu?: boolean;
  /** Windows per invocation (default by adapter, see {@link windowsPerInvocation}). */
  windowsPerInvocation?: number;
}

function checkArgs(
  gpu: Gpu,
  label: string,
  a: BatchNormPoolArgs,
  perChannel: [string, Tensor][],
) {
  const s = fusedPoolShapes(label, a.geom);
  checkCommon(label, a.x, s.rows, a.geom.channels, [
    ["gamma", a.gamma],
    ["beta", a.beta],
    ...perChannel,
  ]);
  expectShape(label, "x", a.x, s.x);
  expectShape(label, "y", a.y, s.y);
  return { ...s, per: windowsPerInvocation(gpu, label, a.geom, a.windowsPerInvocation) };
}

/**
 * The training forward's output step: the pooled output and its argmax
 * (for the backward) from x and the statistics batchNormTrainStats saved.
 */
export function batchNormPoolTrainForward(
  gpu: Gpu,
  a: BatchNormPoolArgs & { saveMean: Tensor; saveInvStd: Tensor; argmax: Tensor },
): Command[] {
  const label = `batchnorm_maxpool${a.relu ? "_relu" : ""}`;
  const s = checkArgs(gpu, label, a, [["saveMean", a.saveMean], ["saveInvStd", a.saveInvStd]]);
  expectShape(label, "argmax", a.argmax, s.y);
  const k = forwardWgsl(label, a.geom, trainAffine(a), a.relu ?? false, a, s.per);
  return run(gpu, `${label}_fwd_w${s.V}`, k.code, k.bindings, k.count);
}

/** The evaluation forward: the pooled output from x and the running statistics. */
export function batchNormPoolEvalForward(
  gpu: Gpu,
  a: BatchNormPoolArgs & { runningMean: Tensor; runningVar: Tensor; eps: number },
): Command[] {
  const label = `batchnorm_eval_maxpool${a.relu ? "_relu" : ""}`;
  const s = checkArgs(gpu, label, a, [["runningMean", a.runningMean], [
    "runningVar",
    a.runningVar,
  ]]);
  checkEps(label, a.eps);
  const k = forwardWgsl(label, a.geom, evalAffine(a), a.relu ?? false, a, s.per);
  return run(gpu, `${label}_fwd_w${s.V}`, k.code, k.bindings, k.count);
}
