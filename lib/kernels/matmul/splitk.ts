/**
 * Split-K matmul for outputs too small to occupy the GPU: weight gradients
 * [out, in] = Dᵀ·X whose k is the number of batch rows (or pixels, for
 * convolutions), or logits with n = 10.
 *
 * Pass 1 runs a tiled kernel (the texture kernel, or on GPUs the
 * register-blocked one) once per K slice, writing raw partial sums to a
 * scratch tensor laid out [slice][batch][m][n]; pass 2 adds the slices in
 * order (deterministic, unlike atomics) and applies the epilogue.
 * The scratch is allocated when the commands are built, never during a step.
 * @module
 */

import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import { type Tensor, TENSOR_USAGE } from "../../gpu/tensor.ts";
import { wgslEpilogueDecls, wgslEpilogueStore } from "./epilogue.ts";
import { buildRegMatmul, regKSplit, type RegTile } from "./reg.ts";
import { buildTexMatmul, type KSplit, type TexTile } from "./tex.ts";
import type { Epilogue, ResolvedMatmul, ResolvedProblem } from "./types.ts";

/** Threads per workgroup of the reduction pass. */
const REDUCE_WORKGROUP = 64;

/**
 * The K split for at most `maxSlices` slices: slice length a multiple of 4
 * (keeps texel reads aligned), and no empty slices.
 */
export function kSplit(k: number, maxSlices: number): KSplit {
  const chunks = Math.ceil(k / 4);
  const ks = Math.ceil(chunks / Math.max(1, maxSlices)) * 4;
  return { slices: Math.ceil(k / ks), ks };
}

/** WGSL of pass 2: out = epilogue(Σ_s part[s]) for `slices` slices. */
export function splitKReduceWgsl(
  p: ResolvedProblem,
  slices: number,
  ep: Epilogue,
  maxGrid = 65535,
): string {
  const total = p.batch * p.m * p.n;
  const gridX = grid2d(Math.ceil(total / REDUCE_WORKGROUP), maxGrid)[0];
  return `// matmul split-K reduction of ${slices} slices
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${wgslEpilogueDecls(ep, 2)}
@compute @workgroup_size(${REDUCE_WORKGROUP}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * ${gridX * REDUCE_WORKGROUP}u;
  if (idx >= ${total}u) { return; }
  var s = 0.0;
  for (var sl = 0u; sl < ${slices}u; sl++) { s += part[sl * ${total}u + idx]; }
  let col = idx % ${p.n}u;
  ${wgslEpilogueStore(ep, "s", "idx", "col")}
}
`;
}

function scratch(gpu: Gpu, r: ResolvedMatmul, size: number): Tensor {
  const name = `${r.label}.splitk_partials`;
  if (r.args.arena) return r.args.arena.tensor(name, [size]);
  const buffer = gpu.device.createBuffer({
    label: name,
    size: Math.max(16, size * 4),
    usage: TENSOR_USAGE,
  });
  return { buffer, offset: 0, shape: [size], size, name };
}

/**
 * Both passes around a first pass `pass1(part)` that writes the partial sums
 * of `split` into `part`.
 */
function buildSplitK(
  gpu: Gpu,
  r: ResolvedMatmul,
  split: KSplit,
  variant: string,
  maxGrid: number,
  pass1: (part: Tensor) => Command[],
): Command[] {
  const total = r.batch * r.m * r.n;
  const part = scratch(gpu, r, split.slices * total);
  const { out, bias } = r.args;
  const code = splitKReduceWgsl(r, split.slices, r.epilogue, maxGrid);
  const pass2 = dispatch(
    gpu,
    `${r.label}:${variant}.reduce`,
    code,
    [part, out, ...(bias ? [bias] : [])],
    grid2d(Math.ceil(total / REDUCE_WORKGROUP), maxGrid),
  );
  return [...pass1(part), pass2];
}

/**
 * Builds both passes for at most `maxSlices` K slices with texture tile
 * `tile`. `maxGrid` (workgroups per dimension before wrapping to 2-D)
 * defaults to the device limit; tests lower it.
 */
export function buildSplitKMatmul(
  gpu: Gpu,
  r: ResolvedMatmul,
  tile: TexTile,
  maxSlices: number,
  variant: string,
  maxGrid = gpu.limits.maxComputeWorkgroupsPerDimension,
): Command[] {
  const split = kSplit(r.k, maxSlices);
  return buildSplitK(
    gpu,
    r,
    split,
    variant,
    maxGrid,
    (part) =>
      buildTexMatmul(gpu, r, tile, `${variant}.partial`, {
        partial: { out: part, split },
        maxGrid,
      }),
  );
}

/**
 * Builds both passes for at most `maxSlices` K slices with the
 * register-blocked kernel of tile `tile` (storage buffers only: the GPU
 * form). `maxGrid` defaults to the device limit; tests lower it.
 */
export function buildRegSplitKMatmul(
  gpu: Gpu,
  r: ResolvedMatmul,
  tile: RegTile,
  maxSlices: number,
  variant: string,
  maxGrid = gpu.limits.maxComputeWorkgroupsPerDimension,
): Command[] {
  const split = regKSplit(r.k, maxSlices, tile.bk);
  return buildSplitK(
    gpu,
    r,
    split,
    variant,
    maxGrid,
    (part) =>
      buildRegMatmul(gpu, r, tile, `${variant}.partial`, {
        partial: { out: part, split },
        maxGrid,
      }),
  );
}
