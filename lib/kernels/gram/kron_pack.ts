/**
 * Packing a layer's gradient into the matrix the Kronecker preconditioner
 * works on: G = [W_grad reshaped to out × in | b_grad] (the bias column only
 * when the layer has a bias). The preconditioned result goes back into the
 * gradients through norm recovery (lib/kernels/linalg/norm_recovery.ts).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";

const WG = 256;

function header(n: number, gridX: number): string {
  return `  let i = g.x + g.y * ${gridX * WG}u;
  if (i >= ${n}u) { return; }
  let o = i / COLS;
  let j = i % COLS;`;
}

/** G ← [wGrad | bGrad] with `out` rows and `inF` (+1 with bias) columns. */
export function packGradient(
  gpu: Gpu,
  a: { wGrad: Tensor; bGrad?: Tensor; G: Tensor; out: number; inF: number },
): Command[] {
  const cols = a.inF + (a.bGrad ? 1 : 0);
  const n = a.out * cols;
  if (a.wGrad.size !== a.out * a.inF || a.G.size !== n || (a.bGrad && a.bGrad.size !== a.out)) {
    throw new RangeError(`packGradient: sizes do not fit a ${a.out}x${cols} gradient matrix`);
  }
  const grid = grid2d(Math.ceil(n / WG));
  const code = `const COLS = ${cols}u;
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> G: array<f32>;
${a.bGrad ? "@group(0) @binding(2) var<storage, read> b: array<f32>;" : ""}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
${header(n, grid[0])}
  ${a.bGrad ? `if (j == ${a.inF}u) { G[i] = b[o]; return; }` : ""}
  G[i] = w[o * ${a.inF}u + j];
}
`;
  return [dispatch(gpu, "kron_pack", code, [a.wGrad, a.G, ...(a.bGrad ? [a.bGrad] : [])], grid)];
}
