/**
 * Float64 reference for softmax cross-entropy (plain loops, log-sum-exp
 * with the row maximum subtracted).
 * @module
 */

/** Everything the fused kernel produces, in float64. */
export interface CrossEntropyRef {
  /** Per-row loss (NaN for a label outside [0, C) or non-integer). */
  loss: Float64Array;
  /** Σ_b loss_b. */
  lossSum: number;
  /** Mean loss Σ_b loss_b / B. */
  meanLoss: number;
  /** d(mean loss)/d(logits) = (softmax − onehot)/B. */
  dLogits: Float64Array;
  /** Rows whose first maximal logit is at the label. */
  correct: number;
}

/**
 * Softmax cross-entropy of logits [B, C] against f64 class indices, with
 * label smoothing ε (target (1 − ε)·onehot + ε/C). A negative label is a
 * padding row: zero loss, not counted, zero gradient.
 */
export function softmaxCrossEntropyRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  B: number,
  C: number,
  smoothing = 0,
): CrossEntropyRef {
  const loss = new Float64Array(B);
  const dLogits = new Float64Array(B * C);
  let lossSum = 0;
  let correct = 0;
  for (let b = 0; b < B; b++) {
    const y = labels[b];
    const valid = Number.isInteger(y) && y >= 0 && y < C;
    let mx = -Infinity;
    let arg = -1;
    for (let c = 0; c < C; c++) {
      if (logits[b * C + c] > mx) {
        mx = logits[b * C + c];
        arg = c;
      }
    }
    let se = 0;
    for (let c = 0; c < C; c++) se += Math.exp(logits[b * C + c] - mx);
    const pad = y < 0;
    const lse = Math.log(se) + mx;
    let smooth = 0;
    for (let c = 0; c < C; c++) smooth += (lse - logits[b * C + c]) / C;
    loss[b] = pad
      ? 0
      : valid
      ? (1 - smoothing) * (lse - logits[b * C + y]) + smoothing * smooth
      : NaN;
    lossSum += loss[b];
    if (valid && arg === y) correct++;
    for (let c = 0; c < C; c++) {
      const p = Math.exp(logits[b * C + c] - mx) / se;
      const target = (c === y ? 1 - smoothing : 0) + smoothing / C;
      dLogits[b * C + c] = pad ? 0 : (p - target) / B;
    }
  }
  return { loss, lossSum, meanLoss: lossSum / B, dLogits, correct };
}
