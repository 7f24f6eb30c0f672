/**
 * The roots stages of the Kronecker engine (Alg. 2 lines 7–9 of the AdaBK
 * paper): L̂ = L_d^(−1/p) and R̂ = R_d^(−1/p) every T_ir steps.
 *
 * Factors that refresh at the same steps and have the same size are one
 * batch: one chain of dispatches for all of them (lib/kernels/linalg/chain.ts),
 * so a model's roots cost one chain per distinct size rather than one per
 * factor. Each batch is a stage named after its factors.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import type { BufferArena, Tensor } from "../gpu/tensor.ts";
import { SCALAR_SLOTS } from "../kernels/linalg/linalg.ts";
import { matmul } from "../kernels/matmul/matmul.ts";
import type { MatmulProblem } from "../kernels/matmul/types.ts";
import type { Stage } from "../gpu/stage.ts";
import { batchedRoots, ROOT_DEFAULTS, type RootOptions, RootWorkspaces } from "./inverse_root.ts";
import type { KroneckerInstance, KroneckerLayer, KroneckerOptions } from "./kronecker_types.ts";

/** One factor whose root the engine refreshes. */
export interface FactorRoot {
  /** Its layer. */
  layer: KroneckerLayer;
  /** Output (L) or input (R) side. */
  side: "L" | "R";
  /** The statistic. */
  A: Tensor;
  /** Where its root goes. */
  root: Tensor;
  /** Size. */
  d: number;
}

/** The batches of the roots stages and what they record. */
export interface RootBatch {
  /** The stage's name. */
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

/** Stages, diagnostics and a description of every batch. */
export interface RootStages {
  /** One stage per batch, in order of first layer. */
  stages: Stage[];
  /** Scalars of every factor, in layer order (L before R). */
  diagnostics: KroneckerInstance["diagnostics"];
  /** What each batch records. */
  batches: RootBatch[];
}

/** A view of factor i's scalars inside a batch's [count, SCALAR_SLOTS] tensor. */
function scalarsView(t: Tensor, i: number, name: string): Tensor {
  const size = SCALAR_SLOTS;
  return { buffer: t.buffer, offset: t.offset + i * size * 4, shape: [size], size, name };
}

/** Groups factors by (refresh offset, size), in order of first appearance. */
function groupFactors(
  factors: readonly FactorRoot[],
  offsetOf: (f: FactorRoot) => number,
): FactorRoot[][] {
  const groups = new Map<string, FactorRoot[]>();
  for (const f of factors) {
    const key = `${offsetOf(f)}:${f.d}`;
    const g = groups.get(key);
    if (g) g.push(f);
    else groups.set(key, [f]);
  }
  return [...groups.values()];
}

/**
 * Records the roots stages of `factors` (of `layerCount` preconditioned
 * layers): per batch, A_d^(−1/2) for p = 2; its square for p = 1; the square
 * root of A_d^(−1/2) for p = 4.
 */
export function rootStages(
  gpu: Gpu,
  arena: BufferArena,
  factors: readonly FactorRoot[],
  layerCount: number,
  o: KroneckerOptions,
): RootStages {
  const workspaces = new RootWorkspaces(arena);
  const options: RootOptions = { ...ROOT_DEFAULTS, ...o.root, damping: o.damping };
  // Absolute damping (A + γ·I): λ̂ fixed at 1 and no power iteration.
  const fixedLambda = o.dampingKind === "absolute" ? 1 : undefined;
  const offsetOf = (f: FactorRoot) =>
    o.stagger ? Math.floor((f.layer.index * o.rootEvery) / layerCount) : 0;
  const stages: Stage[] = [];
  const batches: RootBatch[] = [];
  const diagnostics: (RootStages["diagnostics"][number] & { order: number })[] = [];
  for (const group of groupFactors(factors, offsetOf)) {
    const { d } = group[0];
    const count = group.length;
    const labels = group.map((f) => `${f.layer.name}.${f.side}`);
    const name = `roots:${labels.join("+")}`;
    const scalars = arena.tensor(`roots.${labels[0]}.x${count}.root_scalars`, [
      count,
      SCALAR_SLOTS,
    ]);
    group.forEach((f, i) => {
      diagnostics.push({
        layer: f.layer.name,
        side: f.side,
        scalars: scalarsView(scalars, i, `${labels[i]}.root_scalars`),
        order: 2 * f.layer.index + (f.side === "L" ? 0 : 1),
      });
    });
    const label = count === 1 ? labels[0] : `roots.${count}x${d}`;
    const commands: Command[] = [];
    const batch: RootBatch = { stage: name, d, count, variants: [], products: [] };
    const record = (r: ReturnType<typeof batchedRoots>) => {
      commands.push(...r.commands);
      batch.variants.push(r.variant);
      batch.products.push(...r.products);
    };
    if (o.exponent === 2) {
      const outs = group.map((f) => ({ A: f.A, out: f.root }));
      record(batchedRoots(gpu, {
        factors: outs,
        d,
        which: "inverse_sqrt",
        options,
        fixedLambda,
        scalars,
        workspaces,
        label,
      }));
    } else {
      const halves = group.map((f, i) => ({
        A: f.A,
        out: arena.tensor(`${labels[i]}.half_root`, [d, d]),
      }));
      record(batchedRoots(gpu, {
        factors: halves,
        d,
        which: "inverse_sqrt",
        options,
        fixedLambda,
        scalars,
        workspaces,
        label,
      }));
      if (o.exponent === 1) {
        // (A_d^(−1/2))² = A_d^(−1).
        group.forEach((f, i) => {
          const h = halves[i].out;
          const p = { m: d, n: d, k: d };
          commands.push(
            ...matmul(gpu, { a: h, b: h, out: f.root, ...p, label: `${labels[i]}.square` }),
          );
          batch.products.push(p);
        });
      } else {
        // A^(−1/4) = (A^(−1/2))^(1/2); the inner matrix is already damped.
        record(batchedRoots(gpu, {
          factors: group.map((f, i) => ({ A: halves[i].out, out: f.root })),
          d,
          which: "sqrt",
          options: { ...options, damping: 0 },
          scalars: arena.tensor(`roots.${labels[0]}.x${count}.quarter`, [count, SCALAR_SLOTS]),
          workspaces,
          label: `${label}.quarter`,
        }));
      }
    }
    const cadence = { every: o.rootEvery, offset: offsetOf(group[0]), atStart: true };
    stages.push({ name, cadence, commands });
    batches.push(batch);
  }
  diagnostics.sort((a, b) => a.order - b.order);
  return {
    stages,
    diagnostics: diagnostics.map(({ order: _, ...d }) => d),
    batches,
  };
}
