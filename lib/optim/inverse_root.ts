/**
 * Inverse square roots (and square roots) of symmetric positive
 * semi-definite factors, recorded as GPU commands: power iteration for λ̂,
 * relative damping, then a coupled polynomial iteration.
 *
 * Methods:
 * - `reference`: the published AdaBK code exactly: λ̂ from 10 power
 *   iterations from the all-ones vector, A_d = A + ε·λ̂·I, τ = tr(A_d),
 *   10 coupled Newton–Schulz steps T = ½(3I − Z·Y), Y ← Y·T, Z ← T·Z,
 *   root = Z/√τ. No convergence test (10 steps do not converge for small
 *   eigenvalues: the truncation acts as extra damping, see the spec §3).
 * - `converged`: normalise by a guaranteed upper bound c ≥ λ_max(A_d), run the
 *   per-iteration minimax polynomials of root_polynomials.ts designed for the
 *   spectrum interval [ε·λ̂/c, 1], check the residual ‖Z·Y − I‖ and finiteness,
 *   and keep the previous root when the check fails.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import type { BufferArena, Tensor } from "../gpu/tensor.ts";
import { fill } from "../kernels/elementwise/elementwise.ts";
import {
  normalizeVector,
  polyCombine,
  rootCommit,
  rootNormaliser,
  rootStart,
  S_LAMBDA,
  SCALAR_SLOTS,
} from "../kernels/linalg/linalg.ts";
import { matmul } from "../kernels/matmul/matmul.ts";
import { designRootSchedule, type RootStep } from "./root_polynomials.ts";

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

/** Scratch shared by every factor of one size (roots run one after another). */
export class RootWorkspaces {
  readonly #arena: BufferArena;
  readonly #bySize = new Map<number, Record<string, Tensor>>();

  /** Allocates lazily from `arena`. */
  constructor(arena: BufferArena) {
    this.#arena = arena;
  }

  /** Workspace tensors for d×d factors. */
  get(
    d: number,
  ): Record<"u" | "v" | "w" | "Y" | "Z" | "Y2" | "Z2" | "T" | "M" | "M2" | "rows", Tensor> {
    let ws = this.#bySize.get(d);
    if (!ws) {
      const t = (name: string, shape: number[]) => this.#arena.tensor(`root${d}.${name}`, shape);
      ws = {
        u: t("u", [d, 1]),
        v: t("v", [d, 1]),
        w: t("w", [d, 1]),
        Y: t("Y", [d, d]),
        Z: t("Z", [d, d]),
        Y2: t("Y2", [d, d]),
        Z2: t("Z2", [d, d]),
        T: t("T", [d, d]),
        M: t("M", [d, d]),
        M2: t("M2", [d, d]),
        rows: t("rows", [d, 2]),
      };
      this.#bySize.set(d, ws);
    }
    return ws as ReturnType<RootWorkspaces["get"]>;
  }
}

/** A root computation: its commands and where its diagnostics live. */
export interface RootCommands {
  /** Commands computing the root into the output tensor. */
  commands: Command[];
  /** Iterations used. */
  iterations: number;
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

/**
 * Records the computation of A^(−1/2) (`which` = "inverse_sqrt") or A^(1/2)
 * (`which` = "sqrt") of the d×d matrix A into `out`.
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
  },
): RootCommands {
  const { A, d, options: o } = a;
  if (A.size !== d * d || a.out.size !== d * d) {
    throw new RangeError(`${a.label}: factor and root must be ${d}x${d}`);
  }
  const ws = a.workspaces.get(d);
  const mm = (x: Tensor, y: Tensor, out: Tensor, n = d, alpha = 1) =>
    matmul(gpu, { a: x, b: y, out, m: d, n, k: d, alpha, label: `${a.label}.mm` });
  const cmds: Command[] = [];

  // λ̂ exactly as the reference's max_eignvalue: v = 1; repeat: u = A·v/‖A·v‖; v = A·u; λ̂ = ‖v‖.
  cmds.push(...fill(gpu, { value: 1, out: ws.v }));
  for (let r = 0; r < o.powerIterations; r++) {
    cmds.push(...mm(A, ws.v, ws.w, 1));
    cmds.push(
      ...normalizeVector(gpu, {
        v: ws.w,
        u: ws.u,
        scalars: a.scalars,
        slot: 7,
        label: "power_normalize",
      }),
    );
    cmds.push(...mm(A, ws.u, ws.v, 1));
    cmds.push(
      ...normalizeVector(gpu, {
        v: ws.v,
        scalars: a.scalars,
        slot: S_LAMBDA,
        label: "power_lambda",
      }),
    );
  }

  const method = o.method;
  cmds.push(...rootNormaliser(gpu, {
    A,
    d,
    damping: o.damping,
    scalars: a.scalars,
    kind: method === "reference" ? "trace" : "upper_bound",
    rowScratch: ws.rows,
  }));
  cmds.push(...rootStart(gpu, { A, Y: ws.Y, Z: ws.Z, d, damping: o.damping, scalars: a.scalars }));

  const steps: RootStep[] = method === "reference"
    ? Array.from({ length: o.referenceSteps }, () => [1.5, -0.5, 0] as const)
    : convergedSchedule(d, o.damping);
  let [Y, Z, Y2, Z2] = [ws.Y, ws.Z, ws.Y2, ws.Z2];
  for (const [c0, c1, c2] of steps) {
    cmds.push(...mm(Z, Y, ws.M));
    if (c2 !== 0) cmds.push(...mm(ws.M, ws.M, ws.M2));
    cmds.push(
      ...polyCombine(gpu, { M: ws.M, M2: c2 !== 0 ? ws.M2 : undefined, out: ws.T, d, c0, c1, c2 }),
    );
    cmds.push(...mm(Y, ws.T, Y2));
    cmds.push(...mm(ws.T, Z, Z2));
    [Y, Y2] = [Y2, Y];
    [Z, Z2] = [Z2, Z];
  }
  const X = a.which === "inverse_sqrt" ? Z : Y;
  const power = a.which === "inverse_sqrt" ? -0.5 : 0.5;
  if (method === "reference") {
    cmds.push(...rootCommit(gpu, { X, root: a.out, d, power, scalars: a.scalars }));
  } else {
    cmds.push(...mm(Z, Y, ws.M));
    cmds.push(...rootCommit(gpu, {
      X,
      root: a.out,
      d,
      power,
      scalars: a.scalars,
      check: { M: ws.M, tolerance: o.tolerance, rowScratch: ws.rows },
    }));
  }
  return { commands: cmds, iterations: steps.length };
}
