/**
 * The per-row softmax cross-entropy code both loss kernels share: max and
 * argmax, Σ exp(z − max), the loss and the gradient of one row.
 * @module
 */

import { f32Lit } from "../wgsl.ts";

/** Options baked into the row code. */
export interface CrossEntropyRowSpec {
  /** Rows. */
  batch: number;
  /** Classes. */
  classes: number;
  /** Write the gradient. */
  grad: boolean;
  /** Compute the per-row loss. */
  loss: boolean;
  /** Label smoothing ε (0: none). */
  smoothing: number;
}

/**
 * WGSL of `fn xent_row(b: u32) -> vec2<f32>`: row b's gradient written to
 * `dLogits` (when `spec.grad`), and (loss, correct) returned; `names` are
 * the resolved operand variables (logits, labels, dLogits).
 */
export function crossEntropyRowFn(spec: CrossEntropyRowSpec, n: Record<string, string>): string {
  const { batch: B, classes: C } = spec;
  const invB = f32Lit(1 / B);
  return `var<private> NAN_BITS: u32 = 0x7fc00000u;
fn xent_row(b: u32) -> vec2<f32> {
  let base = b * ${C}u;
  let lf = ${n.labels}[b];
  let valid = lf >= 0.0 && lf < ${C}.0 && floor(lf) == lf;
  // A negative label is a padding row: no loss, no count, no gradient.
  let is_pad = lf < 0.0;
  // An out-of-range label matches no class.
  let label = select(${C}u, u32(lf), valid);
  // Row max and argmax; strict > keeps the first of tied maxima.
  var mx = ${n.logits}[base];
  var arg = 0u;
  for (var c = 1u; c < ${C}u; c++) {
    let z = ${n.logits}[base + c];
    if (z > mx) {
      mx = z;
      arg = c;
    }
  }
  var se = 0.0;
  var sz = 0.0;
  for (var c = 0u; c < ${C}u; c++) {
    let zc = ${n.logits}[base + c] - mx;
    se += exp(zc);
    sz += zc;
  }
  var loss = 0.0;
${
    spec.loss
      ? `  // loss = log Σ exp(z − max) − (z_label − max), both terms ≥ 0 and finite.
  // With smoothing ε: (1 − ε)·(lse − z_label) + ε·mean_c(lse − z_c), shifted by max.
  let zl = ${n.logits}[base + min(label, ${C - 1}u)];
  let nll = log(se) - ${f32Lit(1 - spec.smoothing)} * (zl - mx) - ${
        f32Lit(spec.smoothing / C)
      } * sz;
  loss = select(select(bitcast<f32>(NAN_BITS), nll, valid), 0.0, is_pad);
`
      : ""
  }${
    spec.grad
      ? `  let inv = 1.0 / se;
  for (var c = 0u; c < ${C}u; c++) {
    let p = exp(${n.logits}[base + c] - mx) * inv;
    let tgt = select(0.0, ${f32Lit(1 - spec.smoothing)}, c == label) + ${
        f32Lit(spec.smoothing / C)
      };
    ${n.dLogits}[base + c] = select((p - tgt) * ${invB}, 0.0, is_pad);
  }
`
      : ""
  }  return vec2<f32>(loss, select(0.0, 1.0, arg == label && !is_pad));
}
`;
}
