/**
 * The Kronecker engine: one machinery for AdaBK, WSGDM/WAdam, Shampoo and
 * K-FAC. Each is a choice of statistic source, sides, root exponent,
 * accumulation and damping rule. Equation numbers refer to the AdaBK paper
 * (Yong, Sun & Zhang, CVPR 2023), "Alg. 2" to its one-step algorithm.
 *
 * {@link buildKronecker} records three cadenced stages, in this order:
 * - `statistics` per layer (every T_s steps from k = 0; Alg. 2 lines 1–3):
 *   R ← α·R + (1−α)·X̃ᵀX̃/N and L ← α·L + (1−α)·DᵀD from the layer's input
 *   and output gradient, or L, R from the packed gradient (Shampoo);
 * - `roots` (every T_ir steps from k = 0, optionally staggered across layers;
 *   Alg. 2 lines 7–9): L̂ = L_d^(−1/p), R̂ = R_d^(−1/p), equal-size factors
 *   of one cadence computed as one batch (kronecker_roots.ts);
 * - `precondition` (every step; Alg. 2 lines 13–14): Ĝ = L̂·G·R̂ with the
 *   norm recovery of Eq. 19, written back into the gradients for the base
 *   optimizer.
 * Layers without taps, and grouped convolutions, are left to the base
 * optimizer (reported in `treatment`).
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import type { BufferArena } from "../gpu/tensor.ts";
import { packGradient } from "../kernels/gram/kron_pack.ts";
import { setIdentity } from "../kernels/linalg/linalg.ts";
import type { Stage } from "../gpu/stage.ts";
import { EVERY_STEP } from "../gpu/stage.ts";
import { type FactorRoot, rootStages } from "./kronecker_roots.ts";
import { preconditionCommands, statisticsCommands } from "./kronecker_steps.ts";
import type {
  KroneckerInstance,
  KroneckerLayer,
  KroneckerOptions,
  LayerFactors,
  RootBatch,
} from "./kronecker_types.ts";
import type { OptimizerState, ParamSlot } from "./types.ts";

export type { KroneckerInstance, KroneckerLayer, KroneckerOptions, LayerFactors, RootBatch };

/** The layers the engine preconditions, and the treatment of slots it leaves alone. */
export function findLayers(
  slots: readonly ParamSlot[],
): { layers: KroneckerLayer[]; treatment: Map<string, string> } {
  const byValue = new Map(slots.map((s) => [s.value, s]));
  const layers: KroneckerLayer[] = [];
  const treatment = new Map<string, string>();
  for (const s of slots) {
    const taps = s.taps;
    if (!taps) continue;
    if (taps.groups !== 1) {
      treatment.set(
        s.name,
        `base optimizer (grouped conv, groups=${taps.groups}: no Kronecker factors)`,
      );
      continue;
    }
    const bias = taps.bias ? byValue.get(taps.bias.value) : undefined;
    const inF = taps.inFeatures;
    layers.push({
      name: s.name.replace(/\.weight$/, ""),
      index: layers.length,
      weight: s,
      bias,
      out: taps.outFeatures,
      inF,
      cols: inF + (bias ? 1 : 0),
    });
  }
  return { layers, treatment };
}

/**
 * Allocates a layer's statistics and roots (kept as optimizer state) and
 * records the roots' start as identity into `init`.
 */
function allocateFactors(
  gpu: Gpu,
  arena: BufferArena,
  layer: KroneckerLayer,
  o: KroneckerOptions,
  state: OptimizerState[],
  init: Command[],
): LayerFactors {
  const keep = (suffix: string, shape: number[]) => {
    const t = arena.tensor(`${layer.name}.${suffix}`, shape);
    state.push({ name: `${layer.name}.kron.${suffix}`, tensor: t });
    return t;
  };
  const { out, cols } = layer;
  const both = o.sides === "both";
  const L = both ? keep("L", [out, out]) : undefined;
  const R = keep("R", [cols, cols]);
  const Lhat = both ? keep("L_root", [out, out]) : undefined;
  const Rhat = keep("R_root", [cols, cols]);
  if (Lhat) init.push(...setIdentity(gpu, { X: Lhat, d: out }));
  init.push(...setIdentity(gpu, { X: Rhat, d: cols }));
  // A conv weight gradient [out, C_in, kh, kw] is already U₁(W_grad), the
  // [out, C_in·kh·kw] im2col layout: only a bias column needs a copy.
  if (!layer.bias) return { L, R, Lhat, Rhat, G: layer.weight.grad, pack: [] };
  const G = arena.tensor(`${layer.name}.G`, [out, cols]);
  const pack = packGradient(gpu, {
    wGrad: layer.weight.grad,
    bGrad: layer.bias.grad,
    G,
    out,
    inF: layer.inF,
  });
  return { L, R, Lhat, Rhat, G, pack };
}

/** Builds the engine's stages for `slots`. */
export function buildKronecker(
  gpu: Gpu,
  arena: BufferArena,
  slots: readonly ParamSlot[],
  o: KroneckerOptions,
): KroneckerInstance {
  const { layers, treatment } = findLayers(slots);
  const state: OptimizerState[] = [];
  const init: Command[] = [];
  const factors = layers.map((l) => allocateFactors(gpu, arena, l, o, state, init));

  const stats: Stage[] = layers.map((layer, i) => ({
    name: `statistics:${layer.name}`,
    cadence: { every: o.statEvery, offset: 0 },
    commands: statisticsCommands(gpu, layer, factors[i], o),
  }));

  const requests: FactorRoot[] = layers.flatMap((layer, i) => {
    const f = factors[i];
    const sides: FactorRoot[] = [];
    if (f.L && f.Lhat) sides.push({ layer, side: "L", A: f.L, root: f.Lhat, d: layer.out });
    sides.push({ layer, side: "R", A: f.R, root: f.Rhat, d: layer.cols });
    return sides;
  });
  const roots = rootStages(gpu, arena, requests, layers.length, o);

  const precondition: Command[] = [];
  const preconditioned = new Set<ParamSlot>();
  layers.forEach((layer, i) => {
    precondition.push(...preconditionCommands(gpu, arena, layer, factors[i], o));
    preconditioned.add(layer.weight);
    const shape = `${
      factors[i].L ? `L ${layer.out}×${layer.out}, ` : ""
    }R ${layer.cols}×${layer.cols}`;
    treatment.set(layer.weight.name, `kronecker (${shape})`);
    if (layer.bias) {
      preconditioned.add(layer.bias);
      treatment.set(layer.bias.name, `kronecker (bias column of ${layer.weight.name})`);
    }
  });

  return {
    stages: [
      ...stats,
      ...roots.stages,
      { name: "precondition", cadence: EVERY_STEP, commands: precondition },
    ],
    state,
    init,
    preconditioned,
    treatment,
    diagnostics: roots.diagnostics,
    rootBatches: roots.batches,
  };
}
