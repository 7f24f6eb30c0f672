/**
 * The `root.chain` kernel family: how the products of a batch of inverse-root
 * chains are formed.
 *
 * Variants: `full` (one batched matmul per product) and `sym2` / `sym4`
 * (symmetric products by 2 or 4 row slabs: ¾ or ⅝ of the FLOPs, for 2 or 4
 * more dispatches per product; see symmetric.ts). Which wins depends on the
 * adapter and on how well the slab products fill it, so the heuristic keeps
 * `full` and the tuner measures the others. Every variant runs the same
 * iteration; the slab variants keep every iterate exactly symmetric, which
 * the `full` products do only up to rounding.
 *
 * Slab variants serve Newton–Schulz chains (the `reference` method) only:
 * under the `converged` method's steep polynomials, forcing symmetry let the
 * rounding error grow about tenfold per iteration (d = 29, κ = 1e4: residual
 * 0.47 where full products reach 2e-6), while Newton–Schulz stays within 2×
 * of the full products' error against float64.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import type { BufferArena } from "../../gpu/tensor.ts";
import { writeTensor } from "../../gpu/transfer.ts";
import type { KernelFamily } from "../tune/family.ts";
import { chainSlabPlan, recordRootChain, RootWorkspaces } from "./chain.ts";
import { elementwiseModule, SCALAR_SLOTS } from "./linalg.ts";
import { fusedPowerWgsl, powerIsFused, powerProductWgsl } from "./power.ts";
import { assemblyWgsl, offsetAlignFloats, planSlabs } from "./symmetric.ts";
import type { RootStepCoefficients } from "./steps.ts";

/** One batch of equal-size root chains, as the tuner sees it. */
export interface RootChainProblem {
  /** Size of every factor. */
  d: number;
  /** Number of factors in the batch. */
  count: number;
  /** Iterations of the coupled iteration. */
  steps: number;
  /** True when some iteration is quintic (c2 ≠ 0: one more product). */
  quintic: boolean;
  /** True when the residual check runs (one more product). */
  checked: boolean;
  /** Which root is returned (decides which last product is skipped). */
  which: "inverse_sqrt" | "sqrt";
}

/** Every variant name, in a stable order. */
const ROOT_CHAIN_VARIANTS: readonly string[] = ["full", "sym2", "sym4"];

function valid(gpu: Gpu, p: RootChainProblem, variant: string): boolean {
  if (variant === "full") return true;
  if (p.quintic || p.checked) return false;
  const slabs = Number(variant.slice(3));
  return planSlabs(p.d, p.count, slabs, offsetAlignFloats(gpu)) !== undefined;
}

function benchSteps(p: RootChainProblem): RootStepCoefficients[] {
  const step: RootStepCoefficients = p.quintic ? [15 / 8, -10 / 8, 3 / 8] : [1.5, -0.5, 0];
  return Array.from({ length: p.steps }, () => step);
}

/** The `root.chain` family (see the module documentation). */
export const ROOT_CHAIN: KernelFamily<RootChainProblem> = {
  id: "root.chain",
  key: (p) =>
    `root.chain|${p.count}x${p.d}|k${p.steps}${p.quintic ? "q" : ""}${p.checked ? "c" : ""}|` +
    (p.which === "inverse_sqrt" ? "isqrt" : "sqrt"),
  variants: (gpu, p) => ROOT_CHAIN_VARIANTS.filter((v) => valid(gpu, p, v)),
  heuristic: () => "full",
  // No `work` estimate on purpose: a chain runs once every T_ir steps, so a
  // tuning budget goes to the per-step problems first (the tuner takes
  // problems without an estimate last).
  wgsl(gpu, p, variant) {
    const plan = chainSlabPlan(gpu, variant, p.d, p.count);
    const power = powerIsFused(gpu, p.d)
      ? fusedPowerWgsl(
        { d: p.d, count: p.count, rounds: 10, damping: 1e-5, normaliser: "trace" },
        p.count,
      )
      : powerProductWgsl(p.d, p.count, "normalised", p.count * Math.ceil(p.d / 32));
    if (!plan) return [power];
    const step: RootStepCoefficients = [1.5, -0.5, 0];
    const [decls, body] = assemblyWgsl(plan, { step });
    return [power, elementwiseModule(gpu, p.count * p.d * p.d, decls, body).wgsl];
  },
  benchCommands(gpu, p, variant, arena: BufferArena): Command[] {
    const { d, count } = p;
    // Diagonal SPD factors with eigenvalues in (0.5, 1]: finite at every step.
    const diag = new Float32Array(d * d);
    for (let i = 0; i < d; i++) diag[i * d + i] = 1 - i / (2 * d);
    const factors = Array.from({ length: count }, (_, i) => {
      const A = arena.tensor(`bench.root.A${i}`, [d, d]);
      writeTensor(gpu, A, diag);
      return { A, out: arena.tensor(`bench.root.out${i}`, [d, d]) };
    });
    return recordRootChain(gpu, {
      factors,
      d,
      which: p.which,
      steps: benchSteps(p),
      powerRounds: 10,
      damping: 1e-5,
      normaliser: p.checked ? "upper_bound" : "trace",
      tolerance: p.checked ? 0.05 : undefined,
      scalars: arena.tensor("bench.root.scalars", [count, SCALAR_SLOTS]),
      workspaces: new RootWorkspaces(arena),
      label: "bench.root",
      variant,
    }).commands;
  },
};
