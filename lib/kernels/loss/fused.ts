/**
 * The one-dispatch softmax cross-entropy: a single workgroup of 256 threads
 * computes every row (gradient, loss, correctness), sums the metrics in a
 * fixed-shape tree in workgroup memory and adds them to the accumulators,
 * then sums the gradient's columns (the bias gradient of the layer that made
 * the logits): each thread one column over a fixed segment of rows, the
 * segments then added in order. Fixed shapes throughout, so results depend
 * only on (batch, classes).
 * @module
 */

import { LOOP_BUDGET } from "../reduce/reduce.ts";
import { crossEntropyRowFn, type CrossEntropyRowSpec } from "./row.ts";

/** Threads of the single workgroup. */
const WG = 256;

/**
 * Most logits the single workgroup takes on (256 per thread): beyond this a
 * GPU is better served by one invocation per row across many workgroups.
 */
export const FUSED_MAX_LOGITS = 1 << 16;

/** Rows of each column-sum segment, and the number of segments, for `C` ≤ 256 classes. */
function segments(B: number, C: number): { count: number; rows: number } {
  const count = Math.max(1, Math.floor(WG / C));
  return { count, rows: Math.ceil(B / count) };
}

/**
 * True when a [B, C] batch fits the one-dispatch kernel: at most
 * {@link FUSED_MAX_LOGITS} logits, and every thread's loops within
 * llvmpipe's loop budget.
 */
export function fusedFits(B: number, C: number): boolean {
  const rowLoops = Math.ceil(B / WG) * (3 * C + 1);
  const colLoops = C <= WG ? segments(B, C).rows + segments(B, C).count : Math.ceil(C / WG) * B;
  return B * C <= FUSED_MAX_LOGITS && rowLoops <= LOOP_BUDGET && colLoops <= LOOP_BUDGET;
}

/** What the one-dispatch kernel writes besides the gradient. */
export interface FusedSpec extends CrossEntropyRowSpec {
  /** Add the correct count to `correct`. */
  correct: boolean;
  /** Write Σ_b dLogits[b, c] to `colSum` (needs `grad`). */
  colSum: boolean;
}

/**
 * WGSL of the one-dispatch kernel (dispatch 1×1×1); `names` resolve the
 * operands logits, labels, dLogits, lossSum, correct and colSum.
 */
export function fusedCrossEntropyWgsl(
  spec: FusedSpec,
  decls: string,
  n: Record<string, string>,
): string {
  const { batch: B, classes: C } = spec;
  const metrics = spec.loss || spec.correct;
  const seg = segments(B, C);
  const colSums = !spec.colSum
    ? ""
    : C <= WG
    ? `  // Column c, segment s of ${seg.rows} rows: thread s·${C} + c; then the
  // segments in order.
  storageBarrier();
  if (t < ${seg.count * C}u) {
    let c = t % ${C}u;
    let r0 = (t / ${C}u) * ${seg.rows}u;
    var s = 0.0;
    for (var b = r0; b < min(r0 + ${seg.rows}u, ${B}u); b++) {
      s += ${n.dLogits}[b * ${C}u + c];
    }
    part[t] = s;
  }
  workgroupBarrier();
  if (t < ${C}u) {
    var s = 0.0;
    for (var k = 0u; k < ${seg.count}u; k++) {
      s += part[k * ${C}u + t];
    }
    ${n.colSum}[t] = s;
  }
`
    : `  storageBarrier();
  for (var c = t; c < ${C}u; c += ${WG}u) {
    var s = 0.0;
    for (var b = 0u; b < ${B}u; b++) {
      s += ${n.dLogits}[b * ${C}u + c];
    }
    ${n.colSum}[c] = s;
  }
`;
  return `${decls}
${crossEntropyRowFn(spec, n)}
var<workgroup> red: array<vec2<f32>, ${WG}>;
${spec.colSum && C <= WG ? `var<workgroup> part: array<f32, ${WG}>;` : ""}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) t: u32) {
  var acc = vec2<f32>();
  for (var b = t; b < ${B}u; b += ${WG}u) {
    acc += xent_row(b);
  }
${
    metrics
      ? `  // (loss, correct) summed over threads in a fixed tree.
  red[t] = acc;
  workgroupBarrier();
  for (var o = ${WG / 2}u; o > 0u; o >>= 1u) {
    if (t < o) {
      red[t] += red[t + o];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
${spec.loss ? `    ${n.lossSum}[0] += red[0].x;\n` : ""}${
        spec.correct ? `    ${n.correct}[0] += red[0].y;\n` : ""
      }  }
`
      : ""
  }${colSums}}
`;
}
