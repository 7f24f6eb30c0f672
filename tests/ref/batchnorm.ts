/**
 * Float64 references for batch normalisation over [rows, C], written as
 * plain loops in the textbook form (the backward pass goes through dvar and
 * dmean explicitly, unlike the kernel's compact formula).
 * @module
 */

/** Training-forward outputs. */
export interface BatchNormTrainRef {
  /** Normalised output. */
  y: Float64Array;
  /** Batch mean per channel. */
  mean: Float64Array;
  /** Biased batch variance per channel. */
  varBiased: Float64Array;
  /** 1/√(biased variance + eps). */
  invStd: Float64Array;
  /** Updated running mean. */
  runningMean: Float64Array;
  /** Updated running variance (with the unbiased batch variance). */
  runningVar: Float64Array;
}

/** PyTorch training-mode BatchNorm over [rows, C]. */
export function batchNormTrainRef(
  x: ArrayLike<number>,
  rows: number,
  C: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
  momentum: number,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
): BatchNormTrainRef {
  const mean = new Float64Array(C);
  const varBiased = new Float64Array(C);
  const invStd = new Float64Array(C);
  const rm = new Float64Array(C);
  const rv = new Float64Array(C);
  const y = new Float64Array(rows * C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += x[r * C + c];
    mean[c] = s / rows;
    let q = 0;
    for (let r = 0; r < rows; r++) q += (x[r * C + c] - mean[c]) ** 2;
    varBiased[c] = q / rows;
    invStd[c] = 1 / Math.sqrt(varBiased[c] + eps);
    rm[c] = (1 - momentum) * runningMean[c] + momentum * mean[c];
    rv[c] = (1 - momentum) * runningVar[c] + momentum * (q / (rows - 1));
    for (let r = 0; r < rows; r++) {
      y[r * C + c] = gamma[c] * (x[r * C + c] - mean[c]) * invStd[c] + beta[c];
    }
  }
  return { y, mean, varBiased, invStd, runningMean: rm, runningVar: rv };
}

/** Evaluation-mode BatchNorm with running statistics. */
export function batchNormEvalRef(
  x: ArrayLike<number>,
  rows: number,
  C: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      y[r * C + c] = gamma[c] * (x[r * C + c] - runningMean[c]) / Math.sqrt(runningVar[c] + eps) +
        beta[c];
    }
  }
  return y;
}

/** Gradients of training-mode BatchNorm. */
export interface BatchNormBackwardRef {
  /** d/dx. */
  dx: Float64Array;
  /** d/dγ. */
  dgamma: Float64Array;
  /** d/dβ. */
  dbeta: Float64Array;
}

/** Backward of {@link batchNormTrainRef} by the chain rule through var and mean. */
export function batchNormBackwardRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  C: number,
  gamma: ArrayLike<number>,
  eps: number,
): BatchNormBackwardRef {
  const dx = new Float64Array(rows * C);
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let mu = 0;
    for (let r = 0; r < rows; r++) mu += x[r * C + c];
    mu /= rows;
    let v = 0;
    for (let r = 0; r < rows; r++) v += (x[r * C + c] - mu) ** 2;
    v /= rows;
    const sd = Math.sqrt(v + eps);
    let dvar = 0;
    let dmu = 0;
    let sumDiff = 0;
    for (let r = 0; r < rows; r++) {
      const i = r * C + c;
      const xhat = (x[i] - mu) / sd;
      dgamma[c] += dy[i] * xhat;
      dbeta[c] += dy[i];
      const dxhat = dy[i] * gamma[c];
      dvar += dxhat * (x[i] - mu) * -0.5 * (v + eps) ** -1.5;
      dmu += -dxhat / sd;
      sumDiff += x[i] - mu;
    }
    dmu += dvar * (-2 * sumDiff) / rows;
    for (let r = 0; r < rows; r++) {
      const i = r * C + c;
      dx[i] = dy[i] * gamma[c] / sd + dvar * 2 * (x[i] - mu) / rows + dmu / rows;
    }
  }
  return { dx, dgamma, dbeta };
}
