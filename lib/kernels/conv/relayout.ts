/**
 * Weight relayout for the texture conv kernels.
 *
 * The register-tiled kernels want, per reduction index, a contiguous run of
 * output channels (so one texel gives four of them). PyTorch's weight order
 * [Cout, Cin/g, kh, kw] has neither Cout nor Cin contiguous, so a small
 * kernel rewrites the weight into a texture every step (cost ~ one read of
 * the weight) as `B[g][jj][c]`, with the reduction index jj running over
 * (kernel position, channel) and c over the output columns, both zero-padded
 * so that tiles never need bounds checks:
 * - `"forward"`: jj = (ky·kw + kx)·Cin_g + ci, c = co (output channel)
 * - `"input"` (backward input): jj = (ky·kw + kx)·Cout_g + co, c = ci
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { TextureOperand } from "../../gpu/texture.ts";
import { roundUp } from "../../gpu/tensor.ts";
import type { ConvDims } from "./geometry.ts";
import { derivedTexture } from "./operands.ts";

/** Which GEMM the relaid weight feeds. */
export type RelayoutMode = "forward" | "input";

/** Sizes of the relaid weight `B[groups][rows][cols]`. */
export interface RelayoutShape {
  /** Reduction length per group (kh·kw·channels), before padding. */
  k: number;
  /** Rows per group: k rounded up to 4. */
  rows: number;
  /** Real columns per group (Cout_g for "forward", Cin_g for "input"). */
  c: number;
  /** Columns per row after padding (a multiple of 4 and of the column tile). */
  cols: number;
}

/** Relaid-weight sizes for `mode`, columns padded to a multiple of `colTile`. */
export function relayoutShape(d: ConvDims, mode: RelayoutMode, colTile: number): RelayoutShape {
  const inner = mode === "forward" ? d.cinG : d.coutG;
  const c = mode === "forward" ? d.coutG : d.cinG;
  const k = d.kpos * inner;
  return { k, rows: roundUp(k, 4), c, cols: roundUp(c, Math.max(4, colTile)) };
}

/** WGSL of the relayout kernel (one invocation per output texel). */
export function relayoutWgsl(d: ConvDims, mode: RelayoutMode, s: RelayoutShape): string {
  const texels = (d.groups * s.rows * s.cols) / 4;
  const [co, ci] = mode === "forward" ? ["c", "r"] : ["r", "c"];
  const inner = mode === "forward" ? d.cinG : d.coutG;
  return `// conv weight relayout (${mode})
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= ${texels}u) { return; }
  let c4 = t % ${s.cols / 4}u;
  let rest = t / ${s.cols / 4}u;
  let jj = rest % ${s.rows}u;
  let g = rest / ${s.rows}u;
  var v = vec4<f32>(0.0);
  if (jj < ${s.k}u) {
    let kp = jj / ${inner}u;
    let r = jj % ${inner}u;
    for (var q = 0u; q < 4u; q++) {
      let c = c4 * 4u + q;
      if (c < ${s.c}u) {
        v[q] = w[((g * ${d.coutG}u + ${co}) * ${d.cinG}u + ${ci}) * ${d.kpos}u + kp];
      }
    }
  }
  textureStore(dst, vec2<u32>(t & 1023u, t >> 10u), v);
}
`;
}

/**
 * Commands that rewrite `w` into its relaid texture (created once per weight
 * tensor and layout, reused by later builds) and the texture to bind.
 */
export function relayoutWeight(
  gpu: Gpu,
  d: ConvDims,
  w: Tensor,
  mode: RelayoutMode,
  colTile: number,
): { commands: Command[]; tex: TextureOperand; shape: RelayoutShape } {
  const shape = relayoutShape(d, mode, colTile);
  const floats = d.groups * shape.rows * shape.cols;
  const tex = derivedTexture(gpu, w, `relayout_${mode}_g${d.groups}_${shape.cols}`, floats);
  const code = relayoutWgsl(d, mode, shape);
  const cmd = dispatch(
    gpu,
    `conv_relayout_${mode}`,
    code,
    [w, { storageTexture: tex.view }],
    grid2d(
      Math.ceil(floats / 4 / 64),
    ),
  );
  return { commands: [cmd], tex, shape };
}
