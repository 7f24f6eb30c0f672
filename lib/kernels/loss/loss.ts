/**
 * Fused softmax cross-entropy: per-sample loss, gradient of the batch mean,
 * GPU-side metric accumulation (loss sum, correct count) and, optionally,
 * the column sums of the gradient (the bias gradient of the linear layer
 * that produced the logits).
 *
 * One invocation handles one row of logits: max, then Σ exp(z − max), then
 * the gradient. Subtracting the row maximum keeps every exponent ≤ 0, so
 * logits of ±1e4 give finite losses and gradients.
 *
 * When the batch is small enough for one workgroup (the training heads of
 * classifiers), everything is one dispatch: 256 threads walk the rows, then
 * sum the metrics and the gradient's columns in fixed-shape trees in
 * workgroup memory. Otherwise the metric sums go through per-row scratch and
 * the deterministic {@link reduceAll} (and the column sums through
 * {@link reduceCols}). Either way results depend only on the shapes.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { bindOperands, checkDims, checkSize, type Operand } from "../elementwise/elementwise.ts";
import { LOOP_BUDGET, reduceAll, reduceCols, type ReduceVariant } from "../reduce/reduce.ts";
import { fusedCrossEntropyWgsl, fusedFits } from "./fused.ts";
import { crossEntropyRowFn, type CrossEntropyRowSpec } from "./row.ts";

export { crossEntropyRowFn, type CrossEntropyRowSpec } from "./row.ts";

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
  /**
   * [classes]: receives Σ_b dLogits[b, c] (overwritten), the bias gradient of
   * a linear layer producing the logits; needs `dLogits`.
   */
  dLogitsColSum?: Tensor;
  /**
   * Scratch for per-row values; required with `lossSum` or `correct` (and
   * `dLogitsColSum`), whichever kernel runs.
   */
  arena?: BufferArena;
  /** Variant of the metric reductions when they are separate dispatches (default by adapter). */
  variant?: ReduceVariant;
  /**
   * One dispatch (true) or the per-row kernel plus reductions (false);
   * default: one dispatch whenever the batch fits one workgroup.
   */
  fused?: boolean;
}

/** WGSL of the per-row kernel: one invocation per row, writing per-row loss and correctness. */
function perRowWgsl(
  spec: CrossEntropyRowSpec & { correct: boolean },
  decls: string,
  n: Record<string, string>,
): { code: string; grid: [number, number, number] } {
  const grid = grid2d(Math.ceil(spec.batch / 64));
  const code = `${decls}
${crossEntropyRowFn(spec, n)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let b = gid.x + gid.y * ${grid[0] * 64}u;
  if (b >= ${spec.batch}u) { return; }
  let r = xent_row(b);
${spec.loss ? `  ${n.rowLoss}[b] = r.x;\n` : ""}${
    spec.correct ? `  ${n.rowCorrect}[b] = r.y;\n` : ""
  }}
`;
  return { code, grid };
}

/**
 * Softmax cross-entropy over [batch, classes] logits, mean over the batch.
 * Writes `dLogits` and its column sums `dLogitsColSum` (when given) and adds
 * the batch's loss sum and correct count to `lossSum` / `correct` (when given).
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
  if (a.dLogitsColSum) {
    if (!a.dLogits) throw new RangeError(`${label}: dLogitsColSum needs dLogits`);
    checkSize(label, "dLogitsColSum", a.dLogitsColSum, C, `classes ${C}`);
  }
  if (gpu.adapter.isFallbackAdapter && 3 * C > LOOP_BUDGET) {
    throw new RangeError(
      `${label}: ${C} classes exceed what one llvmpipe invocation can loop over ` +
        `(its loop limiter stops after 65535 iterations)`,
    );
  }
  const needRows = a.lossSum !== undefined || a.correct !== undefined;
  if ((needRows || a.dLogitsColSum) && !a.arena) {
    throw new RangeError(
      `${label}: lossSum/correct/dLogitsColSum need a scratch arena (pass \`arena\`)`,
    );
  }
  const spec: CrossEntropyRowSpec = {
    batch: B,
    classes: C,
    grad: a.dLogits !== undefined,
    loss: a.lossSum !== undefined,
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
  const tag = `${spec.grad ? "g" : ""}${spec.loss ? "l" : ""}${a.correct ? "c" : ""}`;

  if (a.fused ?? fusedFits(B, C)) {
    if (!fusedFits(B, C)) {
      throw new RangeError(`${label}: a batch of ${B}×${C} logits does not fit one workgroup`);
    }
    if (a.lossSum) operands.push({ name: "lossSum", tensor: a.lossSum, write: true });
    if (a.correct) operands.push({ name: "correct", tensor: a.correct, write: true });
    if (a.dLogitsColSum) {
      operands.push({ name: "colSum", tensor: a.dLogitsColSum, write: true });
    }
    const bound = bindOperands(label, operands);
    const code = fusedCrossEntropyWgsl(
      { ...spec, correct: a.correct !== undefined, colSum: a.dLogitsColSum !== undefined },
      bound.decls,
      bound.names,
    );
    const suffix = `${tag}${a.dLogitsColSum ? "s" : ""}`;
    return [dispatch(gpu, `${label}_fused_${suffix}`, code, bound.bindings, [1, 1, 1])];
  }

  const rowLoss = a.lossSum ? a.arena!.tensor(`${label}.row_loss`, [B]) : undefined;
  const rowCorrect = a.correct ? a.arena!.tensor(`${label}.row_correct`, [B]) : undefined;
  if (rowLoss) operands.push({ name: "rowLoss", tensor: rowLoss, write: true });
  if (rowCorrect) operands.push({ name: "rowCorrect", tensor: rowCorrect, write: true });
  const bound = bindOperands(label, operands);
  const k = perRowWgsl({ ...spec, correct: rowCorrect !== undefined }, bound.decls, bound.names);
  const cmds: Command[] = [dispatch(gpu, `${label}_${tag}`, k.code, bound.bindings, k.grid)];
  const sum = (x: Tensor, out: Tensor) =>
    reduceAll(gpu, { op: "sum", x, out, accumulate: true, arena: a.arena, variant: a.variant });
  if (rowLoss) cmds.push(...sum(rowLoss, a.lossSum!));
  if (rowCorrect) cmds.push(...sum(rowCorrect, a.correct!));
  if (a.dLogitsColSum) {
    cmds.push(
      ...reduceCols(gpu, {
        op: "sum",
        x: a.dLogits!,
        rows: B,
        cols: C,
        out: a.dLogitsColSum,
        arena: a.arena,
        variant: a.variant,
      }),
    );
  }
  return cmds;
}
