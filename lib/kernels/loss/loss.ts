/**
 * Fused softmax cross-entropy: per-sample loss, gradient of the batch mean,
 * and GPU-side metric accumulation (loss sum, correct count).
 *
 * One invocation handles one row of logits: max, then Σ exp(z − max), then
 * the gradient. Subtracting the row maximum keeps every exponent ≤ 0, so
 * logits of ±1e4 give finite losses and gradients. The metric sums go
 * through per-row scratch and the deterministic {@link reduceAll}.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import { f32Lit } from "../wgsl.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { bindOperands, checkDims, checkSize, type Operand } from "../elementwise/elementwise.ts";
import { LOOP_BUDGET, reduceAll, type ReduceVariant } from "../reduce/reduce.ts";

/** Arguments of {@link softmaxCrossEntropy}. */
export interface SoftmaxCrossEntropyArgs {
  /** Logits [batch, classes]. */
  logits: Tensor;
  /**
   * Labels [batch] as f32 class indices. A negative label marks a padding row
   * (a final partial batch): it adds nothing to the loss, the count or the
   * gradient. Any other label that is not an integer in [0, classes) gives
   * that row a NaN loss (so the metric shows the data bug), counts as
   * incorrect and gets the gradient softmax/B with no one-hot term.
   */
  labels: Tensor;
  /**
   * Label smoothing ε (PyTorch `label_smoothing`): the target is
   * (1 − ε)·onehot + ε/classes. Default 0.
   */
  labelSmoothing?: number;
  /** Rows. */
  batch: number;
  /** Classes per row. */
  classes: number;
  /** Receives (softmax − onehot)/batch, the gradient of the mean loss; omit in evaluation. May be `logits` itself. */
  dLogits?: Tensor;
  /** [1]: += Σ_b loss_b (not divided by the batch), for metrics. */
  lossSum?: Tensor;
  /** [1]: += number of rows whose argmax equals the label; the first of tied maxima is the argmax. */
  correct?: Tensor;
  /** Scratch for per-row values; required with `lossSum` or `correct`. */
  arena?: BufferArena;
  /** Variant of the metric reductions (default by adapter). */
  variant?: ReduceVariant;
}

/** Options baked into the per-row kernel. */
export interface CrossEntropyRowSpec {
  /** Rows. */
  batch: number;
  /** Classes. */
  classes: number;
  /** Write the gradient. */
  grad: boolean;
  /** Write per-row loss. */
  loss: boolean;
  /** Write per-row correctness (0/1). */
  correct: boolean;
  /** Label smoothing ε (0: none). */
  smoothing: number;
}

/** WGSL of the per-row kernel; `names` are the resolved operand variables. */
export function crossEntropyRowWgsl(
  spec: CrossEntropyRowSpec,
  decls: string,
  n: Record<string, string>,
): {
  code: string;
  grid: [number, number, number];
} {
  const { batch: B, classes: C } = spec;
  const grid = grid2d(Math.ceil(B / 64));
  const invB = f32Lit(1 / B);
  const code = `${decls}
var<private> NAN_BITS: u32 = 0x7fc00000u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let b = gid.x + gid.y * ${grid[0] * 64}u;
  if (b >= ${B}u) { return; }
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
${
    spec.loss
      ? `  // loss = log Σ exp(z − max) − (z_label − max), both terms ≥ 0 and finite.
  // With smoothing ε: (1 − ε)·(lse − z_label) + ε·mean_c(lse − z_c), shifted by max.
  let zl = ${n.logits}[base + min(label, ${C - 1}u)];
  let nll = log(se) - ${f32Lit(1 - spec.smoothing)} * (zl - mx) - ${
        f32Lit(spec.smoothing / C)
      } * sz;
  ${n.rowLoss}[b] = select(select(bitcast<f32>(NAN_BITS), nll, valid), 0.0, is_pad);\n`
      : ""
  }${spec.correct ? `  ${n.rowCorrect}[b] = select(0.0, 1.0, arg == label && !is_pad);\n` : ""}${
    spec.grad
      ? `  let inv = 1.0 / se;
  for (var c = 0u; c < ${C}u; c++) {
    let p = exp(${n.logits}[base + c] - mx) * inv;
    let tgt = select(0.0, ${f32Lit(1 - spec.smoothing)}, c == label) + ${
        f32Lit(spec.smoothing / C)
      };
    ${n.dLogits}[base + c] = select((p - tgt) * ${invB}, 0.0, is_pad);
  }\n`
      : ""
  }}
`;
  return { code, grid };
}

/**
 * Softmax cross-entropy over [batch, classes] logits, mean over the batch.
 * Writes `dLogits` (when given) and adds the batch's loss sum and correct
 * count to `lossSum` / `correct` (when given).
 */
export function softmaxCrossEntropy(gpu: Gpu, a: SoftmaxCrossEntropyArgs): Command[] {
  const label = "softmax_xent";
  checkDims(label, a.batch, a.classes);
  const { batch: B, classes: C } = a;
  checkSize(label, "logits", a.logits, B * C, `batch ${B} × classes ${C}`);
  checkSize(label, "labels", a.labels, B, `batch ${B}`);
  if (a.dLogits) checkSize(label, "dLogits", a.dLogits, B * C, `batch ${B} × classes ${C}`);
  if (a.lossSum) checkSize(label, "lossSum", a.lossSum, 1);
  if (a.correct) checkSize(label, "correct", a.correct, 1);
  if (gpu.adapter.isFallbackAdapter && 3 * C > LOOP_BUDGET) {
    throw new RangeError(
      `${label}: ${C} classes exceed what one llvmpipe invocation can loop over ` +
        `(its loop limiter stops after 65535 iterations)`,
    );
  }
  const needRows = a.lossSum !== undefined || a.correct !== undefined;
  if (needRows && !a.arena) {
    throw new RangeError(`${label}: lossSum/correct need a scratch arena (pass \`arena\`)`);
  }
  const rowLoss = a.lossSum ? a.arena!.tensor(`${label}.row_loss`, [B]) : undefined;
  const rowCorrect = a.correct ? a.arena!.tensor(`${label}.row_correct`, [B]) : undefined;
  const spec: CrossEntropyRowSpec = {
    batch: B,
    classes: C,
    grad: a.dLogits !== undefined,
    loss: rowLoss !== undefined,
    correct: rowCorrect !== undefined,
    smoothing: a.labelSmoothing ?? 0,
  };
  if (!(spec.smoothing >= 0 && spec.smoothing < 1)) {
    throw new RangeError(`${label}: label smoothing must be in [0, 1), got ${spec.smoothing}`);
  }
  if (!spec.grad && !needRows) return [];
  const operands: Operand[] = [{ name: "logits", tensor: a.logits }, {
    name: "labels",
    tensor: a.labels,
  }];
  if (a.dLogits) operands.push({ name: "dLogits", tensor: a.dLogits, write: true });
  if (rowLoss) operands.push({ name: "rowLoss", tensor: rowLoss, write: true });
  if (rowCorrect) operands.push({ name: "rowCorrect", tensor: rowCorrect, write: true });
  const bound = bindOperands(label, operands);
  const k = crossEntropyRowWgsl(spec, bound.decls, bound.names);
  const tag = `${spec.grad ? "g" : ""}${spec.loss ? "l" : ""}${spec.correct ? "c" : ""}`;
  const cmds: Command[] = [dispatch(gpu, `${label}_${tag}`, k.code, bound.bindings, k.grid)];
  if (rowLoss) {
    cmds.push(
      ...reduceAll(gpu, {
        op: "sum",
        x: rowLoss,
        out: a.lossSum!,
        accumulate: true,
        arena: a.arena,
        variant: a.variant,
      }),
    );
  }
  if (rowCorrect) {
    cmds.push(
      ...reduceAll(gpu, {
        op: "sum",
        x: rowCorrect,
        out: a.correct!,
        accumulate: true,
        arena: a.arena,
        variant: a.variant,
      }),
    );
  }
  return cmds;
}
