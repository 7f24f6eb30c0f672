/**
 * First-order optimizers as fused WGSL update kernels, with PyTorch's exact
 * semantics: SGD (momentum, dampening, Nesterov, coupled L2 decay), Adam
 * (coupled L2 decay) and AdamW (decoupled decay, p ← p·(1 − lr·wd) first).
 *
 * Hyper-parameters that never change are baked into the WGSL; the learning
 * rate and the bias corrections (computed in float64 on the CPU, as PyTorch
 * does) come from a uniform block written once per step.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../gpu/commands.ts";
import type { BufferArena, Tensor } from "../gpu/tensor.ts";
import { Uniforms } from "../gpu/uniforms.ts";
import { f32Lit } from "../kernels/wgsl.ts";
import { EVERY_STEP } from "../gpu/stage.ts";
import type { OptimizerFactory, OptimizerInstance, OptimizerState, ParamSlot } from "./types.ts";

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

const WG = 256;

/** Header every update kernel shares: linear index over a 2-D grid. */
function indexHeader(size: number, gridX: number): string {
  return `  let i = gid.x + gid.y * ${gridX * WG}u;
  if (i >= ${size}u) { return; }`;
}

/** WGSL of the SGD update for a tensor of `size` elements. */
export function wgslSgd(size: number, gridX: number, o: Required<SgdOptions>): string {
  const mom = o.momentum !== 0;
  return `struct U { lr: f32, first: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
${mom ? "@group(0) @binding(3) var<storage, read_write> buf: array<f32>;" : ""}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
${indexHeader(size, gridX)}
  var d = g[i]${o.weightDecay !== 0 ? ` + ${f32Lit(o.weightDecay)} * p[i]` : ""};
${
    mom
      ? `  var b: f32;
  if (u.first == 1u) { b = d; } else { b = ${f32Lit(o.momentum)} * buf[i] + ${
        f32Lit(1 - o.dampening)
      } * d; }
  buf[i] = b;
  d = ${o.nesterov ? `d + ${f32Lit(o.momentum)} * b` : "b"};`
      : ""
  }
  p[i] = p[i] - u.lr * d;
}
`;
}

/**
 * How weight decay enters an Adam-family update:
 * `l2` (Adam: g += wd·p), `decoupled` (AdamW: p ← p·(1 − lr·wd) first), or
 * `bk` (the AdamW_BK reference code: p ← p − (lr/(1−β₁ᵗ))·(m/denom + wd·p)).
 */
export type AdamDecay = "l2" | "decoupled" | "bk";

/** WGSL of an Adam-family update with decay mode `decay`. */
export function wgslAdam(size: number, gridX: number, o: Required<AdamOptions>, decay: AdamDecay) {
  const [b1, b2] = o.betas;
  const wd = o.weightDecay;
  return `struct U { lr: f32, step_size: f32, bc2_sqrt: f32, first: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
${indexHeader(size, gridX)}
  var w = p[i];
  var grad = g[i];
${
    wd === 0 || decay === "bk"
      ? ""
      : decay === "decoupled"
      ? `  w = w * (1.0 - u.lr * ${f32Lit(wd)});`
      : `  grad = grad + ${f32Lit(wd)} * w;`
  }
  let mi = ${f32Lit(b1)} * m[i] + ${f32Lit(1 - b1)} * grad;
  let vi = ${f32Lit(b2)} * v[i] + ${f32Lit(1 - b2)} * grad * grad;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / u.bc2_sqrt + ${f32Lit(o.eps)};
  p[i] = w - u.step_size * (mi / denom${decay === "bk" && wd !== 0 ? ` + ${f32Lit(wd)} * w` : ""});
}
`;
}

function updateCommand(
  gpu: Gpu,
  label: string,
  code: string,
  bindings: Tensor[],
  u: Uniforms<string>,
  size: number,
): Command {
  return dispatch(gpu, label, code, [u.binding, ...bindings], grid2d(Math.ceil(size / WG)));
}

function stateTensor(
  arena: BufferArena,
  slot: ParamSlot,
  what: string,
  state: OptimizerState[],
): Tensor {
  const t = arena.tensor(`${slot.name}.${what}`, slot.value.shape);
  state.push({ name: `${slot.name}.${what}`, tensor: t });
  return t;
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
      const u = new Uniforms(gpu, "sgd", [["lr", "f32"], ["first", "u32"]] as const);
      const state: OptimizerState[] = [];
      const commands = slots.map((s) => {
        const [gx] = grid2d(Math.ceil(s.value.size / WG));
        const bufs = [s.value, s.grad];
        if (o.momentum) bufs.push(stateTensor(arena, s, "momentum_buffer", state));
        return updateCommand(
          gpu,
          `sgd:${s.name}`,
          wgslSgd(s.value.size, gx, o),
          bufs,
          u,
          s.value.size,
        );
      });
      return {
        stages: [{ name: "update", cadence: EVERY_STEP, commands }],
        init: [],
        state,
        prepareStep: (k, lr) => u.set({ lr, first: k === 0 ? 1 : 0 }),
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
      const u = new Uniforms(
        gpu,
        name,
        [["lr", "f32"], ["step_size", "f32"], ["bc2_sqrt", "f32"], [
          "first",
          "u32",
        ]] as const,
      );
      const state: OptimizerState[] = [];
      const commands = slots.map((s) => {
        const [gx] = grid2d(Math.ceil(s.value.size / WG));
        const m = stateTensor(arena, s, "exp_avg", state);
        const v = stateTensor(arena, s, "exp_avg_sq", state);
        return updateCommand(
          gpu,
          `${name}:${s.name}`,
          wgslAdam(s.value.size, gx, o, decay),
          [
            s.value,
            s.grad,
            m,
            v,
          ],
          u,
          s.value.size,
        );
      });
      return {
        stages: [{ name: "update", cadence: EVERY_STEP, commands }],
        init: [],
        state,
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
