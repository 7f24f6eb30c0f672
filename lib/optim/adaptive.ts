/**
 * The paper's other first-order baselines as fused update kernels:
 * Adagrad and RAdam with PyTorch's semantics, AdaBelief as in Zhuang et al.
 * (2020) with decoupled weight decay (the adabelief-pytorch default).
 * Per-step scalars (bias corrections, RAdam's rectification) are computed in
 * float64 on the CPU and passed as uniforms, as PyTorch computes them in
 * Python floats.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import { fill } from "../kernels/elementwise/elementwise.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { EVERY_STEP } from "../gpu/stage.ts";
import { f32Lit } from "../kernels/wgsl.ts";
import { buildElementwiseUpdate, type RuleFields } from "./multi_tensor.ts";
import type { OptimizerFactory } from "./types.ts";

/** Adagrad options (PyTorch defaults: lr 1e-2, lr_decay 0, eps 1e-10, wd 0). */
export interface AdagradOptions {
  /** Learning rate. */
  lr?: number;
  /** The step size is lr / (1 + (t − 1)·lrDecay). */
  lrDecay?: number;
  /** ε added to the denominator. */
  eps?: number;
  /** L2 penalty added to the gradient. */
  weightDecay?: number;
  /** Starting value of the squared-gradient sum. */
  initialAccumulator?: number;
}

/** RAdam options (PyTorch defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 0, coupled). */
export interface RadamOptions {
  /** Learning rate. */
  lr?: number;
  /** Decay rates (β1, β2) of the moment estimates. */
  betas?: [number, number];
  /** ε added to the denominator. */
  eps?: number;
  /** Weight decay (an L2 term, or decoupled with `decoupled`). */
  weightDecay?: number;
  /** Decoupled (AdamW-style) weight decay instead of an L2 term. */
  decoupled?: boolean;
}

/** AdaBelief options (defaults lr 1e-3, betas (0.9, 0.999), eps 1e-16, wd 0, decoupled). */
export interface AdaBeliefOptions {
  /** Learning rate. */
  lr?: number;
  /** Decay rates (β1, β2) of the moment and belief estimates. */
  betas?: [number, number];
  /** ε added inside and outside the square root. */
  eps?: number;
  /** Decoupled weight decay. */
  weightDecay?: number;
}

/**
 * Shared factory plumbing: one uniform block, packed per-slot state and one
 * multi-tensor update dispatch (multi_tensor.ts); `body` updates one element.
 */
function elementwiseOptimizer(
  name: string,
  lr: number,
  fields: RuleFields,
  stateNames: readonly string[],
  body: string,
  scalars: (k: number, lr: number) => Record<string, number>,
  init?: (gpu: Gpu, t: Tensor) => Command[],
): OptimizerFactory {
  return {
    name,
    lr,
    build(gpu, arena, slots) {
      const update = buildElementwiseUpdate(gpu, arena, slots, {
        name,
        fields,
        state: stateNames,
        body,
        init: init && ((g, _n, t) => init(g, t)),
      });
      return {
        stages: [{ name: "update", cadence: EVERY_STEP, commands: update.commands }],
        init: [{ name: `${name}.init`, cadence: EVERY_STEP, commands: update.init }],
        state: update.state,
        prepareStep: (k, lrNow) => update.uniforms.set(scalars(k, lrNow)),
        describe: () => slots.map((s) => ({ name: s.name, treatment: name })),
      };
    },
  };
}

/** Adagrad (PyTorch `torch.optim.Adagrad`). */
export function adagrad(options: AdagradOptions = {}): OptimizerFactory {
  const o = {
    lr: options.lr ?? ADAGRAD_DEFAULTS.lr,
    lrDecay: options.lrDecay ?? ADAGRAD_DEFAULTS.lrDecay,
    eps: options.eps ?? ADAGRAD_DEFAULTS.eps,
    weightDecay: options.weightDecay ?? ADAGRAD_DEFAULTS.weightDecay,
    initialAccumulator: options.initialAccumulator ?? ADAGRAD_DEFAULTS.initialAccumulator,
  };
  const init0 = o.initialAccumulator;
  return elementwiseOptimizer(
    "adagrad",
    o.lr,
    [["clr", "f32"]],
    ["sum"],
    `  let w = p[pi];
  let grad = g[gi]${o.weightDecay ? ` + ${f32Lit(o.weightDecay)} * w` : ""};
  let acc = sum[si] + grad * grad;
  sum[si] = acc;
  p[pi] = w - u.clr * grad / (sqrt(acc) + ${f32Lit(o.eps)});`,
    (k, lr) => ({ clr: lr / (1 + k * o.lrDecay) }),
    init0 === 0 ? undefined : (gpu, t) => fill(gpu, { value: init0, out: t }),
  );
}

/** RAdam (PyTorch `torch.optim.RAdam`). */
export function radam(options: RadamOptions = {}): OptimizerFactory {
  const o = {
    lr: options.lr ?? RADAM_DEFAULTS.lr,
    betas: options.betas ?? [...RADAM_DEFAULTS.betas],
    eps: options.eps ?? RADAM_DEFAULTS.eps,
    weightDecay: options.weightDecay ?? RADAM_DEFAULTS.weightDecay,
    decoupled: options.decoupled ?? RADAM_DEFAULTS.decoupled,
  };
  const [b1, b2] = o.betas;
  const rhoInf = 2 / (1 - b2) - 1;
  const wd = o.weightDecay;
  return elementwiseOptimizer(
    "radam",
    o.lr,
    [["lr", "f32"], ["step_size", "f32"], ["rect", "f32"], ["bc2_sqrt", "f32"]],
    ["exp_avg", "exp_avg_sq"],
    `  var w = p[pi];
  var grad = g[gi];
${
      wd
        ? (o.decoupled
          ? `  w = w * (1.0 - u.lr * ${f32Lit(wd)});`
          : `  grad = grad + ${f32Lit(wd)} * w;`)
        : ""
    }
  let m = ${f32Lit(b1)} * exp_avg[si] + ${f32Lit(1 - b1)} * grad;
  let v = ${f32Lit(b2)} * exp_avg_sq[si] + ${f32Lit(1 - b2)} * grad * grad;
  exp_avg[si] = m;
  exp_avg_sq[si] = v;
  if (u.rect > 0.0) {
    p[pi] = w - u.step_size * m * u.rect * u.bc2_sqrt / (sqrt(v) + ${f32Lit(o.eps)});
  } else {
    p[pi] = w - u.step_size * m;
  }`,
    (k, lr) => {
      const t = k + 1;
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      const rhoT = rhoInf - (2 * t * b2 ** t) / bc2;
      const rect = rhoT > 5
        ? Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT))
        : 0;
      return { lr, step_size: lr / bc1, rect, bc2_sqrt: Math.sqrt(bc2) };
    },
  );
}

/**
 * AdaBelief: s ← β₂·s + (1−β₂)·(g − m)² + ε, p ← p − (lr/(1−β₁ᵗ))·m/(√(s/(1−β₂ᵗ)) + ε),
 * decoupled decay p ← p·(1 − lr·wd) first; no rectification.
 */
export function adabelief(options: AdaBeliefOptions = {}): OptimizerFactory {
  const o = {
    lr: options.lr ?? ADABELIEF_DEFAULTS.lr,
    betas: options.betas ?? [...ADABELIEF_DEFAULTS.betas],
    eps: options.eps ?? ADABELIEF_DEFAULTS.eps,
    weightDecay: options.weightDecay ?? ADABELIEF_DEFAULTS.weightDecay,
  };
  const [b1, b2] = o.betas;
  return elementwiseOptimizer(
    "adabelief",
    o.lr,
    [["lr", "f32"], ["step_size", "f32"], ["bc2_sqrt", "f32"]],
    ["exp_avg", "exp_avg_var"],
    `  var w = p[pi];
  let grad = g[gi];
${o.weightDecay ? `  w = w * (1.0 - u.lr * ${f32Lit(o.weightDecay)});` : ""}
  let m = ${f32Lit(b1)} * exp_avg[si] + ${f32Lit(1 - b1)} * grad;
  let diff = grad - m;
  let s = ${f32Lit(b2)} * exp_avg_var[si] + ${f32Lit(1 - b2)} * diff * diff + ${f32Lit(o.eps)};
  exp_avg[si] = m;
  exp_avg_var[si] = s;
  p[pi] = w - u.step_size * m / (sqrt(s) / u.bc2_sqrt + ${f32Lit(o.eps)});`,
    (k, lr) => {
      const t = k + 1;
      return { lr, step_size: lr / (1 - b1 ** t), bc2_sqrt: Math.sqrt(1 - b2 ** t) };
    },
  );
}

// Defaults, exported so that a run spec's schema (dsl/schema/) takes the same values.

/** Adagrad's defaults (PyTorch `torch.optim.Adagrad`). */
export const ADAGRAD_DEFAULTS = {
  lr: 1e-2,
  lrDecay: 0,
  eps: 1e-10,
  weightDecay: 0,
  initialAccumulator: 0,
} as const;

/** RAdam's defaults (PyTorch `torch.optim.RAdam`: coupled L2 decay). */
export const RADAM_DEFAULTS = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  decoupled: false,
} as const;

/** AdaBelief's defaults (adabelief-pytorch: decoupled decay). */
export const ADABELIEF_DEFAULTS = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-16,
  weightDecay: 0,
} as const;
