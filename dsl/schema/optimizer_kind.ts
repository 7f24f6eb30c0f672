/**
 * What declaring an optimizer of the run spec takes: one
 * {@link OptimizerKind} holding its schema (fields with the defaults the
 * optimizer itself exports from lib/optim, and `.describe()` texts for
 * docs/yaml-reference.md) and its compile step to the optimizer factory.
 * Field types shared by several optimizers are here too.
 * @module
 */
import { z } from "zod";
import type { OptimizerFactory } from "../../lib/optim/types.ts";
import type { KroneckerOptions } from "../../lib/optim/kronecker.ts";
import { fraction, nonNegNum, posInt, posNum } from "./primitives.ts";

/** A schema whose output is an optimizer section named `N`. */
export type OptimizerSchemaOf<N extends string> = z.ZodType<{ name: N }, { name: N }>;

/** One optimizer of the run spec: its schema and its compile step. */
export interface OptimizerKind<
  N extends string = string,
  S extends OptimizerSchemaOf<N> = OptimizerSchemaOf<N>,
> {
  /** The discriminator value. */
  readonly name: N;
  /** Its fields, defaults and documentation. */
  readonly schema: S;
  /** The validated section as the factory the plan and `Optimizer` accept. */
  compile(o: z.output<S>): OptimizerFactory;
}

/** Declares an optimizer (see {@link OptimizerKind}). */
export function optimizerKind<N extends string, S extends OptimizerSchemaOf<N>>(
  name: N,
  schema: S,
  compile: (o: z.output<S>) => OptimizerFactory,
): OptimizerKind<N, S> {
  return { name, schema, compile };
}

/** Fields every optimizer takes. */
const optimizerCommon = {
  clip_grad_norm: posNum.optional().describe(
    "Scale all gradients so their global L2 norm is at most this (PyTorch `clip_grad_norm_`), before the update; off when absent.",
  ),
};

/** An optimizer section: a strict object with `name: <literal>` plus the common fields. */
export function optimizerSchema<N extends string, S extends z.core.$ZodLooseShape>(
  name: N,
  shape: S,
  description: string,
) {
  return z
    .strictObject({ name: z.literal(name), ...shape, ...optimizerCommon })
    .describe(description);
}

/** The learning rate of an optimizer without a default. */
export const lrRequired = posNum.describe("Learning rate (the schedule multiplies it).");

/** A learning rate with a default. */
export function lrField(value: number) {
  return posNum.default(value).describe("Learning rate (the schedule multiplies it).");
}

/** Weight decay as an L2 term added to the gradient. */
export function weightDecayL2(value: number) {
  return nonNegNum
    .default(value)
    .describe("L2 penalty: wd·θ is added to the gradient before the update.");
}

/** Adam's [β1, β2]. */
export function betasField(value: readonly [number, number]) {
  return z
    .tuple([fraction, fraction])
    .default([value[0], value[1]])
    .describe("Decay rates [β1, β2] of the first and second moment estimates, each in [0, 1).");
}

/** Adam's ε in the denominator. */
export function adamEpsField(value: number) {
  return posNum.default(value).describe("Added to √v̂ in the denominator.");
}

/** Validated Adam-family fields as the lib/optim factories take them (camelCase). */
export function adamOptions(
  o: { lr: number; betas: [number, number]; eps: number; weight_decay: number },
): { lr: number; betas: [number, number]; eps: number; weightDecay: number } {
  return { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay };
}

/** Momentum μ in [0, 1). */
export function momentumField(value: number, description: string) {
  return z.number().min(0).lt(1).default(value).describe(description);
}

/** Fields of every Kronecker-factored optimizer, with the defaults of its engine. */
export function kroneckerFields(engine: KroneckerOptions) {
  return {
    stat_decay: fraction.default(engine.statDecay).describe(
      "α of the statistics EMA: A ← α·A + (1 − α)·S.",
    ),
    damping: posNum.default(engine.damping).describe(
      "Damping ε: roots of A + ε·λ_max·I (K-FAC: A + γ·I).",
    ),
    stat_every: posInt.default(engine.statEvery).describe(
      "T_s: statistics every this many steps (from step 0).",
    ),
    root_every: posInt.default(engine.rootEvery).describe(
      "T_ir: inverse roots every this many steps (from step 0).",
    ),
    root_method: z.enum(["reference", "converged"]).default(engine.root.method).describe(
      "`reference`: the published code (10 Newton–Schulz steps, trace-normalised); `converged`: minimax polynomial iterations to the f32 floor with a residual check.",
    ),
    stagger: z.boolean().default(engine.stagger).describe(
      "Spread root refreshes of different layers over the T_ir period.",
    ),
  };
}

/** The Kronecker fields of a validated section as the factories' options. */
export function kroneckerOptions(o: {
  stat_decay: number;
  damping: number;
  stat_every: number;
  root_every: number;
  root_method: "reference" | "converged";
  stagger: boolean;
}) {
  return {
    statDecay: o.stat_decay,
    damping: o.damping,
    statEvery: o.stat_every,
    rootEvery: o.root_every,
    rootMethod: o.root_method,
    stagger: o.stagger,
  };
}
