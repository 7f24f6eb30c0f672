/**
 * The registry of matmul variants, their validity rules, and the heuristic
 * used when nothing was tuned.
 *
 * Families:
 * - `tex_<TM>x<TN>`: register-tiled, operands from texture mirrors (llvmpipe).
 * - `tiled_<BM>x<BN>`: workgroup-memory tiled over storage buffers (real GPUs).
 * - `reg_<BM>x<BN>x<BK>_<TM>x<TN>`: register-blocked, double-buffered
 *   workgroup-memory tiles with vec4 loads (real GPUs; family "tiled").
 * - `splitk<S>_<TM>x<TN>`: K split into at most S slices plus a reduction
 *   pass, for small outputs with a long K (texture kernel).
 * - `reg_splitk<S>_<BM>x<BN>x<BK>_<TM>x<TN>`: the same over the
 *   register-blocked kernel (real GPUs; family "tiled").
 * @module
 */

import type { Command } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import { flatExtent } from "../../gpu/texture.ts";
import {
  checkRegTile,
  regKSplit,
  regMatmulWgsl,
  type RegTile,
  regTileFits,
  regWorkgroups,
} from "./reg.ts";
import { buildRegMatmul } from "./reg.ts";
import { buildRegSplitKMatmul, buildSplitKMatmul, kSplit, splitKReduceWgsl } from "./splitk.ts";
import {
  buildTexMatmul,
  texInvocations,
  texMatmulWgsl,
  type TexTile,
  texWorkgroupBytes,
} from "./tex.ts";
import { buildTiledMatmul, tiledMatmulWgsl, type WgTile } from "./tiled.ts";
import type { Epilogue, ResolvedMatmul, ResolvedProblem } from "./types.ts";

/**
 * Variant families: `tex` and `splitk` read texture mirrors (fast on software
 * adapters); `tiled` is every workgroup-memory kernel over storage buffers
 * (fast on GPUs, ~100x slower on llvmpipe, so tuners skip it there).
 */
export type MatmulFamily = "tex" | "tiled" | "splitk";

/** One way of computing a matmul. */
export interface MatmulVariant {
  /** Name used by `variant`, the tuning cache and benchmarks. */
  readonly name: string;
  /** Its family. */
  readonly family: MatmulFamily;
  /** Whether it can run `p` on this device (binding and texture limits). */
  valid(gpu: Gpu, p: ResolvedProblem): boolean;
  /** The commands for a validated product. */
  build(gpu: Gpu, r: ResolvedMatmul): Command[];
  /** The WGSL modules it compiles for `p` on this device (for precompiling and dumps). */
  wgsl(gpu: Gpu, p: ResolvedProblem, ep: Epilogue): string[];
}

function maxGrid(gpu: Gpu): number {
  return gpu.limits.maxComputeWorkgroupsPerDimension;
}

function bytesOk(gpu: Gpu, floats: number): boolean {
  return floats * 4 <= gpu.limits.maxStorageBufferBindingSize;
}

function mirrorOk(gpu: Gpu, floats: number): boolean {
  return flatExtent(floats).height <= gpu.limits.maxTextureDimension2D;
}

function texOk(gpu: Gpu, p: ResolvedProblem, tile: TexTile): boolean {
  const bBatch = p.bBroadcast ? 1 : p.batch;
  return mirrorOk(gpu, p.batch * p.m * p.k) && mirrorOk(gpu, bBatch * p.k * p.n) &&
    bytesOk(gpu, p.batch * p.m * p.n) &&
    texWorkgroupBytes(p, tile) <= gpu.limits.maxComputeWorkgroupStorageSize;
}

function texVariant(tile: TexTile): MatmulVariant {
  const name = `tex_${tile.tm}x${tile.tn}`;
  return {
    name,
    family: "tex",
    valid: (gpu, p) => texOk(gpu, p, tile),
    build: (gpu, r) => buildTexMatmul(gpu, r, tile, name),
    wgsl: (gpu, p, ep) => [texMatmulWgsl(p, tile, ep, undefined, maxGrid(gpu))],
  };
}

function tiledVariant(t: WgTile): MatmulVariant {
  const name = `tiled_${t.ty * t.r}x${t.tx * t.r}`;
  return {
    name,
    family: "tiled",
    valid: (gpu, p) => {
      const bBatch = p.bBroadcast ? 1 : p.batch;
      return bytesOk(gpu, p.batch * p.m * p.k) && bytesOk(gpu, bBatch * p.k * p.n) &&
        bytesOk(gpu, p.batch * p.m * p.n) &&
        t.tx * t.ty <= gpu.limits.maxComputeInvocationsPerWorkgroup &&
        t.bk * (t.tx + t.ty) * t.r * 4 <= gpu.limits.maxComputeWorkgroupStorageSize;
    },
    build: (gpu, r) => buildTiledMatmul(gpu, r, t, name),
    wgsl: (gpu, p, ep) => [tiledMatmulWgsl(p, t, ep, maxGrid(gpu))],
  };
}

function splitKVariant(maxSlices: number, tile: TexTile): MatmulVariant {
  const name = `splitk${maxSlices}_${tile.tm}x${tile.tn}`;
  return {
    name,
    family: "splitk",
    valid: (gpu, p) =>
      texOk(gpu, p, tile) && bytesOk(gpu, kSplit(p.k, maxSlices).slices * p.batch * p.m * p.n),
    build: (gpu, r) => buildSplitKMatmul(gpu, r, tile, maxSlices, name),
    wgsl: (gpu, p, ep) => {
      const split = kSplit(p.k, maxSlices);
      return [
        texMatmulWgsl(p, tile, null, split, maxGrid(gpu)),
        splitKReduceWgsl(p, split.slices, ep, maxGrid(gpu)),
      ];
    },
  };
}

function storageOk(gpu: Gpu, p: ResolvedProblem): boolean {
  const bBatch = p.bBroadcast ? 1 : p.batch;
  return bytesOk(gpu, p.batch * p.m * p.k) && bytesOk(gpu, bBatch * p.k * p.n) &&
    bytesOk(gpu, p.batch * p.m * p.n);
}

function regName(t: RegTile): string {
  return `${t.bm}x${t.bn}x${t.bk}_${t.tm}x${t.tn}`;
}

function regVariant(t: RegTile): MatmulVariant {
  checkRegTile(t);
  const name = `reg_${regName(t)}`;
  return {
    name,
    family: "tiled",
    valid: (gpu, p) => storageOk(gpu, p) && regTileFits(gpu, t),
    build: (gpu, r) => buildRegMatmul(gpu, r, t, name),
    wgsl: (gpu, p, ep) => [regMatmulWgsl(p, t, ep, undefined, maxGrid(gpu))],
  };
}

function regSplitKVariant(maxSlices: number, t: RegTile): MatmulVariant {
  checkRegTile(t);
  const name = `reg_splitk${maxSlices}_${regName(t)}`;
  return {
    name,
    family: "tiled",
    valid: (gpu, p) =>
      storageOk(gpu, p) && regTileFits(gpu, t) &&
      bytesOk(gpu, regKSplit(p.k, maxSlices, t.bk).slices * p.batch * p.m * p.n),
    build: (gpu, r) => buildRegSplitKMatmul(gpu, r, t, maxSlices, name),
    wgsl: (gpu, p, ep) => {
      const split = regKSplit(p.k, maxSlices, t.bk);
      return [
        regMatmulWgsl(p, t, null, split, maxGrid(gpu)),
        splitKReduceWgsl(p, split.slices, ep, maxGrid(gpu)),
      ];
    },
  };
}

/** Register-blocked tiles, biggest first: the hardware heuristic's order. */
const REG_TILES: readonly RegTile[] = [
  { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 },
  { bm: 128, bn: 64, bk: 8, tm: 8, tn: 8 },
  { bm: 64, bn: 64, bk: 16, tm: 4, tn: 8 },
  { bm: 64, bn: 32, bk: 16, tm: 4, tn: 4 },
  { bm: 32, bn: 32, bk: 32, tm: 4, tn: 4 },
];

/** Further tiles offered to the tuner only. */
const REG_TILES_EXTRA: readonly RegTile[] = [
  { bm: 64, bn: 64, bk: 16, tm: 8, tn: 8 },
  { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
];

/** Split-K over register tiles: (max slices, tile), by decreasing tile. */
const REG_SPLITS: readonly [number, RegTile][] = [
  [8, { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 }],
  [8, { bm: 32, bn: 32, bk: 32, tm: 4, tn: 4 }],
  [32, { bm: 32, bn: 32, bk: 32, tm: 4, tn: 4 }],
];

/** Every variant, in a stable order. */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  texVariant({ tm: 32, tn: 32 }),
  texVariant({ tm: 32, tn: 16 }),
  texVariant({ tm: 16, tn: 16 }),
  texVariant({ tm: 8, tn: 8 }),
  tiledVariant({ tx: 16, ty: 16, r: 4, bk: 16 }),
  tiledVariant({ tx: 8, ty: 8, r: 4, bk: 16 }),
  splitKVariant(4, { tm: 16, tn: 16 }),
  splitKVariant(16, { tm: 8, tn: 8 }),
  splitKVariant(64, { tm: 8, tn: 8 }),
  ...REG_TILES.map(regVariant),
  ...REG_TILES_EXTRA.map(regVariant),
  ...REG_SPLITS.map(([s, t]) => regSplitKVariant(s, t)),
];

const byName = new Map(MATMUL_VARIANTS.map((v) => [v.name, v]));

/** The variant called `name`, or undefined. */
export function findMatmulVariant(name: string): MatmulVariant | undefined {
  return byName.get(name);
}

/** Names of the variants valid for `p` on this device. */
export function validMatmulVariants(gpu: Gpu, p: ResolvedProblem): string[] {
  return MATMUL_VARIANTS.filter((v) => v.valid(gpu, p)).map((v) => v.name);
}

/**
 * The untuned choice.
 *
 * Software adapters (llvmpipe): the texture kernel. 32×32 tiles only for big
 * products, where their ~20 % gain outweighs a first compile of ~5 s (16×16:
 * ~0.5 s), and only while there are ≥ 4 workgroups of 8 tiles, so both CPU
 * threads stay busy to the end. When even 16×16 tiles leave fewer than 4
 * workgroups and K is long (e.g. a conv weight gradient 32×144 with
 * K = 50176), split-K restores the balance (measured 1.6x faster there).
 *
 * Real GPUs: the biggest register-blocked tile that still makes ≥ 256
 * workgroups (two per compute unit on a ~130-unit GPU, so the last wave is
 * not mostly idle): 128×128 from about 2048², 64×64 at 1024², 32×32 at 512².
 * When even 32×32 tiles leave fewer than 128 workgroups and K is long
 * (weight gradients, long-K factor products), split-K over the biggest tile
 * whose slices reach 256 workgroups.
 */
export function heuristicMatmulVariant(gpu: Gpu, p: ResolvedProblem): string {
  const macs = p.m * p.n * p.k * p.batch;
  const pick = (names: string[]) => names.find((n) => byName.get(n)!.valid(gpu, p));
  let order: string[];
  if (gpu.adapter.isFallbackAdapter) {
    const workgroups = (t: TexTile, slices = 1) => Math.ceil(texInvocations(p, t, slices) / 8);
    const t16 = { tm: 16, tn: 16 };
    if (macs >= 1 << 25 && workgroups({ tm: 32, tn: 32 }) >= 4) order = ["tex_32x32"];
    else if (workgroups(t16) >= 4) order = ["tex_16x16"];
    else if (p.k >= 1024) {
      order = [workgroups(t16, kSplit(p.k, 4).slices) >= 4 ? "splitk4_16x16" : "splitk16_8x8"];
    } else order = [macs >= 1 << 16 ? "tex_16x16" : "tex_8x8"];
    order.push("tex_16x16", "tex_8x8", "tiled_32x32");
  } else {
    const fits = REG_TILES.filter((t) => regTileFits(gpu, t));
    const full = fits.find((t) => regWorkgroups(p, t) >= 256);
    const smallest = fits.at(-1);
    if (full) order = [`reg_${regName(full)}`];
    else if (smallest && regWorkgroups(p, smallest) < 128 && p.k >= 1024) {
      const splits = REG_SPLITS.filter(([, t]) => regTileFits(gpu, t));
      const enough = splits.find(([s, t]) =>
        regWorkgroups(p, t, regKSplit(p.k, s, t.bk).slices) >= 256
      ) ?? splits.at(-1);
      order = enough ? [`reg_splitk${enough[0]}_${regName(enough[1])}`] : [];
    } else order = smallest ? [`reg_${regName(smallest)}`] : [];
    order.push("tiled_32x32", "tex_16x16");
  }
  const choice = pick(order);
  if (!choice) {
    throw new RangeError(`matmul ${p.m}x${p.n}x${p.k}: no variant fits this device's limits`);
  }
  return choice;
}
