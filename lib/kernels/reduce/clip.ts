/**
 * Global gradient-norm clipping (PyTorch `clip_grad_norm_`): every gradient
 * is scaled by min(1, max_norm/(‖g‖ + 1e-6)) where ‖g‖ is the L2 norm over
 * all of them together. The plan runs it after backward, before the
 * optimizer's stages (so before any preconditioning).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { f32Lit } from "../wgsl.ts";
import { reduceAll } from "./reduce.ts";

const WG = 256;

/** Commands clipping `grads` to global norm `maxNorm`; the norm is left in the returned tensor. */
export function clipGradNorm(
  gpu: Gpu,
  arena: BufferArena,
  grads: readonly Tensor[],
  maxNorm: number,
): { commands: Command[]; sumsq: Tensor } {
  if (!(maxNorm > 0)) throw new RangeError(`clip_grad_norm must be > 0, got ${maxNorm}`);
  const sumsq = arena.tensor("clip.sumsq", [1]);
  const commands: Command[] = [{ kind: "clear", label: "clip.clear", dst: sumsq }];
  for (const g of grads) {
    commands.push(...reduceAll(gpu, { op: "sumsq", x: g, out: sumsq, accumulate: true, arena }));
  }
  for (const g of grads) {
    const grid = grid2d(Math.ceil(g.size / WG));
    const code = `@group(0) @binding(0) var<storage, read> s: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x + id.y * ${grid[0] * WG}u;
  if (i >= ${g.size}u) { return; }
  let coef = min(1.0, ${f32Lit(maxNorm)} / (sqrt(s[0]) + 1e-6));
  g[i] = g[i] * coef;
}
`;
    commands.push(dispatch(gpu, "clip_scale", code, [sumsq, g], grid));
  }
  return { commands, sumsq };
}
