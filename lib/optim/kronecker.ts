/**
 * The Kronecker engine: one machinery for AdaBK, WSGDM/WAdam, Shampoo and
 * K-FAC. Each is a choice of statistic source, sides, root exponent,
 * accumulation and damping rule.
 *
 * Per preconditioned layer it records three cadenced stages:
 * - `statistics` (every T_s steps from k = 0): R ← α·R + (1−α)·X̃ᵀX̃/N and
 *   L ← α·L + (1−α)·DᵀD (activations), or L, R from the packed gradient
 *   (gradients: Shampoo);
 * - `roots` (every T_ir steps from k = 0, optionally staggered across layers):
 *   L̂ = L_d^(−1/p), R̂ = R_d^(−1/p);
 * - `precondition` (every step): Ĝ = L̂·G·R̂ with norm recovery, written back
 *   into the gradients for the base optimizer.
 * Layers without taps, and grouped convolutions, are left to the base
 * optimizer (reported by `describe`).
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import type { BufferArena, Tensor } from "../gpu/tensor.ts";
import { gramConvPatches, gramDense } from "../kernels/gram/gram.ts";
import { packGradient, unpackGradient } from "../kernels/gram/kron_pack.ts";
import { matmul } from "../kernels/matmul/matmul.ts";
import { reduceAll } from "../kernels/reduce/reduce.ts";
import { setIdentity, setScalar } from "../kernels/linalg/linalg.ts";
import type { Cadence, Stage } from "../gpu/stage.ts";
import { EVERY_STEP } from "../gpu/stage.ts";
import {
  matrixRoot,
  ROOT_DEFAULTS,
  type RootOptions,
  rootScalars,
  RootWorkspaces,
} from "./inverse_root.ts";
import type { OptimizerState, ParamSlot } from "./types.ts";

/** What a Kronecker-factored preconditioner is made of. */
export interface KroneckerOptions {
  /** Where L and R come from: layer inputs and output gradients, or the weight gradient. */
  statistics: "activations" | "gradients";
  /** Both factors, or the input side (R) only (WSGDM/WAdam). */
  sides: "both" | "input";
  /** Root exponent p: the preconditioner uses A^(−1/p) (2 AdaBK, 4 Shampoo, 1 K-FAC). */
  exponent: 1 | 2 | 4;
  /** "ema": A ← α·A + (1−α)·S; "sum": A ← A + S (Shampoo). */
  accumulate: "ema" | "sum";
  /** α of the EMA. */
  statDecay: number;
  /** "relative": A + ε·λ̂·I (AdaBK); "absolute": A + γ·I (K-FAC). */
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
  /** Rescale Ĝ to the norm of G (spec §4). */
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
}

interface Layer {
  name: string;
  weight: ParamSlot;
  bias?: ParamSlot;
  out: number;
  inF: number;
  cols: number;
}

/** Builds the engine's stages for `slots`. */
export function buildKronecker(
  gpu: Gpu,
  arena: BufferArena,
  slots: readonly ParamSlot[],
  o: KroneckerOptions,
): KroneckerInstance {
  const state: OptimizerState[] = [];
  const preconditioned = new Set<ParamSlot>();
  const treatment = new Map<string, string>();
  const diagnostics: KroneckerInstance["diagnostics"] = [];
  const workspaces = new RootWorkspaces(arena);
  const rootOptions: RootOptions = { ...ROOT_DEFAULTS, ...o.root, damping: o.damping };
  const byValue = new Map(slots.map((s) => [s.value, s]));

  const layers: Layer[] = [];
  for (const s of slots) {
    const taps = s.taps;
    if (!taps) continue;
    const name = s.name.replace(/\.weight$/, "");
    if (taps.groups !== 1) {
      treatment.set(
        s.name,
        `base optimizer (grouped conv, groups=${taps.groups}: no Kronecker factors)`,
      );
      continue;
    }
    const bias = taps.bias ? byValue.get(taps.bias.value) : undefined;
    const inF = taps.inFeatures;
    layers.push({ name, weight: s, bias, out: taps.outFeatures, inF, cols: inF + (bias ? 1 : 0) });
  }

  const init: Command[] = [];
  const stats: Stage[] = [];
  const roots: Stage[] = [];
  const precondition: Command[] = [];
  const keep = (name: string, t: Tensor) => {
    state.push({ name, tensor: t });
    return t;
  };
  const ema = o.accumulate === "ema" ? o.statDecay : undefined;

  layers.forEach((layer, index) => {
    const { out, cols } = layer;
    const taps = layer.weight.taps!;
    const useL = o.sides === "both";
    const L = useL
      ? keep(`${layer.name}.kron.L`, arena.tensor(`${layer.name}.L`, [out, out]))
      : undefined;
    const R = keep(`${layer.name}.kron.R`, arena.tensor(`${layer.name}.R`, [cols, cols]));
    const Lhat = L
      ? keep(`${layer.name}.kron.L_root`, arena.tensor(`${layer.name}.L_root`, [out, out]))
      : undefined;
    const Rhat = keep(
      `${layer.name}.kron.R_root`,
      arena.tensor(`${layer.name}.R_root`, [cols, cols]),
    );
    if (Lhat) init.push(...setIdentity(gpu, { X: Lhat, d: out }));
    init.push(...setIdentity(gpu, { X: Rhat, d: cols }));
    const G = arena.tensor(`${layer.name}.G`, [out, cols]);
    const pack = packGradient(gpu, {
      wGrad: layer.weight.grad,
      bGrad: layer.bias?.grad,
      G,
      out,
      inF: layer.inF,
    });

    // Statistics.
    const statCmds: Command[] = [];
    if (o.statistics === "activations") {
      const appendOnes = layer.bias !== undefined;
      if (taps.kind === "conv2d") {
        statCmds.push(
          ...gramConvPatches(gpu, { geom: taps.geom!, x: taps.x, out: R, appendOnes, ema }),
        );
      } else {
        statCmds.push(
          ...gramDense(gpu, {
            x: taps.x,
            rows: taps.rows,
            cols: layer.inF,
            out: R,
            appendOnes,
            ema,
          }),
        );
      }
      if (L) {
        statCmds.push(
          ...gramDense(gpu, { x: taps.d, rows: taps.rows, cols: out, out: L, scale: 1, ema }),
        );
      }
    } else {
      statCmds.push(...pack);
      const alpha = ema === undefined ? 1 : 1 - ema;
      const beta = ema === undefined ? 1 : ema;
      // R += Gᵀ·G ([cols, cols]); L += G·Gᵀ ([out, out]).
      statCmds.push(
        ...matmul(gpu, { a: G, b: G, out: R, m: cols, n: cols, k: out, transA: true, alpha, beta }),
      );
      if (L) {
        statCmds.push(
          ...matmul(gpu, {
            a: G,
            b: G,
            out: L,
            m: out,
            n: out,
            k: cols,
            transB: true,
            alpha,
            beta,
          }),
        );
      }
    }
    stats.push({
      name: `statistics:${layer.name}`,
      cadence: { every: o.statEvery, offset: 0 },
      commands: statCmds,
    });

    // Roots.
    const rootCmds: Command[] = [];
    const side = (A: Tensor, root: Tensor, d: number, which: "L" | "R") => {
      const scalars = rootScalars(arena, `${layer.name}.${which}`);
      diagnostics.push({ layer: layer.name, side: which, scalars });
      if (o.dampingKind === "absolute") {
        // A + γ·I: λ̂ fixed at 1 and no power iteration.
        rootCmds.push(...setScalar(gpu, { scalars, slot: 0, value: 1 }));
      }
      const opts = {
        ...rootOptions,
        powerIterations: o.dampingKind === "absolute" ? 0 : rootOptions.powerIterations,
      };
      const label = `${layer.name}.${which}`;
      if (o.exponent === 2) {
        rootCmds.push(
          ...matrixRoot(gpu, {
            A,
            out: root,
            d,
            which: "inverse_sqrt",
            options: opts,
            scalars,
            workspaces,
            label,
          }).commands,
        );
        return;
      }
      const half = arena.tensor(`${label}.half_root`, [d, d]);
      rootCmds.push(
        ...matrixRoot(gpu, {
          A,
          out: half,
          d,
          which: "inverse_sqrt",
          options: opts,
          scalars,
          workspaces,
          label,
        }).commands,
      );
      if (o.exponent === 1) {
        rootCmds.push(
          ...matmul(gpu, {
            a: half,
            b: half,
            out: root,
            m: d,
            n: d,
            k: d,
            label: `${label}.square`,
          }),
        );
      } else {
        // A^(−1/4) = (A^(−1/2))^(1/2); the inner matrix is already damped.
        const inner = rootScalars(arena, `${label}.quarter`);
        rootCmds.push(
          ...matrixRoot(gpu, {
            A: half,
            out: root,
            d,
            which: "sqrt",
            options: { ...rootOptions, damping: 0 },
            scalars: inner,
            workspaces,
            label: `${label}.quarter`,
          }).commands,
        );
      }
    };
    if (L && Lhat) side(L, Lhat, out, "L");
    side(R, Rhat, cols, "R");
    const offset = o.stagger ? Math.floor((index * o.rootEvery) / layers.length) : 0;
    const cadence: Cadence = { every: o.rootEvery, offset, atStart: true };
    roots.push({ name: `roots:${layer.name}`, cadence, commands: rootCmds });

    // Precondition.
    const Ghat = arena.tensor(`${layer.name}.G_hat`, [out, cols]);
    precondition.push(...pack);
    let right: Tensor = G;
    if (Lhat) {
      const tmp = arena.tensor(`${layer.name}.LG`, [out, cols]);
      precondition.push(
        ...matmul(gpu, {
          a: Lhat,
          b: G,
          out: tmp,
          m: out,
          n: cols,
          k: out,
          label: `${layer.name}.LG`,
        }),
      );
      right = tmp;
    }
    precondition.push(
      ...matmul(gpu, {
        a: right,
        b: Rhat,
        out: Ghat,
        m: out,
        n: cols,
        k: cols,
        label: `${layer.name}.GR`,
      }),
    );
    let norms: { gsq: Tensor; hsq: Tensor } | undefined;
    if (o.normRecovery) {
      norms = {
        gsq: arena.tensor(`${layer.name}.gsq`, [1]),
        hsq: arena.tensor(`${layer.name}.hsq`, [1]),
      };
      precondition.push(...reduceAll(gpu, { op: "sumsq", x: G, out: norms.gsq, arena }));
      precondition.push(...reduceAll(gpu, { op: "sumsq", x: Ghat, out: norms.hsq, arena }));
    }
    precondition.push(...unpackGradient(gpu, {
      Ghat,
      wGrad: layer.weight.grad,
      bGrad: layer.bias?.grad,
      out,
      inF: layer.inF,
      norms,
    }));
    preconditioned.add(layer.weight);
    const shape = `${useL ? `L ${out}×${out}, ` : ""}R ${cols}×${cols}`;
    treatment.set(layer.weight.name, `kronecker (${shape})`);
    if (layer.bias) {
      preconditioned.add(layer.bias);
      treatment.set(layer.bias.name, `kronecker (bias column of ${layer.weight.name})`);
    }
  });

  return {
    stages: [
      ...stats,
      ...roots,
      { name: "precondition", cadence: EVERY_STEP, commands: precondition },
    ],
    state,
    init,
    preconditioned,
    treatment,
    diagnostics,
  };
}
