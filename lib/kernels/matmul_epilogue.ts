/**
 * The fused epilogue every matmul variant ends with: scale, accumulate into
 * the previous output, add bias, activate. One WGSL generator, so every
 * variant computes exactly the same formula.
 * @module
 */

import type { Activation, Epilogue } from "./matmul_types.ts";

/** A finite number as a WGSL f32 literal ("1" would be an abstract int). */
export function f32Lit(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`cannot write ${x} as a WGSL literal`);
  const s = String(Math.fround(x));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * WGSL for `fn act(x: f32) -> f32`. tanh's argument is clamped to ±15
 * (where tanh is ±1 in f32) because some drivers evaluate tanh through exp
 * and return inf/inf = NaN for large inputs.
 */
export function wgslActivation(activation: Activation): string {
  switch (activation) {
    case "none":
      return "fn act(x: f32) -> f32 { return x; }\n";
    case "relu":
      return "fn act(x: f32) -> f32 { return max(x, 0.0); }\n";
    case "tanh":
      return "fn act(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }\n";
    case "sigmoid":
      // exp(-x) overflows to inf for x < -88, giving 1/inf = 0: the right limit.
      return "fn act(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }\n";
    case "gelu":
      return `fn act(x: f32) -> f32 {
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
  return 0.5 * x * (1.0 + tanh(u));
}
`;
  }
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
