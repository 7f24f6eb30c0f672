/**
 * Packing a layer's gradient into the matrix the Kronecker preconditioner
 * works on, and unpacking the preconditioned result with norm recovery.
 *
 * G = [W_grad reshaped to out × in | b_grad] (the bias column only when the
 * layer has a bias). The unpack writes G̃ = Ĝ·‖G‖_F/(‖Ĝ‖_F + 1e-12) back into
 * the gradients, in place, for the base optimizer to consume.
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

/**
 * [wGrad | bGrad] ← Ĝ · scale, where scale = √gsq/(√hsq + 1e-12) when norm
 * recovery is on (gsq = ‖G‖², hsq = ‖Ĝ‖², each a [1] tensor), else 1.
 */
export function unpackGradient(
  gpu: Gpu,
  a: {
    Ghat: Tensor;
    wGrad: Tensor;
    bGrad?: Tensor;
    out: number;
    inF: number;
    norms?: { gsq: Tensor; hsq: Tensor };
  },
): Command[] {
  const cols = a.inF + (a.bGrad ? 1 : 0);
  const n = a.out * cols;
  const grid = grid2d(Math.ceil(n / WG));
  const scale = a.norms ? "sqrt(gsq[0]) / (sqrt(hsq[0]) + 1e-12)" : "1.0";
  const code = `const COLS = ${cols}u;
@group(0) @binding(0) var<storage, read> H: array<f32>;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
${a.bGrad ? "@group(0) @binding(2) var<storage, read_write> b: array<f32>;" : ""}
${
    a.norms
      ? `@group(0) @binding(3) var<storage, read> gsq: array<f32>;
@group(0) @binding(4) var<storage, read> hsq: array<f32>;`
      : ""
  }
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
${header(n, grid[0])}
  let v = H[i] * ${scale};
  ${a.bGrad ? `if (j == ${a.inF}u) { b[o] = v; return; }` : ""}
  w[o * ${a.inF}u + j] = v;
}
`;
  const bindings = [
    a.Ghat,
    a.wGrad,
    a.bGrad ?? a.wGrad,
    ...(a.norms ? [a.norms.gsq, a.norms.hsq] : []),
  ];
  return [dispatch(gpu, "kron_unpack", code, bindings, grid)];
}
