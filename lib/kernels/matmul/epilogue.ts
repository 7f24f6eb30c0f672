/**
 * The fused epilogue every matmul variant ends with: scale, accumulate into
 * the previous output, add bias, activate. One WGSL generator, so every
 * variant computes exactly the same formula.
 * @module
 */

import type { Activation, Epilogue } from "./types.ts";

/** A finite number as a WGSL f32 literal ("1" would be an abstract int). */
export function f32Lit(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`cannot write ${x} as a WGSL literal`);
  const s = String(Math.fround(x));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** The activation's formula over `x` of any float type `T` (f32 or vec4<f32>). */
function actBody(activation: Activation, T: string): string {
  switch (activation) {
    case "none":
      return "return x;";
    case "relu":
      return `return max(x, ${T}(0.0));`;
    case "tanh":
      return `return tanh(clamp(x, ${T}(-15.0), ${T}(15.0)));`;
    case "sigmoid":
      // exp(-x) overflows to inf for x < -88, giving 1/inf = 0: the right limit.
      return `return ${T}(1.0) / (${T}(1.0) + exp(-x));`;
    case "gelu":
      return `let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), ${T}(-15.0), ${T}(15.0));
  return 0.5 * x * (${T}(1.0) + tanh(u));`;
  }
}

/**
 * WGSL for `fn act(x: f32) -> f32` and `fn act4(x: vec4<f32>) -> vec4<f32>`.
 * tanh's argument is clamped to ±15 (where tanh is ±1 in f32) because some
 * drivers evaluate tanh through exp and return inf/inf = NaN for large inputs.
 */
export function wgslActivation(activation: Activation): string {
  return `fn act(x: f32) -> f32 {
  ${actBody(activation, "f32")}
}
fn act4(x: vec4<f32>) -> vec4<f32> {
  ${actBody(activation, "vec4<f32>")}
}
`;
}

/**
 * WGSL declarations the epilogue needs: the activation and, with a bias, the
 * bias binding at `biasBinding`.
 */
export function wgslEpilogueDecls(ep: Epilogue, biasBinding: number): string {
  const bias = ep.hasBias
    ? `@group(0) @binding(${biasBinding}) var<storage, read> bias: array<f32>;\n`
    : "";
  return bias + wgslActivation(ep.activation);
}

/**
 * WGSL statement storing `acc` (the raw product sum) into `out[idx]` with the
 * epilogue applied; `col` is the output column (for the bias). `out` must be
 * bound read_write.
 */
export function wgslEpilogueStore(ep: Epilogue, acc: string, idx: string, col: string): string {
  let v = ep.alpha === 1 ? acc : `${f32Lit(ep.alpha)} * ${acc}`;
  // beta = 0 must not read out: it may hold NaN or garbage, and 0·NaN = NaN.
  if (ep.beta !== 0) v = `${v} + ${f32Lit(ep.beta)} * out[${idx}]`;
  if (ep.hasBias) v = `${v} + bias[${col}]`;
  if (ep.activation !== "none") v = `act(${v})`;
  return `out[${idx}] = ${v};`;
}

/**
 * Like {@link wgslEpilogueStore} for four consecutive outputs of one row, with
 * `out` bound as `array<vec4<f32>>`: `idx4` is the vec4 index, `col` the
 * column of the first value.
 */
export function wgslEpilogueStore4(ep: Epilogue, acc: string, idx4: string, col: string): string {
  let v = ep.alpha === 1 ? acc : `${f32Lit(ep.alpha)} * ${acc}`;
  if (ep.beta !== 0) v = `${v} + ${f32Lit(ep.beta)} * out[${idx4}]`;
  if (ep.hasBias) {
    v = `${v} + vec4<f32>(bias[${col}], bias[${col} + 1u], bias[${col} + 2u], bias[${col} + 3u])`;
  }
  if (ep.activation !== "none") v = `act4(${v})`;
  return `out[${idx4}] = ${v};`;
}
