/**
 * The Kronecker-factored optimizers of a run spec: AdaBK (SGDM_BK,
 * AdamW_BK), the whitening baselines (WSGDM, WAdam), Shampoo and K-FAC. Each
 * is declared once: schema (defaults from lib/optim/adabk.ts, docs from
 * `.describe()`), compile step to its factory, and its builder function.
 *
 * Named exports are the builders only (re-exported by dsl/builder.ts with
 * `export *`); the declarations are the default export, which `export *`
 * leaves out.
 * @module
 */
import type { z } from "zod";
import * as kron from "../../lib/optim/adabk.ts";
import { ADAM_DEFAULTS } from "../../lib/optim/first_order.ts";
import { defined, nonNegNum } from "./primitives.ts";
import {
  adamEpsField,
  adamOptions,
  betasField,
  kroneckerFields,
  kroneckerOptions,
  lrField,
  momentumField,
  optimizerKind,
  optimizerSchema,
  weightDecayL2,
} from "./optimizer_kind.ts";

const SGDM = kron.KRONECKER_SGDM_DEFAULTS;
const ADAM = kron.KRONECKER_ADAM_DEFAULTS;

/** Validated options of an SGD-momentum Kronecker kind, as its factory takes them. */
function sgdmOptions(
  o: Parameters<typeof kroneckerOptions>[0] & {
    lr: number;
    momentum: number;
    weight_decay: number;
  },
) {
  return { lr: o.lr, momentum: o.momentum, weightDecay: o.weight_decay, ...kroneckerOptions(o) };
}

/** Validated options of an Adam Kronecker kind, as its factory takes them. */
function adamKroneckerOptions(
  o: Parameters<typeof kroneckerOptions>[0] & Parameters<typeof adamOptions>[0],
) {
  return { ...adamOptions(o), ...kroneckerOptions(o) };
}

const sgdmBkKind = optimizerKind(
  "sgdm_bk",
  optimizerSchema(
    "sgdm_bk",
    {
      lr: lrField(SGDM.lr),
      momentum: momentumField(SGDM.momentum, "Momentum μ (buf ← μ·buf + d, no dampening)."),
      weight_decay: weightDecayL2(SGDM.weightDecay),
      ...kroneckerFields(kron.ADABK_ENGINE),
    },
    "AdaBK with SGD momentum, as the authors' code: G̃ = norm-recovered L̂·G·R̂; d = G̃ + wd·θ; buf ← μ·buf + d; θ ← θ − lr·buf. The paper's buf ← β·buf + (1 − β)·G̃ form differs by (1 − β): code lr 0.05 = paper lr 0.5.",
  ),
  (o) => kron.sgdmBK(sgdmOptions(o)),
);

const adamwBkKind = optimizerKind(
  "adamw_bk",
  optimizerSchema(
    "adamw_bk",
    {
      lr: lrField(ADAM.lr),
      betas: betasField(ADAM_DEFAULTS.betas),
      eps: adamEpsField(ADAM_DEFAULTS.eps),
      weight_decay: nonNegNum.default(ADAM.weightDecay).describe(
        "Decay applied as θ ← θ − (lr/(1 − β1ᵗ))·(m/denom + wd·θ) (the authors' code).",
      ),
      ...kroneckerFields(kron.ADABK_ENGINE),
    },
    "AdaBK with AdamW, as the authors' code: Adam moments of the preconditioned gradient G̃; the decay is scaled by lr/(1 − β1ᵗ).",
  ),
  (o) => kron.adamwBK(adamKroneckerOptions(o)),
);

const wsgdmKind = optimizerKind(
  "wsgdm",
  optimizerSchema(
    "wsgdm",
    {
      lr: lrField(SGDM.lr),
      momentum: momentumField(SGDM.momentum, "Momentum μ."),
      weight_decay: weightDecayL2(SGDM.weightDecay),
      ...kroneckerFields(kron.WHITENING_ENGINE),
    },
    "Whitened SGDM (Yong & Zhang, ECCV 2022): input side only, G̃ = norm-recovered G·(R + ε·λ_max·I)^(−1/2).",
  ),
  (o) => kron.wsgdm(sgdmOptions(o)),
);

const wadamKind = optimizerKind(
  "wadam",
  optimizerSchema("wadam", {
    lr: lrField(ADAM.lr),
    betas: betasField(ADAM_DEFAULTS.betas),
    eps: adamEpsField(ADAM_DEFAULTS.eps),
    weight_decay: nonNegNum.default(ADAM.weightDecay).describe("Decay as in adamw_bk."),
    ...kroneckerFields(kron.WHITENING_ENGINE),
  }, "Whitened Adam: WSGDM's input-side preconditioner in front of AdamW_BK's update."),
  (o) => kron.wadam(adamKroneckerOptions(o)),
);

const shampooKind = optimizerKind(
  "shampoo",
  optimizerSchema(
    "shampoo",
    {
      lr: lrField(SGDM.lr),
      momentum: momentumField(SGDM.momentum, "Momentum μ of the SGD step behind it."),
      weight_decay: weightDecayL2(SGDM.weightDecay),
      ...kroneckerFields(kron.SHAMPOO_ENGINE),
    },
    "Shampoo (Gupta et al., 2018): L = ΣG·Gᵀ, R = ΣGᵀ·G (summed, stat_decay unused), update L^(−1/4)·G·R^(−1/4), then SGD momentum.",
  ),
  (o) => kron.shampoo(sgdmOptions(o)),
);

const kfacKind = optimizerKind(
  "kfac",
  optimizerSchema(
    "kfac",
    {
      lr: lrField(SGDM.lr),
      momentum: momentumField(SGDM.momentum, "Momentum μ of the SGD step behind it."),
      weight_decay: weightDecayL2(SGDM.weightDecay),
      ...kroneckerFields(kron.KFAC_ENGINE),
    },
    "K-FAC (Martens & Grosse, 2015): AdaBK's factors, update (L + γI)^(−1)·G·(R + γI)^(−1), norm-recovered, then SGD momentum.",
  ),
  (o) => kron.kfac(sgdmOptions(o)),
);

/** These optimizers, in the order the reference lists them. */
export default {
  sgdm_bk: sgdmBkKind,
  adamw_bk: adamwBkKind,
  wsgdm: wsgdmKind,
  wadam: wadamKind,
  shampoo: shampooKind,
  kfac: kfacKind,
};

// The builders' types, derived from the schemas (fields: docs/yaml-reference.md).
/** @ignore */
type SgdmBkInput = z.input<typeof sgdmBkKind.schema>;
/** @ignore */
type AdamWBkInput = z.input<typeof adamwBkKind.schema>;
/** @ignore */
type WsgdmInput = z.input<typeof wsgdmKind.schema>;
/** @ignore */
type WadamInput = z.input<typeof wadamKind.schema>;
/** @ignore */
type ShampooInput = z.input<typeof shampooKind.schema>;
/** @ignore */
type KfacInput = z.input<typeof kfacKind.schema>;

/** SGDM_BK: AdaBK with SGD momentum (the authors' code semantics). */
export function sgdmBK(opts: Omit<SgdmBkInput, "name"> = {}): SgdmBkInput {
  return { name: "sgdm_bk", ...defined(opts) };
}

/** AdamW_BK: AdaBK with AdamW (the authors' code semantics). */
export function adamwBK(opts: Omit<AdamWBkInput, "name"> = {}): AdamWBkInput {
  return { name: "adamw_bk", ...defined(opts) };
}

/** WSGDM: input-side whitened SGDM. */
export function wsgdm(opts: Omit<WsgdmInput, "name"> = {}): WsgdmInput {
  return { name: "wsgdm", ...defined(opts) };
}

/** WAdam: input-side whitened Adam. */
export function wadam(opts: Omit<WadamInput, "name"> = {}): WadamInput {
  return { name: "wadam", ...defined(opts) };
}

/** Shampoo with SGD momentum. */
export function shampoo(opts: Omit<ShampooInput, "name"> = {}): ShampooInput {
  return { name: "shampoo", ...defined(opts) };
}

/** K-FAC with SGD momentum. */
export function kfac(opts: Omit<KfacInput, "name"> = {}): KfacInput {
  return { name: "kfac", ...defined(opts) };
}
