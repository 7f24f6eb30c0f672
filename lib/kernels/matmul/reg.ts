/**
 * Register-blocked, workgroup-memory-tiled matmul over storage buffers: the
 * GPU-class kernel (`reg_*` variants), and its split-K form.
 *
 * Why this shape (NVIDIA-class GPUs; on llvmpipe every workgroup-memory
 * access is a scalar loop, so these run ~100x slower there than the texture
 * kernels and the heuristic never picks them on software adapters):
 * - Arithmetic intensity: a thread's TM×TN block costs TM/4 + TN/4 vec4
 *   reads of workgroup memory per k for TM·TN FMAs (8×8: 4 reads per 64 FMAs),
 *   and a BM×BN tile reads each global value once per BM (or BN) outputs.
 * - Latency hiding without many warps: the next K tile is loaded into
 *   registers while the current one is computed, and staged into the other
 *   of two workgroup buffers, so a K step needs one barrier.
 * - Bank conflicts: compute reads are vec4s that consecutive threads take
 *   from consecutive addresses (a thread's vec4 columns are TX apart, not
 *   adjacent); transposing stores (operands stored with k contiguous) land on
 *   rows padded by 4 floats, which spreads a warp's stores over the banks.
 * - Coalescing: global loads run along each operand's contiguous dimension
 *   in vec4s, and output stores are vec4s of consecutive threads.
 * - Dims are WGSL constants and bounds checks exist only where a dimension
 *   is not a multiple of its tile, so aligned shapes compile branch-free.
 * - The workgroup order groups 8 tile rows (L2 reuse of b on big products).
 *
 * Split-K runs the same kernel once per K slice into a scratch of partial
 * sums, then a deterministic reduction pass adds the slices and applies the
 * epilogue (see splitk.ts).
 * @module
 */

import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { regMatmulWgsl, regThreads, type RegTile, regWorkgroupBytes } from "./reg_wgsl.ts";
import type { KSplit } from "./tex.ts";
import type { ResolvedMatmul, ResolvedProblem } from "./types.ts";

export { regMatmulWgsl, regThreads, type RegTile, regWorkgroupBytes } from "./reg_wgsl.ts";

/**
 * Throws unless `t` is a well-formed tile (a programming error, not a device
 * limit): micro-tile sides multiples of 4, tile sides multiples of them, K
 * step a multiple of 4.
 */
export function checkRegTile(t: RegTile): void {
  const ok = t.tm % 4 === 0 && t.tn % 4 === 0 && t.tm > 0 && t.tn > 0 &&
    t.bm % t.tm === 0 && t.bn % t.tn === 0 && t.bk % 4 === 0 && t.bk > 0;
  if (!ok) throw new RangeError(`bad register tile ${JSON.stringify(t)}`);
}

/** Whether this device can run tile `t`: invocations and workgroup memory. */
export function regTileFits(gpu: Gpu, t: RegTile): boolean {
  const threads = regThreads(t);
  return threads <= gpu.limits.maxComputeInvocationsPerWorkgroup &&
    threads <= gpu.limits.maxComputeWorkgroupSizeX &&
    regWorkgroupBytes(t) <= gpu.limits.maxComputeWorkgroupStorageSize;
}

/** Workgroups the kernel dispatches for `p` (× K slices). */
export function regWorkgroups(p: ResolvedProblem, t: RegTile, slices = 1): number {
  return Math.ceil(p.m / t.bm) * Math.ceil(p.n / t.bn) * p.batch * slices;
}

/**
 * The K split of a split-K variant: at most `maxSlices` slices, each a
 * multiple of `bk` long (so K tiles never straddle slices), none empty.
 */
export function regKSplit(k: number, maxSlices: number, bk: number): KSplit {
  const steps = Math.ceil(k / bk);
  const ks = Math.ceil(steps / Math.max(1, maxSlices)) * bk;
  return { slices: Math.ceil(k / ks), ks };
}

/** Options of {@link buildRegMatmul}. */
export interface RegBuildOptions {
  /** Store raw partial sums of one K slice per workgroup into `out` (split-K). */
  partial?: { out: Tensor; split: KSplit };
  /** Workgroups per grid dimension before wrapping to 2-D (tests lower it). */
  maxGrid?: number;
}

/** Builds the register-blocked product (or, with `opts.partial`, its split-K first pass). */
export function buildRegMatmul(
  gpu: Gpu,
  r: ResolvedMatmul,
  t: RegTile,
  variant: string,
  opts: RegBuildOptions = {},
): Command[] {
  checkRegTile(t);
  const { a, b, out, bias } = r.args;
  const { partial } = opts;
  const maxGrid = opts.maxGrid ?? gpu.limits.maxComputeWorkgroupsPerDimension;
  const code = regMatmulWgsl(r, t, partial ? null : r.epilogue, partial?.split, maxGrid);
  const bindings = [a, b, partial ? partial.out : out, ...(bias && !partial ? [bias] : [])];
  const workgroups = regWorkgroups(r, t, partial?.split.slices ?? 1);
  return [dispatch(gpu, `${r.label}:${variant}`, code, bindings, grid2d(workgroups, maxGrid))];
}
