/**
 * The AdaBK family and its Kronecker relatives as optimizer factories:
 * a Kronecker engine (lib/optim/kronecker.ts) in front of a base update.
 *
 * Defaults follow the authors' published code (AdaBK/optimizer/AdaBK.py)
 * and the paper's experiments (Yong, Sun & Zhang, CVPR 2023, Section 5: α = 0.9,
 * T_s = 200, T_ir = 2000, ε = 1e-5). Note SGDM_BK's momentum:
 * buf ← μ·buf + d, without the paper's (1 − β) factor, so the code's lr 0.05
 * equals the paper-form lr 0.5.
 * @module
 */

import { adamFamily, type AdamOptions, sgd } from "./first_order.ts";
import { buildKronecker, type KroneckerOptions } from "./kronecker.ts";
import type { OptimizerFactory } from "./types.ts";
import type { RootMethod } from "./inverse_root.ts";

/** Options every Kronecker optimizer shares. */
export interface KroneckerCommon {
  /** α of the statistics EMA. */
  statDecay?: number;
  /** ε (relative) or γ (absolute, K-FAC) damping. */
  damping?: number;
  /** T_s: statistics every this many steps. */
  statEvery?: number;
  /** T_ir: roots every this many steps. */
  rootEvery?: number;
  /** "reference" (published code, default) or "converged". */
  rootMethod?: RootMethod;
  /** Spread root refreshes across layers. */
  stagger?: boolean;
}

function engine(defaults: KroneckerOptions, c: KroneckerCommon): KroneckerOptions {
  return {
    ...defaults,
    statDecay: c.statDecay ?? defaults.statDecay,
    damping: c.damping ?? defaults.damping,
    statEvery: c.statEvery ?? defaults.statEvery,
    rootEvery: c.rootEvery ?? defaults.rootEvery,
    stagger: c.stagger ?? defaults.stagger,
    root: { ...defaults.root, method: c.rootMethod ?? defaults.root.method },
  };
}

/**
 * AdaBK's engine defaults: EMA statistics and roots as in the paper's Alg. 2,
 * relative dampening ε·λ_max with λ_max by Eq. 18, K = 10 Newton–Schulz
 * steps of Eq. 17, norm recovery of Eq. 19.
 */
export const ADABK_ENGINE: KroneckerOptions = {
  statistics: "activations",
  sides: "both",
  exponent: 2,
  accumulate: "ema",
  statDecay: 0.9,
  dampingKind: "relative",
  damping: 1e-5,
  statEvery: 200,
  rootEvery: 2000,
  stagger: false,
  root: { method: "reference", powerIterations: 10, referenceSteps: 10, tolerance: 0.05 },
  normRecovery: true,
};

/**
 * WSGDM/WAdam's engine defaults (input side only; Yong & Zhang, ECCV 2022,
 * the AdaBK paper's baselines): α 0.95, ε 1e-3, T_s 50, T_ir 500.
 */
export const WHITENING_ENGINE: KroneckerOptions = {
  ...ADABK_ENGINE,
  sides: "input",
  statDecay: 0.95,
  damping: 1e-3,
  statEvery: 50,
  rootEvery: 500,
};

/** Shampoo: L = ΣGGᵀ, R = ΣGᵀG, update L^(−1/4)·G·R^(−1/4). */
export const SHAMPOO_ENGINE: KroneckerOptions = {
  ...ADABK_ENGINE,
  statistics: "gradients",
  exponent: 4,
  accumulate: "sum",
  damping: 1e-4,
  statEvery: 1,
  rootEvery: 100,
  normRecovery: false,
};

/** K-FAC: AdaBK's factors, update (L + γI)^(−1)·G·(R + γI)^(−1). */
export const KFAC_ENGINE: KroneckerOptions = {
  ...ADABK_ENGINE,
  exponent: 1,
  statDecay: 0.95,
  dampingKind: "absolute",
  damping: 1e-3,
  statEvery: 10,
  rootEvery: 100,
  normRecovery: true,
};

/** Puts a Kronecker engine in front of a base optimizer. */
export function withKronecker(
  name: string,
  base: OptimizerFactory,
  k: KroneckerOptions,
): OptimizerFactory {
  return {
    name,
    lr: base.lr,
    build(gpu, arena, slots) {
      const kron = buildKronecker(gpu, arena, slots, k);
      const inner = base.build(gpu, arena, slots);
      return {
        stages: [...kron.stages, ...inner.stages],
        init: [{
          name: `${name}.kronecker.init`,
          cadence: { every: 1, offset: 0 },
          commands: kron.init,
        }, ...inner.init],
        state: [...kron.state, ...inner.state],
        prepareStep: inner.prepareStep,
        describe: () =>
          inner.describe().map((d) => ({
            name: d.name,
            treatment: kron.treatment.has(d.name)
              ? `${kron.treatment.get(d.name)} + ${d.treatment}`
              : d.treatment,
          })),
        diagnostics: kron.diagnostics,
        rootBatches: kron.rootBatches,
      };
    },
  };
}

/**
 * Defaults of the SGD-momentum update behind SGDM_BK, WSGDM, Shampoo and
 * K-FAC (the authors' code); a run spec's defaults are these.
 */
export const KRONECKER_SGDM_DEFAULTS = { lr: 0.1, momentum: 0.9, weightDecay: 0 } as const;

/**
 * Defaults of the Adam update behind AdamW_BK and WAdam (betas and eps are
 * Adam's); a run spec's defaults are these.
 */
export const KRONECKER_ADAM_DEFAULTS = { lr: 1e-3, weightDecay: 0 } as const;

/** The SGD-momentum base of a Kronecker optimizer, defaults filled in. */
function sgdmBase(o: SgdmBkOptions): OptimizerFactory {
  const d = KRONECKER_SGDM_DEFAULTS;
  return sgd({
    lr: o.lr ?? d.lr,
    momentum: o.momentum ?? d.momentum,
    weightDecay: o.weightDecay ?? d.weightDecay,
  });
}

/** The Adam base of a Kronecker optimizer (AdamW_BK's decay rule), defaults filled in. */
function adamBase(o: AdamwBkOptions, name: string): OptimizerFactory {
  const d = KRONECKER_ADAM_DEFAULTS;
  return adamFamily(
    { lr: o.lr ?? d.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay ?? d.weightDecay },
    "bk",
    name,
  );
}

/** SGDM_BK options (defaults: {@link KRONECKER_SGDM_DEFAULTS}). */
export interface SgdmBkOptions extends KroneckerCommon {
  /** Learning rate (default 0.1). */
  lr?: number;
  /** Momentum μ (default 0.9). */
  momentum?: number;
  /** L2 penalty added to the preconditioned gradient (default 0). */
  weightDecay?: number;
}

/**
 * SGDM_BK exactly as the reference code: d = G̃ + wd·p; buf ← μ·buf + d;
 * p ← p − lr·buf (buffer from zero, no dampening).
 */
export function sgdmBK(o: SgdmBkOptions = {}): OptimizerFactory {
  const base = sgdmBase(o);
  return withKronecker("sgdm_bk", base, engine(ADABK_ENGINE, o));
}

/** AdamW_BK options (defaults: {@link KRONECKER_ADAM_DEFAULTS}, Adam's betas and eps). */
export interface AdamwBkOptions extends KroneckerCommon, Partial<AdamOptions> {}

/**
 * AdamW_BK exactly as the reference code: Adam moments of G̃, then
 * p ← p − (lr/(1−β₁ᵗ))·(m/denom + wd·p) (decay scaled by lr/(1−β₁ᵗ)).
 */
export function adamwBK(o: AdamwBkOptions = {}): OptimizerFactory {
  const base = adamBase(o, "adamw_bk");
  return withKronecker("adamw_bk", base, engine(ADABK_ENGINE, o));
}

/** WSGDM: whitened (input-side) SGDM. */
export function wsgdm(o: SgdmBkOptions = {}): OptimizerFactory {
  const base = sgdmBase(o);
  return withKronecker("wsgdm", base, engine(WHITENING_ENGINE, o));
}

/** WAdam: whitened (input-side) Adam with AdamW_BK's decay rule. */
export function wadam(o: AdamwBkOptions = {}): OptimizerFactory {
  const base = adamBase(o, "wadam");
  return withKronecker("wadam", base, engine(WHITENING_ENGINE, o));
}

/** Shampoo with SGD-momentum grafted behind it (no norm recovery by default). */
export function shampoo(o: SgdmBkOptions & { normRecovery?: boolean } = {}): OptimizerFactory {
  const base = sgdmBase(o);
  return withKronecker("shampoo", base, {
    ...engine(SHAMPOO_ENGINE, o),
    normRecovery: o.normRecovery ?? false,
  });
}

/** K-FAC with SGD momentum: (L + γI)^(−1)·G·(R + γI)^(−1), norm-recovered. */
export function kfac(o: SgdmBkOptions & { normRecovery?: boolean } = {}): OptimizerFactory {
  const base = sgdmBase(o);
  return withKronecker("kfac", base, {
    ...engine(KFAC_ENGINE, o),
    normRecovery: o.normRecovery ?? true,
  });
}
