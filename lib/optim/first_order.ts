/**
 * First-order optimizers as fused WGSL update kernels, with PyTorch's exact
 * semantics: SGD (momentum, dampening, Nesterov, coupled L2 decay), Adam
 * (coupled L2 decay) and AdamW (decoupled decay, p ← p·(1 − lr·wd) first).
 *
 * Hyper-parameters that never change are baked into the WGSL; the learning
 * rate and the bias corrections (computed in float64 on the CPU, as PyTorch
 * does) come from a uniform block written once per step. Every parameter is
 * updated by one multi-tensor dispatch per group of buffers (multi_tensor.ts).
 * @module
 */

import { f32Lit } from "../kernels/wgsl.ts";
import { EVERY_STEP } from "../gpu/stage.ts";
import { buildElementwiseUpdate } from "./multi_tensor.ts";
import type { OptimizerFactory, OptimizerInstance } from "./types.ts";

/** SGD hyper-parameters (PyTorch `torch.optim.SGD`). */
export interface SgdOptions {
  /** Learning rate (the schedule, or `Optimizer.record`'s `lr`, overrides it per step). */
  lr: number;
  /** Momentum μ (default 0: plain SGD). */
  momentum?: number;
  /** Dampening of the momentum buffer's gradient term (default 0). */
  dampening?: number;
  /** Nesterov momentum (default false). */
  nesterov?: boolean;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
}

/** Adam/AdamW hyper-parameters (PyTorch `torch.optim.Adam` / `AdamW`). */
export interface AdamOptions {
  /** Learning rate. */
  lr: number;
  /** Decay rates (β1, β2) of the moment estimates (default (0.9, 0.999)). */
  betas?: [number, number];
  /** ε added to the denominator (default 1e-8). */
  eps?: number;
  /** Weight decay: an L2 term for Adam, decoupled for AdamW (default 0 / 0.01). */
  weightDecay?: number;
}

/** WGSL updating element (pi, gi, si) with SGD (state: `momentum_buffer` when μ ≠ 0). */
export function sgdBody(o: Required<SgdOptions>): string {
  const mom = o.momentum !== 0;
  return `    var d = g[gi]${o.weightDecay !== 0 ? ` + ${f32Lit(o.weightDecay)} * p[pi]` : ""};
${
    mom
      ? `    var b = d;
    if (u.first != 1u) { b = ${f32Lit(o.momentum)} * momentum_buffer[si] + ${
        f32Lit(1 - o.dampening)
      } * d; }
    momentum_buffer[si] = b;
    d = ${o.nesterov ? `d + ${f32Lit(o.momentum)} * b` : "b"};`
      : ""
  }
    p[pi] = p[pi] - u.lr * d;`;
}

/**
 * How weight decay enters an Adam-family update:
 * `l2` (Adam: g += wd·p), `decoupled` (AdamW: p ← p·(1 − lr·wd) first), or
 * `bk` (the AdamW_BK reference code: p ← p − (lr/(1−β₁ᵗ))·(m/denom + wd·p)).
 */
export type AdamDecay = "l2" | "decoupled" | "bk";

/** WGSL updating element (pi, gi, si) with an Adam-family rule (state: `exp_avg`, `exp_avg_sq`). */
export function adamBody(o: Required<AdamOptions>, decay: AdamDecay): string {
  const [b1, b2] = o.betas;
  const wd = o.weightDecay;
  return `    var w = p[pi];
    var grad = g[gi];
${
    wd === 0 || decay === "bk"
      ? ""
      : decay === "decoupled"
      ? `    w = w * (1.0 - u.lr * ${f32Lit(wd)});`
      : `    grad = grad + ${f32Lit(wd)} * w;`
  }
    let mi = ${f32Lit(b1)} * exp_avg[si] + ${f32Lit(1 - b1)} * grad;
    let vi = ${f32Lit(b2)} * exp_avg_sq[si] + ${f32Lit(1 - b2)} * grad * grad;
    exp_avg[si] = mi;
    exp_avg_sq[si] = vi;
    let denom = sqrt(vi) / u.bc2_sqrt + ${f32Lit(o.eps)};
    p[pi] = w - u.step_size * (mi / denom${
    decay === "bk" && wd !== 0 ? ` + ${f32Lit(wd)} * w` : ""
  });`;
}

/** SGD with optional momentum/Nesterov (PyTorch semantics). */
export function sgd(options: SgdOptions): OptimizerFactory {
  const o: Required<SgdOptions> = {
    lr: options.lr,
    momentum: options.momentum ?? SGD_DEFAULTS.momentum,
    dampening: options.dampening ?? SGD_DEFAULTS.dampening,
    nesterov: options.nesterov ?? SGD_DEFAULTS.nesterov,
    weightDecay: options.weightDecay ?? SGD_DEFAULTS.weightDecay,
  };
  if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
    throw new RangeError(
      "Nesterov momentum requires momentum > 0 and dampening = 0 (as in PyTorch)",
    );
  }
  return {
    name: o.momentum ? "sgdm" : "sgd",
    lr: o.lr,
    build(gpu, arena, slots): OptimizerInstance {
      const update = buildElementwiseUpdate(gpu, arena, slots, {
        name: "sgd",
        fields: [["lr", "f32"], ["first", "u32"]],
        state: o.momentum ? ["momentum_buffer"] : [],
        body: sgdBody(o),
      });
      return {
        stages: [{ name: "update", cadence: EVERY_STEP, commands: update.commands }],
        init: [],
        state: update.state,
        prepareStep: (k, lr) => update.uniforms.set({ lr, first: k === 0 ? 1 : 0 }),
        describe: () =>
          slots.map((s) => ({ name: s.name, treatment: o.momentum ? "sgdm" : "sgd" })),
      };
    },
  };
}

/** Adam-family factory for a decay mode (exported for the BK variants). */
export function adamFamily(options: AdamOptions, decay: AdamDecay, name: string): OptimizerFactory {
  // Explicit fallbacks: an option passed as undefined must not erase a default.
  const o: Required<AdamOptions> = {
    lr: options.lr,
    betas: options.betas ?? [...ADAM_DEFAULTS.betas],
    eps: options.eps ?? ADAM_DEFAULTS.eps,
    weightDecay: options.weightDecay ??
      (decay === "decoupled" ? ADAMW_DEFAULTS : ADAM_DEFAULTS).weightDecay,
  };
  return {
    name,
    lr: o.lr,
    build(gpu, arena, slots): OptimizerInstance {
      const update = buildElementwiseUpdate(gpu, arena, slots, {
        name,
        fields: [["lr", "f32"], ["step_size", "f32"], ["bc2_sqrt", "f32"], ["first", "u32"]],
        state: ["exp_avg", "exp_avg_sq"],
        body: adamBody(o, decay),
      });
      const u = update.uniforms;
      return {
        stages: [{ name: "update", cadence: EVERY_STEP, commands: update.commands }],
        init: [],
        state: update.state,
        prepareStep(k, lr) {
          const t = k + 1;
          const bc1 = 1 - Math.pow(o.betas[0], t);
          const bc2 = 1 - Math.pow(o.betas[1], t);
          u.set({ lr, step_size: lr / bc1, bc2_sqrt: Math.sqrt(bc2), first: k === 0 ? 1 : 0 });
        },
        describe: () => slots.map((s) => ({ name: s.name, treatment: name })),
      };
    },
  };
}

/** Adam with coupled L2 weight decay (PyTorch `Adam`). */
export function adam(options: AdamOptions): OptimizerFactory {
  return adamFamily(options, "l2", "adam");
}

/** AdamW with decoupled weight decay (PyTorch `AdamW`, default wd 0.01). */
export function adamw(options: AdamOptions): OptimizerFactory {
  return adamFamily(options, "decoupled", "adamw");
}

// Defaults, exported so that a run spec's schema (dsl/schema/) takes the same values.

/** SGD's defaults (PyTorch `torch.optim.SGD`): without a momentum it is plain SGD. */
export const SGD_DEFAULTS = { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 } as const;

/**
 * The momentum of a run spec's `sgdm` when none is given (PyTorch has no
 * default; 0.9 is the usual choice).
 */
export const SGDM_MOMENTUM = 0.9;

/**
 * Adam's defaults (PyTorch `torch.optim.Adam`); `lr` is what a run spec's
 * `adam` takes when none is given (the factory needs one).
 */
export const ADAM_DEFAULTS = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 } as const;

/** AdamW's defaults (PyTorch `torch.optim.AdamW`): Adam's, with decoupled decay 0.01. */
export const ADAMW_DEFAULTS = { ...ADAM_DEFAULTS, weightDecay: 0.01 } as const;
