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

/** One Adagrad step (PyTorch): clr = lr/(1 + (t−1)·lr_decay); sum += g²; p −= clr·g/(√sum + eps). */
export function adagradStep(
  s: RefState,
  g: Float64Array,
  o: { lr: number; lrDecay: number; eps: number; weightDecay: number },
): void {
  s.v ??= new Float64Array(s.p.length);
  const clr = o.lr / (1 + s.t * o.lrDecay);
  for (let i = 0; i < s.p.length; i++) {
    const grad = g[i] + o.weightDecay * s.p[i];
    s.v[i] += grad * grad;
    s.p[i] -= (clr * grad) / (Math.sqrt(s.v[i]) + o.eps);
  }
  s.t++;
}

/** One RAdam step (PyTorch, coupled L2 decay). */
export function radamStep(
  s: RefState,
  g: Float64Array,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number },
): void {
  const n = s.p.length;
  s.m ??= new Float64Array(n);
  s.v ??= new Float64Array(n);
  const t = s.t + 1;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  const rhoInf = 2 / (1 - o.beta2) - 1;
  const rhoT = rhoInf - (2 * t * o.beta2 ** t) / bc2;
  for (let i = 0; i < n; i++) {
    const grad = g[i] + o.weightDecay * s.p[i];
    s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * grad;
    s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * grad * grad;
    const mHat = s.m[i] / bc1;
    if (rhoT > 5) {
      const rect = Math.sqrt(
        ((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT),
      );
      const adaptive = Math.sqrt(bc2) / (Math.sqrt(s.v[i]) + o.eps);
      s.p[i] -= o.lr * mHat * rect * adaptive;
    } else s.p[i] -= o.lr * mHat;
  }
  s.t = t;
}

/** One AdaBelief step (decoupled decay, no rectification). */
export function adabeliefStep(
  s: RefState,
  g: Float64Array,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number },
): void {
  const n = s.p.length;
  s.m ??= new Float64Array(n);
  s.v ??= new Float64Array(n);
  const t = s.t + 1;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  for (let i = 0; i < n; i++) {
    s.p[i] *= 1 - o.lr * o.weightDecay;
    s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * g[i];
    const diff = g[i] - s.m[i];
    s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * diff * diff + o.eps;
    s.p[i] -= (o.lr / bc1) * s.m[i] / (Math.sqrt(s.v[i] / bc2) + o.eps);
  }
  s.t = t;
}

/** One AdamW_BK step of the reference code: p −= (lr/bc1)·(m/denom + wd·p). */
export function adamwBkStep(
  s: RefState,
  g: Float64Array,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number },
): void {
  const n = s.p.length;
  s.m ??= new Float64Array(n);
  s.v ??= new Float64Array(n);
  const t = s.t + 1;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  for (let i = 0; i < n; i++) {
    s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * g[i];
    s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * g[i] * g[i];
    const denom = Math.sqrt(s.v[i]) / Math.sqrt(bc2) + o.eps;
    s.p[i] -= (o.lr / bc1) * (s.m[i] / denom + o.weightDecay * s.p[i]);
  }
  s.t = t;
}

/**
 * PyTorch `clip_grad_norm_` in float64: every gradient scaled by
 * min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖ the L2 norm over all of them.
 */
export function clipGradNormRef(grads: readonly Float64Array[], maxNorm: number): Float64Array[] {
  let sumsq = 0;
  for (const g of grads) for (const v of g) sumsq += v * v;
  const coef = Math.min(1, maxNorm / (Math.sqrt(sumsq) + 1e-6));
  return grads.map((g) => g.map((v) => v * coef));
}
