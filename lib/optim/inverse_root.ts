/**
 * Inverse square roots (and square roots) of symmetric positive
 * semi-definite factors, recorded as GPU commands: power iteration for λ̂
 * (the paper's Eq. 18), relative damping A_d = A + ε·λ̂·I, then a coupled
 * polynomial iteration (Eq. 17). Equal-size factors are computed as one
 * batch (lib/kernels/linalg/chain.ts).
 *
 * Methods:
 * - `reference`: the published AdaBK code exactly: λ̂ from 10 power
 *   iterations from the all-ones vector, τ = tr(A_d), 10 coupled
 *   Newton–Schulz steps T = ½(3I − Z·Y), Y ← Y·T, Z ← T·Z, root = Z/√τ. No
 *   convergence test: 10 steps do not converge for small eigenvalues, so the
 *   truncation acts as extra damping (per eigenvalue s = σ/τ the gain is
 *   capped at 1.5¹⁰ ≈ 57.7).
 * - `converged`: normalise by a guaranteed upper bound c ≥ λ_max(A_d), run the
 *   per-iteration minimax polynomials of root_polynomials.ts designed for the
 *   spectrum interval [ε·λ̂/c, 1], check the residual ‖Z·Y − I‖ and finiteness,
 *   and keep the previous root when the check fails.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import type { BufferArena, Tensor } from "../gpu/tensor.ts";
import { recordRootChain, RootWorkspaces } from "../kernels/linalg/chain.ts";
import { ROOT_CHAIN, type RootChainProblem } from "../kernels/linalg/chain_family.ts";
import { SCALAR_SLOTS } from "../kernels/linalg/linalg.ts";
import type { MatmulProblem } from "../kernels/matmul/types.ts";
import { explainChoice, forcedChoice, tagKernel } from "../kernels/tune/choose.ts";
import { designRootSchedule, type RootStep } from "./root_polynomials.ts";

export { RootWorkspaces };

/** How roots are computed. */
export type RootMethod = "reference" | "converged";

/** Options of a root computation. */
export interface RootOptions {
  /** Method (default "reference"). */
  method: RootMethod;
  /** Relative damping ε: A_d = A + ε·λ̂·I (default 1e-5). */
  damping: number;
  /** Power-iteration rounds for λ̂ (default 10). */
  powerIterations: number;
  /** Newton–Schulz steps in `reference` mode (default 10). */
  referenceSteps: number;
  /** Residual above which a `converged` root is rejected (default 0.05). */
  tolerance: number;
}

/** Defaults of {@link RootOptions}, as in the reference code. */
export const ROOT_DEFAULTS: RootOptions = {
  method: "reference",
  damping: 1e-5,
  powerIterations: 10,
  referenceSteps: 10,
  tolerance: 0.05,
};

/** A root computation: its commands and what it costs. */
export interface RootCommands {
  /** Commands computing the roots into the output tensors. */
  commands: Command[];
  /** Iterations used. */
  iterations: number;
  /** The `root.chain` variant recorded. */
  variant: string;
  /** Every matrix product recorded (FLOPs: 2·m·n·k·batch each). */
  products: MatmulProblem[];
}

/** Allocates the scalars tensor a factor's roots report into. */
export function rootScalars(arena: BufferArena, name: string): Tensor {
  return arena.tensor(`${name}.root_scalars`, [SCALAR_SLOTS]);
}

/** Steps of the `converged` schedule for a d×d factor with damping ε. */
export function convergedSchedule(d: number, damping: number): RootStep[] {
  // Smallest normalised eigenvalue ≥ ε·λ̂/c; c ≤ 1.0201·√d·λ_max and λ̂ may
  // undershoot λ_max by up to 2× after 10 power rounds: design for half that.
  const xMin = Math.min(0.5, (0.5 * damping) / (1.0201 * Math.sqrt(d)));
  return designRootSchedule(xMin, 1e-6).steps;
}

/** Arguments of {@link batchedRoots}. */
export interface BatchedRootArgs {
  /** Equal-size factors and where each one's root goes. */
  factors: readonly { A: Tensor; out: Tensor }[];
  /** Size of every factor. */
  d: number;
  /** A_d^(−1/2) or A_d^(1/2). */
  which: "inverse_sqrt" | "sqrt";
  /** Method and constants. */
  options: RootOptions;
  /** Fix λ̂ (absolute damping: A + γ·I with γ = damping·λ̂) instead of power iteration. */
  fixedLambda?: number;
  /** [count, SCALAR_SLOTS]: per-factor λ̂, normaliser, residual, flags. */
  scalars: Tensor;
  /** Shared scratch. */
  workspaces: RootWorkspaces;
  /** Label prefix. */
  label: string;
  /** Force a `root.chain` variant (default: the tuned choice or the heuristic). */
  variant?: string;
}

/** The `root.chain` problem of a batch (what the tuner keys its choice on). */
export function rootChainProblem(
  d: number,
  count: number,
  which: "inverse_sqrt" | "sqrt",
  options: RootOptions,
): RootChainProblem {
  const reference = options.method === "reference";
  const steps = reference ? options.referenceSteps : convergedSchedule(d, options.damping).length;
  return { d, count, steps, quintic: !reference, checked: !reference, which };
}

/** Records the roots of equal-size factors as one batch. */
export function batchedRoots(gpu: Gpu, a: BatchedRootArgs): RootCommands {
  const { d, options: o } = a;
  const reference = o.method === "reference";
  const steps: RootStep[] = reference
    ? Array.from({ length: o.referenceSteps }, () => [1.5, -0.5, 0] as const)
    : convergedSchedule(d, o.damping);
  const problem = rootChainProblem(d, a.factors.length, a.which, o);
  const choice = a.variant === undefined
    ? explainChoice(gpu, ROOT_CHAIN, problem)
    : forcedChoice(ROOT_CHAIN, problem, a.variant);
  const variant = choice.variant;
  const chain = recordRootChain(gpu, {
    factors: a.factors,
    d,
    which: a.which,
    steps,
    powerRounds: o.powerIterations,
    fixedLambda: a.fixedLambda,
    damping: o.damping,
    normaliser: reference ? "trace" : "upper_bound",
    tolerance: reference ? undefined : o.tolerance,
    scalars: a.scalars,
    workspaces: a.workspaces,
    label: a.label,
    variant,
  });
  // The chain's own dispatches carry its choice; its products keep matmul's.
  const commands = chain.commands.map((c) =>
    c.kind === "dispatch" && c.kernel === undefined ? tagKernel([c], choice)[0] : c
  );
  return { commands, iterations: chain.iterations, variant, products: chain.products };
}

/**
 * Records the computation of A^(−1/2) (`which` = "inverse_sqrt") or A^(1/2)
 * (`which` = "sqrt") of the d×d matrix A into `out` (a batch of one).
 */
export function matrixRoot(
  gpu: Gpu,
  a: {
    A: Tensor;
    out: Tensor;
    d: number;
    which: "inverse_sqrt" | "sqrt";
    options: RootOptions;
    scalars: Tensor;
    workspaces: RootWorkspaces;
    label: string;
    variant?: string;
  },
): RootCommands {
  if (a.A.size !== a.d * a.d || a.out.size !== a.d * a.d) {
    throw new RangeError(`${a.label}: factor and root must be ${a.d}x${a.d}`);
  }
  return batchedRoots(gpu, { ...a, factors: [{ A: a.A, out: a.out }] });
}
