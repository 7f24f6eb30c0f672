/**
 * Activation kernels: y = op(x) and its gradient, elementwise. The formulas
 * come from the one activation library (lib/kernels/wgsl.ts), which the
 * matmul epilogue uses too.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import {
  ACTIVATION_OPS,
  activationExpr,
  activationGradExpr,
  type ActivationOp,
  wgslActivations,
} from "../wgsl.ts";
import { mapKernel, pickWidth, type WidthChoice } from "./map.ts";
import { checkSize, like } from "./operands.ts";

/** Pointwise activation (see {@link ActivationOp}). */
export type UnaryOp = ActivationOp;

function checkOp(label: string, op: UnaryOp): void {
  if (!ACTIVATION_OPS.includes(op)) {
    throw new RangeError(
      `${label}: unknown activation "${op}" (expected ${ACTIVATION_OPS.join(", ")})`,
    );
  }
}

/** Arguments of {@link unary}. */
export interface UnaryArgs {
  /** Activation. */
  op: UnaryOp;
  /** Input. */
  x: Tensor;
  /** Output, same size as x (may be x itself). */
  y: Tensor;
  /** Force the scalar or vec4 kernel (tests, benchmarks). */
  variant?: WidthChoice;
}

/** y = op(x), elementwise. */
export function unary(gpu: Gpu, a: UnaryArgs): Command[] {
  const label = `unary_${a.op}`;
  checkOp(label, a.op);
  checkSize(label, "y", a.y, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  return mapKernel(gpu, {
    label: `${label}_w${width}`,
    n: a.x.size,
    width,
    operands: [{ name: "x", tensor: a.x }, { name: "y", tensor: a.y, write: true }],
    prelude: wgslActivations(),
    body: (n) => `  ${n.y}[i] = ${activationExpr(a.op, `${n.x}[i]`)};`,
  });
}

/** Arguments of {@link unaryBackward}. */
export interface UnaryBackwardArgs {
  /** Activation. */
  op: UnaryOp;
  /** The forward input (the gradient is recomputed from it). */
  x: Tensor;
  /** Gradient w.r.t. the output. */
  dy: Tensor;
  /** Gradient w.r.t. the input (may be dy itself). */
  dx: Tensor;
  /** dx += instead of dx =. */
  accumulate?: boolean;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/** dx (+)= op'(x)·dy, elementwise. */
export function unaryBackward(gpu: Gpu, a: UnaryBackwardArgs): Command[] {
  const label = `unary_${a.op}_backward`;
  checkOp(label, a.op);
  checkSize(label, "dy", a.dy, a.x.size, like("x", a.x));
  checkSize(label, "dx", a.dx, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  const acc = a.accumulate ?? false;
  return mapKernel(gpu, {
    label: `${label}_w${width}${acc ? "_acc" : ""}`,
    n: a.x.size,
    width,
    operands: [
      { name: "x", tensor: a.x },
      { name: "dy", tensor: a.dy },
      { name: "dx", tensor: a.dx, write: true },
    ],
    prelude: wgslActivations(),
    body: (n) => {
      const g = activationGradExpr(a.op, "v", "g");
      return `  let v = ${n.x}[i];\n  let g = ${n.dy}[i];\n  ${n.dx}[i] ${acc ? "+=" : "="} ${g};`;
    },
  });
}

/** Arguments of {@link reluBackwardFromOutput}. */
export interface ReluBackwardFromOutputArgs {
  /** The ReLU's output (y > 0 exactly where its input was > 0). */
  y: Tensor;
  /** Gradient w.r.t. the output. */
  dy: Tensor;
  /** Tensors that each receive relu'·dy (one or more; any may be dy itself). */
  outs: readonly Tensor[];
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/**
 * The backward pass of a ReLU fused into the op before it, from the fused
 * op's output: out = dy where y > 0, else 0, written to every tensor in
 * `outs` by one kernel (e.g. both input gradients of a residual add).
 */
export function reluBackwardFromOutput(gpu: Gpu, a: ReluBackwardFromOutputArgs): Command[] {
  const label = "relu_backward_from_output";
  checkSize(label, "dy", a.dy, a.y.size, like("y", a.y));
  if (a.outs.length === 0) throw new RangeError(`${label}: no output tensor`);
  a.outs.forEach((t, j) => checkSize(label, `outs[${j}]`, t, a.y.size, like("y", a.y)));
  const width = pickWidth(label, [a.y.size], a.variant);
  const outs = a.outs.map((t, j) => ({ name: `out${j}`, tensor: t, write: true }));
  return mapKernel(gpu, {
    label: `${label}${a.outs.length}_w${width}`,
    n: a.y.size,
    width,
    operands: [{ name: "y", tensor: a.y }, { name: "dy", tensor: a.dy }, ...outs],
    body: (n) =>
      `  let g = ${activationGradExpr("relu", `${n.y}[i]`, `${n.dy}[i]`)};\n` +
      outs.map((o) => `  ${n[o.name]}[i] = g;`).join("\n"),
  });
}
