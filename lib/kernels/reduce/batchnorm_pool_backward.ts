/**
 * Backward pass of batch norm fused with a following max pooling of
 * disjoint windows (batchnorm_pool.ts): the gradient reaching the batch norm
 * is g = pooled gradient at each window's argmax, 0 elsewhere (and 0 in a
 * window a fused ReLU zeroed: argmax {@link NO_ARGMAX}), routed on the fly.
 * Σg and Σg·x̂ (dβ, dγ) reduce over the pooled rows, reading x at the argmax;
 * then each invocation writes whole windows (a block of them, 4 channels at
 * a time when they divide by 4): dx = γ·σ⁻¹/N · (N·g − dβ − x̂·dγ), windows
 * past the last whole one (floor mode) included, where g = 0.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { expectShape } from "../conv/geometry.ts";
import { bindOperands, type Operand } from "../elementwise/operands.ts";
import { run } from "../pool/common.ts";
import { NO_ARGMAX, type Pool2dGeometry } from "../pool/pool.ts";
import { dxStep, gradientSums } from "./batchnorm_backward.ts";
import {
  backwardChannels,
  type BatchNormBackwardChannels,
  type BatchNormVariants,
  checkCommon,
} from "./batchnorm_common.ts";
import {
  fusedPoolShapes,
  windowBlock,
  windowElement,
  windowsPerInvocation,
} from "./batchnorm_pool.ts";

/** Arguments of {@link batchNormPoolBackward}. */
export interface BatchNormPoolBackwardArgs
  extends Pick<BatchNormVariants, "variant">, BatchNormBackwardChannels {
  /** Pooling geometry over x (windows must not overlap). */
  geom: Pool2dGeometry;
  /** The forward input [N, H, W, C]. */
  x: Tensor;
  /** Gradient of the pooled output [N, Ho, Wo, C]. */
  dy: Tensor;
  /** The training forward's argmax [N, Ho, Wo, C]. */
  argmax: Tensor;
  /** Gradient w.r.t. x, overwritten. */
  dx: Tensor;
  /** Windows per invocation of the dx kernel (default by adapter). */
  windowsPerInvocation?: number;
}

/** Gradients of batch norm + max pooling w.r.t. x, γ and β (all overwritten). */
export function batchNormPoolBackward(gpu: Gpu, a: BatchNormPoolBackwardArgs): Command[] {
  const label = "batchnorm_maxpool_backward";
  const g = a.geom;
  const s = fusedPoolShapes(label, g);
  const C = g.channels;
  checkCommon(label, a.x, s.rows, C, backwardChannels(a));
  expectShape(label, "x", a.x, s.x);
  expectShape(label, "dy", a.dy, s.y);
  expectShape(label, "argmax", a.argmax, s.y);
  expectShape(label, "dx", a.dx, s.x);
  const pooledRows = g.batch * s.outH * s.outW;
  // The window's gradient goes to its argmax alone; none where a ReLU zeroed it.
  const sums = gradientSums(gpu, label, a, pooledRows, {
    inputs: [{ name: "argmax", tensor: a.argmax }],
    prelude: `fn routed(d: f32, at: f32) -> f32 {
  return select(0.0, d, at < ${NO_ARGMAX}.0);
}
fn source(at: f32) -> u32 {
  return min(u32(at), ${a.x.size - 1}u);
}
`,
    grad: (n, i) => `routed(${n.dy}[${i}], ${n.argmax}[${i}])`,
    xAt: (n, i) => `${n.x}[source(${n.argmax}[${i}])]`,
  });
  return [...sums, ...dxWindows(gpu, a, s)];
}

/**
 * The dx kernel over every window, whole or partial: one invocation per
 * channel vector and block of consecutive windows (`windowBlock`).
 */
function dxWindows(
  gpu: Gpu,
  a: BatchNormPoolBackwardArgs,
  s: ReturnType<typeof fusedPoolShapes>,
): Command[] {
  const label = "batchnorm_maxpool_backward_dx";
  const g = a.geom;
  const step = dxStep({ ...a, rows: s.rows });
  const per = windowsPerInvocation(gpu, label, g, a.windowsPerInvocation);
  const operands: Operand[] = [
    { name: "x", tensor: a.x },
    { name: "dy", tensor: a.dy },
    { name: "argmax", tensor: a.argmax },
    ...step.operands,
    { name: "dx", tensor: a.dx, write: true },
  ];
  const bound = bindOperands(label, operands.map((o) => ({ ...o, type: s.T as Operand["type"] })));
  const v = bound.names;
  // Windows cover the input; floor mode leaves a partial row/column of them without output.
  const gh = Math.ceil(g.inH / g.kh);
  const gw = Math.ceil(g.inW / g.kw);
  const partial = gh > s.outH || gw > s.outW;
  const body = `    var d = T();
    var am = T(-1.0);
${partial ? `    if (py < ${s.outH}u && px < ${s.outW}u) {` : "    {"}
      let po = ((n * ${s.outH}u + py) * ${s.outW}u + px) * ${s.cv}u + c;
      d = ${v.dy}[po];
      am = ${v.argmax}[po];
    }
    for (var ky = 0u; ky < ${g.kh}u; ky++) {
      for (var kx = 0u; kx < ${g.kw}u; kx++) {
${
    partial
      ? `        if (py * ${g.kh}u + ky >= ${g.inH}u || px * ${g.kw}u + kx >= ${g.inW}u) { continue; }\n`
      : ""
  }        ${windowElement(g, s.cv)}
        let gi = select(T(), d, am == T(f32(i * ${s.V}u))${s.lanes});
  ${step.store(v, "i", "gi").replaceAll("\n", "\n      ")}
      }
    }`;
  const block = windowBlock({ cv: s.cv, n: g.batch, h: gh, w: gw, per }, step.prelude(v), body);
  const code = `// batch norm + max pool ${g.kh}x${g.kw} backward dx, ${per} windows per invocation
alias T = ${s.T};
${bound.decls}
${block.code}`;
  return run(gpu, `${label}_w${s.V}`, code, bound.bindings, block.count);
}
