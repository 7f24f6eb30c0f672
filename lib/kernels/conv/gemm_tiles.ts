/**
 * The `wg…` tile configurations offered per kind of product, which ones a
 * device can run, and the untuned pick for hardware adapters.
 *
 * - `pixels` (conv forward and input gradient): millions of output rows,
 *   few columns (16–128 channels): tall tiles, 16/32/64/128 columns.
 * - `weight` (conv weight gradient): small outputs (Cout × kh·kw·Cin),
 *   reductions over every pixel: small tiles, in-workgroup slices (`_z`)
 *   and split-K give the parallelism.
 * - `gram` (patch and dense statistics, symmetric): square tiles.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import {
  gemmSharedBytes,
  gemmThreads,
  type GemmTile,
  gemmTileName,
  parseGemmTile,
} from "./gemm.ts";

/** Which product a tile list is for. */
export type GemmKind = "pixels" | "weight" | "gram";

const t = (bm: number, bn: number, bk: number, tm: number, tn: number, ks = 1): GemmTile => ({
  bm,
  bn,
  bk,
  tm,
  tn,
  ks,
});

const TILES: Record<GemmKind, readonly GemmTile[]> = {
  pixels: [
    t(64, 16, 16, 4, 4), // 64 threads
    t(128, 16, 16, 4, 4), // 128
    t(256, 16, 16, 8, 4), // 128
    t(64, 32, 16, 4, 4), // 128
    t(128, 32, 16, 8, 4), // 128
    t(128, 32, 32, 8, 4), // 128, deeper steps
    t(256, 32, 16, 8, 4), // 256
    t(64, 64, 16, 4, 4), // 256
    t(128, 64, 16, 8, 4), // 256
    t(128, 64, 16, 8, 8), // 128
    t(128, 128, 16, 8, 8), // 256
  ],
  weight: [
    t(16, 16, 64, 4, 4, 4), // 64
    t(16, 16, 32, 4, 4, 2), // 32: twice the workgroups for tiny outputs
    t(16, 32, 32, 4, 4, 4), // 128
    t(32, 32, 32, 4, 4, 2), // 128
    t(32, 64, 16, 4, 4), // 128
    t(32, 64, 32, 4, 4, 2), // 256
    t(64, 64, 16, 4, 4), // 256
    t(64, 64, 32, 8, 8, 2), // 128; 32 KiB of workgroup memory
    t(128, 128, 16, 8, 8), // 256
  ],
  gram: [
    t(16, 16, 64, 4, 4, 4), // 64
    t(16, 16, 32, 4, 4, 2), // 32: twice the workgroups for tiny outputs
    t(32, 32, 32, 4, 4, 2), // 128
    t(32, 32, 32, 4, 4, 4), // 256
    t(64, 64, 16, 4, 4), // 256
    t(64, 64, 32, 8, 8, 2), // 128; 32 KiB of workgroup memory
    t(128, 128, 16, 8, 8), // 256
  ],
};

/** Every tile configuration offered for `kind`, by name (before any device or size filter). */
export function gemmTileTable(kind: GemmKind): string[] {
  return TILES[kind].map(gemmTileName);
}

/** True when this device can run `tile` (threads and workgroup memory within its limits). */
export function gemmTileFits(gpu: Gpu, tile: GemmTile): boolean {
  const threads = gemmThreads(tile);
  return threads <= gpu.limits.maxComputeInvocationsPerWorkgroup &&
    threads <= gpu.limits.maxComputeWorkgroupSizeX &&
    gemmSharedBytes(tile) <= gpu.limits.maxComputeWorkgroupStorageSize;
}

/**
 * The tile of a `wg…` name if it is well formed and fits this device
 * (any such tile computes any problem correctly; lists below only leave out
 * tiles far larger than the problem).
 */
export function gemmTileFor(gpu: Gpu, name: string): GemmTile | undefined {
  const tile = parseGemmTile(name);
  return tile && gemmTileFits(gpu, tile) ? tile : undefined;
}

/** Rough cost of `tile` on an m×n output: padded area × (FMA + staging per FMA). */
function cost(tile: GemmTile, m: number, n: number, symmetric: boolean): number {
  const mt = Math.ceil(m / tile.bm);
  const nt = Math.ceil(n / tile.bn);
  const area = symmetric ? ((mt * (mt + 1)) / 2) * tile.bm * tile.bn : mt * nt * tile.bm * tile.bn;
  // A staged float (global load, workgroup store and barrier share) costs
  // about as much as 16 FMAs; floats staged per FMA = 1/bm + 1/bn.
  return area * (1 + 16 * (1 / tile.bm + 1 / tile.bn));
}

/** `x` costs less than `y`, or as much with a larger tile (better reuse on real GPUs). */
function better(x: GemmTile, y: GemmTile, m: number, n: number, symmetric: boolean): boolean {
  const cx = cost(x, m, n, symmetric);
  const cy = cost(y, m, n, symmetric);
  if (Math.abs(cx - cy) > 1e-9 * cy) return cx < cy;
  return x.bm * x.bn > y.bm * y.bn;
}

/** Tiles of `kind` worth offering for an m×n output, by name. */
export function gemmTileNames(gpu: Gpu, kind: GemmKind, m: number, n: number): string[] {
  const cap = (v: number) => Math.max(16, Math.ceil(v / 16) * 16);
  return TILES[kind]
    .filter((x) => gemmTileFits(gpu, x))
    .filter((x) => x.bn <= cap(n) && (kind === "pixels" ? x.bm <= Math.max(64, m) : x.bm <= cap(m)))
    .map(gemmTileName);
}

/**
 * The untuned tile on a hardware adapter: least estimated cost, except that
 * the pixel passes (no split-K) first need two workgroups per SM of a large
 * GPU (~264) when any tile gives that many. `groups` multiplies tiles.
 */
export function gemmHeuristic(
  gpu: Gpu,
  kind: GemmKind,
  m: number,
  n: number,
  groups: number,
): string | undefined {
  const names = gemmTileNames(gpu, kind, m, n);
  if (names.length === 0) return undefined;
  const tiles = names.map((nm) => ({ nm, tile: parseGemmTile(nm)! }));
  let pool = tiles;
  if (kind === "pixels") {
    const busy = tiles.filter(({ tile }) =>
      Math.ceil(m / tile.bm) * Math.ceil(n / tile.bn) * groups >= 264
    );
    if (busy.length > 0) pool = busy;
  }
  const sym = kind === "gram";
  return pool.reduce((a, b) => (better(b.tile, a.tile, m, n, sym) ? b : a)).nm;
}

/**
 * A short list for the tuner on hardware: the heuristic pick, then the
 * cheapest others by the same estimate (at most `count`).
 */
export function gemmCandidates(
  gpu: Gpu,
  kind: GemmKind,
  m: number,
  n: number,
  groups: number,
  count = 5,
): string[] {
  const first = gemmHeuristic(gpu, kind, m, n, groups);
  if (!first) return [];
  const sym = kind === "gram";
  const rest = gemmTileNames(gpu, kind, m, n)
    .filter((v) => v !== first)
    .sort((a, b) => {
      const [x, y] = [parseGemmTile(a)!, parseGemmTile(b)!];
      return better(x, y, m, n, sym) ? -1 : better(y, x, m, n, sym) ? 1 : 0;
    });
  return [first, ...rest].slice(0, count);
}
