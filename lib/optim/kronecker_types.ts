/**
 * Types shared by the Kronecker engine's modules (kronecker.ts builds the
 * stages from kronecker_steps.ts and kronecker_roots.ts).
 * @module
 */

import type { Command } from "../gpu/commands.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { MatmulProblem } from "../kernels/matmul/types.ts";
import type { Stage } from "../gpu/stage.ts";
import type { RootOptions } from "./inverse_root.ts";
import type { OptimizerState, ParamSlot } from "./types.ts";

/** What a Kronecker-factored preconditioner is made of. */
export interface KroneckerOptions {
  /** Where L and R come from: layer inputs and output gradients, or the weight gradient. */
  statistics: "activations" | "gradients";
  /** Both factors, or the input side (R) only (WSGDM/WAdam). */
  sides: "both" | "input";
  /** Root exponent p: the preconditioner uses A^(−1/p) (2 AdaBK, 4 Shampoo, 1 K-FAC). */
  exponent: 1 | 2 | 4;
  /** "ema": A ← α·A + (1−α)·S (Alg. 2 lines 2–3); "sum": A ← A + S (Shampoo). */
  accumulate: "ema" | "sum";
  /** α of the EMA. */
  statDecay: number;
  /** "relative": A + ε·λ̂·I (AdaBK's dampening, λ̂ by Eq. 18); "absolute": A + γ·I (K-FAC). */
  dampingKind: "relative" | "absolute";
  /** ε or γ. */
  damping: number;
  /** T_s. */
  statEvery: number;
  /** T_ir. */
  rootEvery: number;
  /** Spread root refreshes of different layers over the T_ir period. */
  stagger: boolean;
  /** Root method and its details. */
  root: Pick<RootOptions, "method" | "powerIterations" | "referenceSteps" | "tolerance">;
  /** Rescale Ĝ to the norm of G (Eq. 19). */
  normRecovery: boolean;
}

/** What the engine built. */
export interface KroneckerInstance {
  /** statistics, roots and precondition stages, in that order. */
  stages: Stage[];
  /** Factor statistics and roots, to checkpoint. */
  state: OptimizerState[];
  /** One-time commands: roots start as identity (a rejected first root then means "no preconditioning"). */
  init: Command[];
  /** Slots whose gradient the engine replaces (weights and their biases). */
  preconditioned: Set<ParamSlot>;
  /** Treatment per slot name. */
  treatment: Map<string, string>;
  /** Per-layer scalars tensors (λ̂, normaliser, residual, accept flag, rejections). */
  diagnostics: { layer: string; side: "L" | "R"; scalars: Tensor }[];
  /** The roots batches: size, factor count, stage, `root.chain` variants, products. */
  rootBatches: RootBatch[];
}

/** A preconditioned layer: its weight (and bias) and the shape of G = [W | b]. */
export interface KroneckerLayer {
  /** Layer name (the weight's name without `.weight`). */
  name: string;
  /** Position among the preconditioned layers (staggering). */
  index: number;
  /** Weight slot (with taps). */
  weight: ParamSlot;
  /** Bias slot, preconditioned as G's last column. */
  bias?: ParamSlot;
  /** Rows of G (output features). */
  out: number;
  /** Input features (C_in·kh·kw for a conv, the im2col width). */
  inF: number;
  /** Columns of G: inF, plus 1 with a bias. */
  cols: number;
}

/** A layer's factors and roots. */
export interface LayerFactors {
  /** Output-side statistic [out, out] (absent for input-only engines). */
  L?: Tensor;
  /** Input-side statistic [cols, cols]. */
  R: Tensor;
  /** L̂ [out, out]. */
  Lhat?: Tensor;
  /** R̂ [cols, cols]. */
  Rhat: Tensor;
  /** G = [W_grad | b_grad] as an [out, cols] matrix. */
  G: Tensor;
  /** Commands filling G (none without a bias: G is then the weight gradient itself). */
  pack: Command[];
}

/** One batch of the roots stages (equal-size factors refreshed together) and what it records. */
export interface RootBatch {
  /** The name of the stage that records it. */
  stage: string;
  /** Factor size. */
  d: number;
  /** Number of factors. */
  count: number;
  /** `root.chain` variant of each chain recorded (two for p = 4). */
  variants: string[];
  /** Every matrix product recorded. */
  products: MatmulProblem[];
}
