/**
 * The first-order optimizers of a run spec: SGD, SGD with momentum, Adam,
 * AdamW, Adagrad, RAdam, AdaBelief. Each is declared once: schema (defaults
 * from lib/optim, docs from `.describe()`), compile step to its factory, and
 * its builder function.
 *
 * Named exports are the builders only (re-exported by dsl/builder.ts with
 * `export *`); the declarations are the default export, which `export *`
 * leaves out.
 * @module
 */
import { z } from "zod";
import * as adaptive from "../../lib/optim/adaptive.ts";
import * as firstOrder from "../../lib/optim/first_order.ts";
import { clean, defined, nonNegNum, posNum } from "./primitives.ts";

const SGD = firstOrder.SGD_DEFAULTS;
const ADAM = firstOrder.ADAM_DEFAULTS;
const ADAMW = firstOrder.ADAMW_DEFAULTS;
const ADAGRAD = adaptive.ADAGRAD_DEFAULTS;
const RADAM = adaptive.RADAM_DEFAULTS;
const ADABELIEF = adaptive.ADABELIEF_DEFAULTS;
import {
  adamEpsField,
  adamOptions,
  betasField,
  lrField,
  lrRequired,
  momentumField,
  optimizerKind,
  optimizerSchema,
  weightDecayL2,
} from "./optimizer_kind.ts";

const sgdKind = optimizerKind(
  "sgd",
  optimizerSchema("sgd", {
    lr: lrRequired,
    weight_decay: weightDecayL2(SGD.weightDecay),
  }, "θ ← θ − lr·(g + wd·θ) (PyTorch `torch.optim.SGD` without momentum)."),
  (o) => firstOrder.sgd({ lr: o.lr, weightDecay: o.weight_decay }),
);

const sgdmKind = optimizerKind(
  "sgdm",
  optimizerSchema(
    "sgdm",
    {
      lr: lrRequired,
      momentum: momentumField(firstOrder.SGDM_MOMENTUM, "Momentum factor μ."),
      nesterov: z.boolean().default(SGD.nesterov).describe(
        "Nesterov momentum: step along g + μ·b instead of b (needs dampening 0).",
      ),
      dampening: z.number().min(0).max(1).default(SGD.dampening).describe(
        "Dampening τ of the gradient in the buffer.",
      ),
      weight_decay: weightDecayL2(SGD.weightDecay),
    },
    "PyTorch `torch.optim.SGD` with momentum: g ← g + wd·θ; b ← g on the first step, then b ← μ·b + (1 − τ)·g; θ ← θ − lr·(nesterov ? g + μ·b : b).",
  )
    .superRefine((v, ctx) => {
      if (!clean(ctx)) return;
      if (v.nesterov && v.dampening !== 0) {
        ctx.addIssue({
          code: "custom",
          path: ["dampening"],
          message: "nesterov momentum requires dampening 0 (as in PyTorch)",
        });
      }
    }),
  (o) =>
    firstOrder.sgd({
      lr: o.lr,
      momentum: o.momentum,
      nesterov: o.nesterov,
      dampening: o.dampening,
      weightDecay: o.weight_decay,
    }),
);

const adamKind = optimizerKind(
  "adam",
  optimizerSchema(
    "adam",
    {
      lr: lrField(ADAM.lr),
      betas: betasField(ADAM.betas),
      eps: adamEpsField(ADAM.eps),
      weight_decay: weightDecayL2(ADAM.weightDecay),
    },
    "PyTorch `torch.optim.Adam`: g ← g + wd·θ; m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; θ ← θ − lr·m̂/(√v̂ + eps) with bias corrections m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ).",
  ),
  (o) => firstOrder.adam(adamOptions(o)),
);

const adamwKind = optimizerKind(
  "adamw",
  optimizerSchema("adamw", {
    lr: lrField(ADAMW.lr),
    betas: betasField(ADAMW.betas),
    eps: adamEpsField(ADAMW.eps),
    weight_decay: nonNegNum
      .default(ADAMW.weightDecay)
      .describe(
        "Decoupled decay: θ ← θ·(1 − lr·wd) before the Adam step (not added to the gradient).",
      ),
  }, "PyTorch `torch.optim.AdamW`: θ ← θ·(1 − lr·wd), then the Adam step on the raw gradient."),
  (o) => firstOrder.adamw(adamOptions(o)),
);

const adagradKind = optimizerKind(
  "adagrad",
  optimizerSchema("adagrad", {
    lr: lrField(ADAGRAD.lr),
    lr_decay: nonNegNum.default(ADAGRAD.lrDecay).describe("lr/(1 + (t − 1)·lr_decay)."),
    eps: posNum.default(ADAGRAD.eps).describe("Added to √Σg² in the denominator."),
    weight_decay: weightDecayL2(ADAGRAD.weightDecay),
  }, "PyTorch `torch.optim.Adagrad`: g ← g + wd·θ; s ← s + g²; θ ← θ − lr·g/(√s + eps)."),
  (o) =>
    adaptive.adagrad({ lr: o.lr, lrDecay: o.lr_decay, eps: o.eps, weightDecay: o.weight_decay }),
);

const radamKind = optimizerKind(
  "radam",
  optimizerSchema(
    "radam",
    {
      lr: lrField(RADAM.lr),
      betas: betasField(RADAM.betas),
      eps: adamEpsField(RADAM.eps),
      weight_decay: weightDecayL2(RADAM.weightDecay),
    },
    "PyTorch `torch.optim.RAdam`: Adam with the variance rectification of Liu et al. (2020); plain momentum while ρ_t ≤ 5.",
  ),
  (o) => adaptive.radam(adamOptions(o)),
);

const adabeliefKind = optimizerKind(
  "adabelief",
  optimizerSchema(
    "adabelief",
    {
      lr: lrField(ADABELIEF.lr),
      betas: betasField(ADABELIEF.betas),
      eps: posNum.default(ADABELIEF.eps).describe("Added to the belief s and to √ŝ."),
      weight_decay: nonNegNum.default(ADABELIEF.weightDecay).describe(
        "Decoupled decay θ ← θ·(1 − lr·wd).",
      ),
    },
    "AdaBelief (Zhuang et al., 2020): s ← β2·s + (1 − β2)·(g − m)² + eps; θ ← θ − lr·m̂/(√ŝ + eps); decoupled decay, no rectification.",
  ),
  (o) => adaptive.adabelief(adamOptions(o)),
);

/** These optimizers, in the order the reference lists them. */
export default {
  sgd: sgdKind,
  sgdm: sgdmKind,
  adam: adamKind,
  adamw: adamwKind,
  adagrad: adagradKind,
  radam: radamKind,
  adabelief: adabeliefKind,
};

// The builders' types, derived from the schemas (fields: docs/yaml-reference.md).
/** @ignore */
type SgdInput = z.input<typeof sgdKind.schema>;
/** @ignore */
type SgdOptions = Omit<SgdInput, "name">;
/** @ignore */
type SgdmInput = z.input<typeof sgdmKind.schema>;
/** @ignore */
type SgdmOptions = Omit<SgdmInput, "name">;
/** @ignore */
type AdamInput = z.input<typeof adamKind.schema>;
/** @ignore */
type AdamOptions = Omit<AdamInput, "name">;
/** @ignore */
type AdamWInput = z.input<typeof adamwKind.schema>;
/** @ignore */
type AdamWOptions = Omit<AdamWInput, "name">;
/** @ignore */
type AdagradInput = z.input<typeof adagradKind.schema>;
/** @ignore */
type AdagradOptions = Omit<AdagradInput, "name">;
/** @ignore */
type RadamInput = z.input<typeof radamKind.schema>;
/** @ignore */
type RadamOptions = Omit<RadamInput, "name">;
/** @ignore */
type AdaBeliefInput = z.input<typeof adabeliefKind.schema>;
/** @ignore */
type AdaBeliefOptions = Omit<AdaBeliefInput, "name">;

/** Plain SGD. */
export function sgd(opts: SgdOptions): SgdInput {
  return { name: "sgd", ...defined(opts) } as SgdInput;
}

/** SGD with momentum (PyTorch semantics). */
export function sgdm(opts: SgdmOptions): SgdmInput {
  return { name: "sgdm", ...defined(opts) } as SgdmInput;
}

/** Adam with L2-coupled weight decay. */
export function adam(opts: AdamOptions = {}): AdamInput {
  return { name: "adam", ...defined(opts) };
}

/** AdamW with decoupled weight decay. */
export function adamw(opts: AdamWOptions = {}): AdamWInput {
  return { name: "adamw", ...defined(opts) };
}

/** Adagrad (PyTorch semantics). */
export function adagrad(opts: AdagradOptions = {}): AdagradInput {
  return { name: "adagrad", ...defined(opts) };
}

/** RAdam (PyTorch semantics). */
export function radam(opts: RadamOptions = {}): RadamInput {
  return { name: "radam", ...defined(opts) };
}

/** AdaBelief (decoupled decay, no rectification). */
export function adabelief(opts: AdaBeliefOptions = {}): AdaBeliefInput {
  return { name: "adabelief", ...defined(opts) };
}
