/**
 * The per-layer steps of the Kronecker engine: the statistics update
 * (Alg. 2 lines 1–3 of the AdaBK paper) and the preconditioned gradient with
 * norm recovery (Alg. 2 lines 13–14, Eq. 19).
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import type { BufferArena, Tensor } from "../gpu/tensor.ts";
import { gramConvPatches, gramDense } from "../kernels/gram/gram.ts";
import { matmul } from "../kernels/matmul/matmul.ts";
import { normRecovery } from "../kernels/linalg/norm_recovery.ts";
import type { KroneckerLayer, KroneckerOptions, LayerFactors } from "./kronecker_types.ts";

/**
 * The statistics update of one layer. From activations: R from the layer
 * input X̃ (im2col patches of a conv, never materialised; a ones column for
 * the bias) and L from the output gradient D. From gradients (Shampoo):
 * R from GᵀG and L from G·Gᵀ.
 */
export function statisticsCommands(
  gpu: Gpu,
  layer: KroneckerLayer,
  f: LayerFactors,
  o: KroneckerOptions,
): Command[] {
  const { out, cols } = layer;
  const taps = layer.weight.taps!;
  const ema = o.accumulate === "ema" ? o.statDecay : undefined;
  const cmds: Command[] = [];
  if (o.statistics === "activations") {
    const appendOnes = layer.bias !== undefined;
    if (taps.kind === "conv2d") {
      cmds.push(
        ...gramConvPatches(gpu, { geom: taps.geom!, x: taps.x, out: f.R, appendOnes, ema }),
      );
    } else {
      cmds.push(
        ...gramDense(gpu, {
          x: taps.x,
          rows: taps.rows,
          cols: layer.inF,
          out: f.R,
          appendOnes,
          ema,
        }),
      );
    }
    if (f.L) {
      cmds.push(
        ...gramDense(gpu, { x: taps.d, rows: taps.rows, cols: out, out: f.L, scale: 1, ema }),
      );
    }
    return cmds;
  }
  cmds.push(...f.pack);
  const alpha = ema === undefined ? 1 : 1 - ema;
  const beta = ema === undefined ? 1 : ema;
  // R ← β·R + α·GᵀG ([cols, cols]); L ← β·L + α·G·Gᵀ ([out, out]).
  cmds.push(
    ...matmul(gpu, {
      a: f.G,
      b: f.G,
      out: f.R,
      m: cols,
      n: cols,
      k: out,
      transA: true,
      alpha,
      beta,
    }),
  );
  if (f.L) {
    cmds.push(
      ...matmul(gpu, {
        a: f.G,
        b: f.G,
        out: f.L,
        m: out,
        n: out,
        k: cols,
        transB: true,
        alpha,
        beta,
      }),
    );
  }
  return cmds;
}

/**
 * Ĝ = L̂·G·R̂ (Alg. 2 line 13; R̂ alone for input-only engines), then
 * G̃ = Ĝ·‖G‖_F/(‖Ĝ‖_F + 1e-12) (Eq. 19) written back into the weight (and
 * bias) gradient.
 */
export function preconditionCommands(
  gpu: Gpu,
  arena: BufferArena,
  layer: KroneckerLayer,
  f: LayerFactors,
  o: KroneckerOptions,
): Command[] {
  const { out, cols } = layer;
  const cmds: Command[] = [...f.pack];
  const Ghat = arena.tensor(`${layer.name}.G_hat`, [out, cols]);
  let right: Tensor = f.G;
  if (f.Lhat) {
    right = arena.tensor(`${layer.name}.LG`, [out, cols]);
    cmds.push(
      ...matmul(gpu, {
        a: f.Lhat,
        b: f.G,
        out: right,
        m: out,
        n: cols,
        k: out,
        label: `${layer.name}.LG`,
      }),
    );
  }
  cmds.push(
    ...matmul(gpu, {
      a: right,
      b: f.Rhat,
      out: Ghat,
      m: out,
      n: cols,
      k: cols,
      label: `${layer.name}.GR`,
    }),
  );
  cmds.push(...normRecovery(gpu, {
    Ghat,
    G: f.G,
    wGrad: layer.weight.grad,
    bGrad: layer.bias?.grad,
    out,
    inF: layer.inF,
    recover: o.normRecovery,
    arena,
  }));
  return cmds;
}
