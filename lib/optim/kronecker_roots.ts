/**
 * The roots stages of the Kronecker engine (Alg. 2 lines 7–9 of the AdaBK
 * paper): L̂ = L_d^(−1/p) and R̂ = R_d^(−1/p) every T_ir steps.
 *
 * Factors that refresh at the same steps and have the same size are one
 * batch: one chain of dispatches for all of them (lib/kernels/linalg/chain.ts),
 * so a model's roots cost one chain per distinct size rather than one per
 * factor. The factors refreshed at one step (all of them unless staggered)
 * are one stage, named after their layers ("roots:conv1+conv2+head").
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import { type BufferArena, type Tensor, view } from "../gpu/tensor.ts";
import { SCALAR_SLOTS } from "../kernels/linalg/linalg.ts";
import { matmul } from "../kernels/matmul/matmul.ts";
import type { Stage } from "../gpu/stage.ts";
import { batchedRoots, ROOT_DEFAULTS, type RootOptions, RootWorkspaces } from "./inverse_root.ts";
import type {
  KroneckerInstance,
  KroneckerLayer,
  KroneckerOptions,
  RootBatch,
} from "./kronecker_types.ts";

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

/** Stages, diagnostics and a description of every batch. */
export interface RootStages {
  /** One stage per refresh step, in order of first layer. */
  stages: Stage[];
  /** Scalars of every factor, in layer order (L before R). */
  diagnostics: KroneckerInstance["diagnostics"];
  /** What each batch records. */
  batches: RootBatch[];
}

/** One factor's diagnostics entry. */
type DiagnosticEntry = KroneckerInstance["diagnostics"][number];

/** Groups `items` by `key`, groups and members in order of first appearance. */
function groupBy<T>(items: readonly T[], key: (t: T) => number): T[][] {
  const groups = new Map<number, T[]>();
  for (const t of items) {
    const k = key(t);
    const g = groups.get(k);
    if (g) g.push(t);
    else groups.set(k, [t]);
  }
  return [...groups.values()];
}

/** What every batch of one engine shares. */
interface BatchContext {
  gpu: Gpu;
  arena: BufferArena;
  workspaces: RootWorkspaces;
  options: RootOptions;
  /** λ̂ = 1 for absolute damping (A + γ·I), else undefined (power iteration). */
  fixedLambda?: number;
  exponent: KroneckerOptions["exponent"];
}

/**
 * Records one batch of equal-size factors: A_d^(−1/2) for p = 2; its square
 * for p = 1; the square root of A_d^(−1/2) for p = 4.
 */
function recordBatch(
  c: BatchContext,
  group: readonly FactorRoot[],
  stage: string,
): { commands: Command[]; batch: RootBatch; diagnostics: DiagnosticEntry[] } {
  const { gpu, arena } = c;
  const { d } = group[0];
  const count = group.length;
  const labels = group.map((f) => `${f.layer.name}.${f.side}`);
  const scalars = arena.tensor(`roots.${labels[0]}.x${count}.root_scalars`, [count, SCALAR_SLOTS]);
  const diagnostics = group.map((f, i) => ({
    layer: f.layer.name,
    side: f.side,
    scalars: view(scalars, i * SCALAR_SLOTS, [SCALAR_SLOTS], `${labels[i]}.root_scalars`),
  }));
  const label = count === 1 ? labels[0] : `roots.${count}x${d}`;
  const commands: Command[] = [];
  const batch: RootBatch = { stage, d, count, variants: [], products: [] };
  const roots = (factors: { A: Tensor; out: Tensor }[], which: "inverse_sqrt" | "sqrt") => {
    const quarter = which === "sqrt";
    const r = batchedRoots(gpu, {
      factors,
      d,
      which,
      // The inner matrix of a fourth root is already damped.
      options: quarter ? { ...c.options, damping: 0 } : c.options,
      fixedLambda: quarter ? undefined : c.fixedLambda,
      scalars: quarter
        ? arena.tensor(`roots.${labels[0]}.x${count}.quarter`, [count, SCALAR_SLOTS])
        : scalars,
      workspaces: c.workspaces,
      label: quarter ? `${label}.quarter` : label,
    });
    commands.push(...r.commands);
    batch.variants.push(r.variant);
    batch.products.push(...r.products);
  };
  if (c.exponent === 2) {
    roots(group.map((f) => ({ A: f.A, out: f.root })), "inverse_sqrt");
    return { commands, batch, diagnostics };
  }
  const halves = labels.map((l) => arena.tensor(`${l}.half_root`, [d, d]));
  roots(group.map((f, i) => ({ A: f.A, out: halves[i] })), "inverse_sqrt");
  if (c.exponent === 4) {
    // A^(−1/4) = (A^(−1/2))^(1/2).
    roots(group.map((f, i) => ({ A: halves[i], out: f.root })), "sqrt");
  } else {
    // (A_d^(−1/2))² = A_d^(−1).
    group.forEach((f, i) => {
      const p = { m: d, n: d, k: d };
      const h = halves[i];
      commands.push(
        ...matmul(gpu, { a: h, b: h, out: f.root, ...p, label: `${labels[i]}.square` }),
      );
      batch.products.push(p);
    });
  }
  return { commands, batch, diagnostics };
}

/**
 * Records the roots stages of `factors` (of `layerCount` preconditioned
 * layers): one stage per refresh step (every factor when not staggered),
 * named after its layers; within it, one batch per factor size.
 */
export function rootStages(
  gpu: Gpu,
  arena: BufferArena,
  factors: readonly FactorRoot[],
  layerCount: number,
  o: KroneckerOptions,
): RootStages {
  const c: BatchContext = {
    gpu,
    arena,
    workspaces: new RootWorkspaces(arena),
    options: { ...ROOT_DEFAULTS, ...o.root, damping: o.damping },
    fixedLambda: o.dampingKind === "absolute" ? 1 : undefined,
    exponent: o.exponent,
  };
  const offsetOf = (f: FactorRoot) =>
    o.stagger ? Math.floor((f.layer.index * o.rootEvery) / layerCount) : 0;
  const stages: Stage[] = [];
  const batches: RootBatch[] = [];
  const diagnostics: DiagnosticEntry[] = [];
  for (const wave of groupBy(factors, offsetOf)) {
    const name = rootStageName([...new Set(wave.map((f) => f.layer.name))]);
    const commands: Command[] = [];
    for (const group of groupBy(wave, (f) => f.d)) {
      const r = recordBatch(c, group, name);
      commands.push(...r.commands);
      batches.push(r.batch);
      diagnostics.push(...r.diagnostics);
    }
    const cadence = { every: o.rootEvery, offset: offsetOf(wave[0]), atStart: true };
    stages.push({ name, cadence, commands });
  }
  // Layer order, L before R, whatever the batches.
  const rank = (e: DiagnosticEntry) =>
    2 * factors.find((f) => f.layer.name === e.layer)!.layer.index + (e.side === "L" ? 0 : 1);
  diagnostics.sort((a, b) => rank(a) - rank(b));
  return { stages, diagnostics, batches };
}

/** `roots:a+b+c`, or `roots:a+b+8 more` for longer lists (profile tables stay readable). */
function rootStageName(layers: readonly string[]): string {
  const shown = layers.length > 3 ? [...layers.slice(0, 2), `${layers.length - 2} more`] : layers;
  return `roots:${shown.join("+")}`;
}
