/**
 * The fused epilogue every matmul variant ends with: scale, accumulate into
 * the previous output, add bias, activate. One WGSL generator, so every
 * variant computes exactly the same formula.
 * @module
 */

import { activationExpr, f32Lit, wgslActivations } from "../wgsl.ts";
import type { Activation, Epilogue } from "./types.ts";

/** The epilogue applies its activation to f32 values and to vec4<f32> values. */
const ACTIVATION_TYPES = [{ type: "f32", suffix: "" }, { type: "vec4<f32>", suffix: "4" }];

/**
 * WGSL for `fn act(x: f32) -> f32` and `fn act4(x: vec4<f32>) -> vec4<f32>`,
 * from the activation library every activation op uses too.
 */
export function wgslActivation(activation: Activation): string {
  const op = activation === "none" ? "identity" : activation;
  const lib = op === "identity" ? "" : wgslActivations(ACTIVATION_TYPES);
  return `${lib}fn act(x: f32) -> f32 {
  return ${activationExpr(op, "x", "f32", "")};
}
fn act4(x: vec4<f32>) -> vec4<f32> {
  return ${activationExpr(op, "x", "vec4<f32>", "4")};
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
