/**
 * Float64 references of the first-order optimizers, transcribed from
 * PyTorch's documented update rules (torch.optim.SGD, Adam, AdamW).
 * @module
 */

/** State of one parameter under the reference optimizers. */
export interface RefState {
  p: Float64Array;
  buf?: Float64Array;
  m?: Float64Array;
  v?: Float64Array;
  t: number;
}

/** One SGD step in place (momentum buffer created on the first step). */
export function sgdStep(
  s: RefState,
  g: Float64Array,
  o: { lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number },
): void {
  const n = s.p.length;
  for (let i = 0; i < n; i++) {
    let d = g[i] + o.weightDecay * s.p[i];
    if (o.momentum !== 0) {
      s.buf ??= new Float64Array(n);
      const b = s.t === 0 ? d : o.momentum * s.buf[i] + (1 - o.dampening) * d;
      s.buf[i] = b;
      d = o.nesterov ? d + o.momentum * b : b;
    }
    s.p[i] -= o.lr * d;
  }
  s.t++;
}

/** One Adam (decoupled = false) or AdamW (decoupled = true) step in place. */
export function adamStep(
  s: RefState,
  g: Float64Array,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number },
  decoupled: boolean,
): void {
  const n = s.p.length;
  s.m ??= new Float64Array(n);
  s.v ??= new Float64Array(n);
  const t = s.t + 1;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  for (let i = 0; i < n; i++) {
    let grad = g[i];
    if (decoupled) s.p[i] *= 1 - o.lr * o.weightDecay;
    else grad += o.weightDecay * s.p[i];
    s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * grad;
    s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * grad * grad;
    const denom = Math.sqrt(s.v[i]) / Math.sqrt(bc2) + o.eps;
    s.p[i] -= (o.lr / bc1) * (s.m[i] / denom);
  }
  s.t = t;
}
