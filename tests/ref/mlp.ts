/**
 * A float64 two-layer perceptron (Linear → ReLU → Linear → softmax
 * cross-entropy) with hand-written backward, for end-to-end parity of the
 * compiled plan and trainer.
 * @module
 */

/** Parameters, PyTorch layouts: w1 [h, in], b1 [h], w2 [c, h], b2 [c]. */
export interface MlpParams {
  w1: Float64Array;
  b1: Float64Array;
  w2: Float64Array;
  b2: Float64Array;
}

/** Sizes. */
export interface MlpDims {
  inF: number;
  hidden: number;
  classes: number;
}

/**
 * Mean cross-entropy loss, number correct and gradients of one batch
 * (x [B, in] row-major, labels [B]).
 */
export function mlpStep(
  p: MlpParams,
  d: MlpDims,
  x: Float64Array,
  labels: ArrayLike<number>,
): { loss: number; correct: number; grads: MlpParams } {
  const B = labels.length;
  const { inF, hidden: H, classes: C } = d;
  const z1 = new Float64Array(B * H);
  const a1 = new Float64Array(B * H);
  const logits = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      let s = p.b1[h];
      for (let i = 0; i < inF; i++) s += x[b * inF + i] * p.w1[h * inF + i];
      z1[b * H + h] = s;
      a1[b * H + h] = Math.max(0, s);
    }
    for (let c = 0; c < C; c++) {
      let s = p.b2[c];
      for (let h = 0; h < H; h++) s += a1[b * H + h] * p.w2[c * H + h];
      logits[b * C + c] = s;
    }
  }
  const g: MlpParams = {
    w1: new Float64Array(p.w1.length),
    b1: new Float64Array(p.b1.length),
    w2: new Float64Array(p.w2.length),
    b2: new Float64Array(p.b2.length),
  };
  let loss = 0;
  let correct = 0;
  const dz2 = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    let max = -Infinity;
    let arg = 0;
    for (let c = 0; c < C; c++) {
      if (logits[b * C + c] > max) {
        max = logits[b * C + c];
        arg = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[b * C + c] - max);
    const y = labels[b];
    loss += Math.log(sum) + max - logits[b * C + y];
    if (arg === y) correct++;
    for (let c = 0; c < C; c++) {
      dz2[b * C + c] = (Math.exp(logits[b * C + c] - max) / sum - (c === y ? 1 : 0)) / B;
    }
  }
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const dz = dz2[b * C + c];
      g.b2[c] += dz;
      for (let h = 0; h < H; h++) g.w2[c * H + h] += dz * a1[b * H + h];
    }
    for (let h = 0; h < H; h++) {
      if (z1[b * H + h] <= 0) continue;
      let da = 0;
      for (let c = 0; c < C; c++) da += dz2[b * C + c] * p.w2[c * H + h];
      g.b1[h] += da;
      for (let i = 0; i < inF; i++) g.w1[h * inF + i] += da * x[b * inF + i];
    }
  }
  return { loss: loss / B, correct, grads: g };
}
