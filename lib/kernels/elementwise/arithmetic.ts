/**
 * Arithmetic map kernels: add (optionally with a ReLU), axpy, scale, fill,
 * per-column bias.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { activationExpr, f32Lit } from "../wgsl.ts";
import { mapKernel, pickWidth, type WidthChoice } from "./map.ts";
import { checkDims, checkSize, like } from "./operands.ts";

/** Arguments of {@link add}. */
export interface AddArgs {
  /** First summand. */
  x: Tensor;
  /** Second summand, same size. */
  y: Tensor;
  /** Sum, same size (may be x or y). */
  out: Tensor;
  /** Apply a ReLU to the sum (a residual join followed by a ReLU, in one kernel). */
  relu?: boolean;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/** out = x + y, or max(x + y, 0) with `relu`. */
export function add(gpu: Gpu, a: AddArgs): Command[] {
  const label = "add";
  checkSize(label, "y", a.y, a.x.size, like("x", a.x));
  checkSize(label, "out", a.out, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  return mapKernel(gpu, {
    label: `add${a.relu ? "_relu" : ""}_w${width}`,
    n: a.x.size,
    width,
    operands: [
      { name: "x", tensor: a.x },
      { name: "y", tensor: a.y },
      { name: "out", tensor: a.out, write: true },
    ],
    body: (n) =>
      `  ${n.out}[i] = ${
        a.relu ? activationExpr("relu", `${n.x}[i] + ${n.y}[i]`) : `${n.x}[i] + ${n.y}[i]`
      };`,
  });
}

/** Arguments of {@link axpy}. */
export interface AxpyArgs {
  /** Scale of x (baked into the kernel). */
  alpha: number;
  /** Added tensor. */
  x: Tensor;
  /** Accumulator, same size (may be x). */
  y: Tensor;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/** y += alpha·x. */
export function axpy(gpu: Gpu, a: AxpyArgs): Command[] {
  const label = "axpy";
  checkSize(label, "y", a.y, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  const alpha = f32Lit(a.alpha);
  return mapKernel(gpu, {
    label: `axpy_w${width}`,
    n: a.x.size,
    width,
    operands: [{ name: "x", tensor: a.x }, { name: "y", tensor: a.y, write: true }],
    body: (n) => `  ${n.y}[i] = fma(T(${alpha}), ${n.x}[i], ${n.y}[i]);`,
  });
}

/** Arguments of {@link scale}. */
export interface ScaleArgs {
  /** Factor (baked into the kernel). */
  alpha: number;
  /** Input. */
  x: Tensor;
  /** Output, same size (may be x). */
  out: Tensor;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/** out = alpha·x. */
export function scale(gpu: Gpu, a: ScaleArgs): Command[] {
  const label = "scale";
  checkSize(label, "out", a.out, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  const alpha = f32Lit(a.alpha);
  return mapKernel(gpu, {
    label: `scale_w${width}`,
    n: a.x.size,
    width,
    operands: [{ name: "x", tensor: a.x }, { name: "out", tensor: a.out, write: true }],
    body: (n) => `  ${n.out}[i] = ${alpha} * ${n.x}[i];`,
  });
}

/** Arguments of {@link fill}. */
export interface FillArgs {
  /** Value (finite; rounded to f32). */
  value: number;
  /** Tensor to fill. */
  out: Tensor;
  /** Force the scalar or vec4 kernel (zero always uses a buffer clear). */
  variant?: WidthChoice;
}

/** out[:] = value. Zero (+0) is a buffer clear, anything else a kernel. */
export function fill(gpu: Gpu, a: FillArgs): Command[] {
  const value = f32Lit(a.value);
  if (Object.is(Math.fround(a.value), 0)) {
    return [{ kind: "clear", label: `fill_${a.out.name}`, dst: a.out }];
  }
  const width = pickWidth("fill", [a.out.size], a.variant);
  return mapKernel(gpu, {
    label: `fill_w${width}`,
    n: a.out.size,
    width,
    operands: [{ name: "out", tensor: a.out, write: true }],
    body: (n) => `  ${n.out}[i] = T(${value});`,
  });
}

/** Arguments of {@link addBias}. */
export interface AddBiasArgs {
  /** Input [rows, cols] (row-major). */
  x: Tensor;
  /** Bias [cols]. */
  bias: Tensor;
  /** Rows of x. */
  rows: number;
  /** Columns of x (= bias length). */
  cols: number;
  /** Output [rows, cols] (may be x). */
  out: Tensor;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
  /** Rows per invocation (default by adapter: 16 on llvmpipe, 1 on GPUs). */
  rowsPerInvocation?: number;
}

/** out[r, c] = x[r, c] + bias[c]. */
export function addBias(gpu: Gpu, a: AddBiasArgs): Command[] {
  const label = "add_bias";
  checkDims(label, a.rows, a.cols);
  checkSize(label, "x", a.x, a.rows * a.cols, `rows ${a.rows} × cols ${a.cols}`);
  checkSize(label, "bias", a.bias, a.cols, `cols`);
  checkSize(label, "out", a.out, a.rows * a.cols, `rows ${a.rows} × cols ${a.cols}`);
  const width = pickWidth(label, [a.cols], a.variant);
  return mapKernel(gpu, {
    label: `add_bias_w${width}`,
    n: a.rows * a.cols,
    width,
    cols: a.cols,
    operands: [
      { name: "x", tensor: a.x },
      { name: "bias", tensor: a.bias },
      { name: "out", tensor: a.out, write: true },
    ],
    rowsPerInvocation: a.rowsPerInvocation,
    colPrelude: (n) => `  let b = ${n.bias}[c];`,
    body: (n) => `  ${n.out}[i] = ${n.x}[i] + b;`,
  });
}
