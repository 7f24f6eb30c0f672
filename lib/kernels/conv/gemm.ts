/**
 * Register-tiled implicit GEMM over storage buffers: the GPU-class kernel of
 * every conv pass and patch/dense Gram (`wg…` variants).
 *
 * `C[g][m][n] = Σ_k A(g, m, k) · B(g, k, n)`, with A and B gathered from the
 * tensors by operand generators (gemm_operands.ts; im2col is never stored).
 * A workgroup owns a BM×BN tile; each k step stages a BK-deep slice of A and
 * B in workgroup memory as vec4 rows (`As[k][m]`, `Bs[k][n]`), and each
 * thread accumulates a TM×TN register tile of vec4 accumulators (four
 * columns per FMA). Design points, each a fix of the older `tiled` kernel:
 * - Tiles sized to the problem: narrow channel counts get 16- or 32-wide
 *   tiles instead of 64-wide tiles that mostly compute padding.
 * - Index math hoisted: every load slot keeps the same fixed coordinate
 *   (a pixel, or a channel column) for the whole loop, so its im2col
 *   decomposition is computed once; per step only the varying coordinate
 *   is decomposed, with divisions by constants.
 * - vec4 global loads along channels where the channel count allows.
 * - Register prefetch: the next slice is fetched into registers while the
 *   current one is multiplied, so global latency hides behind the FMAs.
 * - Conflict-free workgroup reads: a thread's four-column blocks are spaced
 *   by the thread count along that axis (neighbouring threads read
 *   neighbouring vec4s, and store neighbouring addresses).
 * - Split-K in two forms, both deterministic: `splits` chunks of the
 *   reduction on the grid, whose partial sums a second pass adds in a fixed
 *   order (reduce.ts), and `ks` slices of each BK step inside a workgroup,
 *   added through workgroup memory in slice order. Small outputs with long
 *   reductions (weight gradients, Grams) get their parallelism from these.
 * - Symmetric products (Grams) launch only tiles on or above the diagonal.
 * @module
 */

import type { GemmOperand } from "./gemm_operands.ts";
import { slotCode } from "./gemm_slots.ts";
import { range } from "../wgsl.ts";

/** Tile configuration of a `wg` variant. */
export interface GemmTile {
  /** Rows (m) per workgroup tile, a multiple of 4·(threads along m). */
  bm: number;
  /** Columns (n) per workgroup tile. */
  bn: number;
  /** Reduction depth staged per step, a multiple of 4 and of `ks`. */
  bk: number;
  /** Rows per thread (multiple of 4). */
  tm: number;
  /** Columns per thread (multiple of 4). */
  tn: number;
  /** Slices of each step computed by separate threads (1 = none). */
  ks: number;
}

/** The variant name of a tile: `wg<bm>x<bn>x<bk>_r<tm>x<tn>[_z<ks>]`. */
export function gemmTileName(t: GemmTile): string {
  return `wg${t.bm}x${t.bn}x${t.bk}_r${t.tm}x${t.tn}${t.ks > 1 ? `_z${t.ks}` : ""}`;
}

/** Parses a `wg…` variant name; undefined when `name` is not one or is malformed. */
export function parseGemmTile(name: string): GemmTile | undefined {
  const m = /^wg(\d+)x(\d+)x(\d+)_r(\d+)x(\d+)(?:_z(\d+))?$/.exec(name);
  if (!m) return undefined;
  const t = {
    bm: Number(m[1]),
    bn: Number(m[2]),
    bk: Number(m[3]),
    tm: Number(m[4]),
    tn: Number(m[5]),
    ks: m[6] ? Number(m[6]) : 1,
  };
  return tileWellFormed(t) ? t : undefined;
}

/** Threads of one workgroup. */
export function gemmThreads(t: GemmTile): number {
  return (t.bm / t.tm) * (t.bn / t.tn) * t.ks;
}

/** Bytes of workgroup memory a tile uses (staged slices plus the slice sums). */
export function gemmSharedBytes(t: GemmTile): number {
  return 4 * (t.bk * (t.bm + t.bn) + (t.ks - 1) * t.bm * t.bn);
}

function tileWellFormed(t: GemmTile): boolean {
  const pos = [t.bm, t.bn, t.bk, t.tm, t.tn, t.ks].every((v) => Number.isInteger(v) && v >= 1);
  return pos && t.tm % 4 === 0 && t.tn % 4 === 0 && t.bm % t.tm === 0 && t.bn % t.tn === 0 &&
    t.bk % 4 === 0 && t.bk % t.ks === 0;
}

/** Everything the generator bakes into one shader. */
export interface GemmSpec {
  /** Kernel label (shown by the profiler). */
  label: string;
  /** Rows per group. */
  m: number;
  /** Columns per group. */
  n: number;
  /** Reduction length. */
  k: number;
  /** Independent products. */
  groups: number;
  /** Reduction chunks on the grid (1 = none). */
  splits: number;
  /** m = n and only tiles with tile row ≤ tile column are run (needs bm = bn). */
  symmetric: boolean;
  /** Tile configuration. */
  tile: GemmTile;
  /** Left operand A(m, k). */
  a: GemmOperand;
  /** Right operand B(k, n). */
  b: GemmOperand;
  /**
   * WGSL binding declarations, plus `fn store4(g: u32, s: u32, m: u32, n: u32,
   * v: vec4<f32>)` storing columns n..n+3 of row m (called with m < M, n < N;
   * it must skip columns ≥ N itself).
   */
  decls: string;
  /**
   * WGSL expression (of the group index `g`, uniform per workgroup) for the
   * reduction length of group g when it is shorter than `k` (columns past it
   * are zero for that group, so their steps are skipped). Default: `k`.
   */
  kEnd?: string;
}

/** Tiles per group (triangle when symmetric). */
export function gemmTiles(s: GemmSpec): number {
  const mt = Math.ceil(s.m / s.tile.bm);
  const nt = Math.ceil(s.n / s.tile.bn);
  return s.symmetric ? (mt * (mt + 1)) / 2 : mt * nt;
}

/** Workgroups of the whole dispatch. */
export function gemmWorkgroups(s: GemmSpec): number {
  return gemmTiles(s) * s.groups * s.splits;
}

/** Reduction length per chunk (a multiple of bk, so steps never straddle chunks). */
export function gemmChunk(s: GemmSpec): number {
  return Math.ceil(Math.ceil(s.k / s.splits) / s.tile.bk) * s.tile.bk;
}

/** WGSL source of the kernel. Dispatch with `grid2d(gemmWorkgroups(s))`. */
export function gemmWgsl(s: GemmSpec, gridX: number): string {
  const t = s.tile;
  if (!tileWellFormed(t)) throw new RangeError(`${s.label}: malformed tile ${gemmTileName(t)}`);
  if (s.symmetric && (t.bm !== t.bn || s.m !== s.n)) {
    throw new RangeError(`${s.label}: a symmetric product needs square tiles and m = n`);
  }
  const TX = t.bn / t.tn; // threads along n
  const TY = t.bm / t.tm; // threads along m
  const TXY = TX * TY;
  const T = TXY * t.ks;
  const QM = t.tm / 4; // vec4 row blocks per thread
  const QN = t.tn / 4; // vec4 column blocks per thread
  const nt = Math.ceil(s.n / t.bn);
  const tiles = gemmTiles(s);
  const total = gemmWorkgroups(s);
  const chunk = gemmChunk(s);
  const sliceK = t.bk / t.ks;
  const A = slotCode(s.a, "A", t.bm, t.bk, T, "m0");
  // A symmetric product with a single tile row has only its diagonal tile,
  // whose B slice is its A slice: stage once, read both sides from As.
  const oneTile = s.symmetric && Math.ceil(s.m / t.bm) === 1;
  const B = oneTile
    ? { prep: "", fetch: (_: string) => "", stash: "" }
    : slotCode(s.b, "B", t.bn, t.bk, T, "n0");
  const acc = (i: number, j: number) => `c${i}_${j}`;
  const accs = range(t.tm).flatMap((i) => range(QN).map((j) => acc(i, j)));
  const L: string[] = [];
  L.push(
    `// ${s.label}: implicit GEMM ${s.m}x${s.n}x${s.k} x${s.groups} groups, ${s.splits} chunks, ` +
      `tile ${gemmTileName(t)}${s.symmetric ? ", upper tiles" : ""}`,
  );
  L.push(s.decls, s.a.code("A"), oneTile ? "" : s.b.code("B"));
  L.push(`var<workgroup> As: array<vec4<f32>, ${(t.bk * t.bm) / 4}>;`);
  if (!oneTile) L.push(`var<workgroup> Bs: array<vec4<f32>, ${(t.bk * t.bn) / 4}>;`);
  if (t.ks > 1) L.push(`var<workgroup> Red: array<vec4<f32>, ${((t.ks - 1) * t.bm * t.bn) / 4}>;`);
  L.push(`@compute @workgroup_size(${T})`);
  L.push(
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {`,
  );
  // Uniform early exit (derived from the workgroup id only), so barriers stay uniform.
  L.push(`  let wl = wid.x + wid.y * ${gridX}u;`, `  if (wl >= ${total}u) { return; }`);
  L.push(`  let t = wl % ${tiles}u;`, `  let g = (wl / ${tiles}u) % ${s.groups}u;`);
  L.push(`  let s = wl / ${tiles * s.groups}u;`);
  if (s.symmetric) {
    // Tile t of the upper triangle: t = tn·(tn+1)/2 + tm with tm ≤ tn.
    L.push(`  var tn = u32((sqrt(f32(8u * t + 1u)) - 1.0) * 0.5);`);
    L.push(`  if ((tn + 1u) * (tn + 2u) / 2u <= t) { tn += 1u; }`);
    L.push(`  if (tn * (tn + 1u) / 2u > t) { tn -= 1u; }`);
    L.push(`  let tm = t - tn * (tn + 1u) / 2u;`);
  } else {
    L.push(`  let tm = t / ${nt}u;`, `  let tn = t % ${nt}u;`);
  }
  L.push(`  let m0 = tm * ${t.bm}u;`, `  let n0 = tn * ${t.bn}u;`);
  L.push(`  let tx = li % ${TX}u;`, `  let ty = (li / ${TX}u) % ${TY}u;`);
  L.push(`  let z = li / ${TXY}u;`);
  L.push(`  let kb = s * ${chunk}u;`);
  L.push(`  let ke = min(${s.kEnd ? `min(${s.k}u, ${s.kEnd})` : `${s.k}u`}, kb + ${chunk}u);`);
  L.push(A.prep, B.prep);
  for (const a of accs) L.push(`  var ${a} = vec4<f32>(0.0);`);
  L.push(`  var k0 = kb;`);
  L.push(A.fetch("k0"), B.fetch("k0"));
  L.push(`  for (; k0 < ke; k0 += ${t.bk}u) {`);
  L.push(A.stash, B.stash);
  L.push(`    workgroupBarrier();`);
  // Fetch the next slice while this one is multiplied.
  L.push(`    let kn = k0 + ${t.bk}u;`, `    if (kn < ke) {`);
  L.push(A.fetch("kn"), B.fetch("kn"), `    }`);
  // Uniform trip count (barriers follow); the slice only offsets addresses.
  L.push(`    for (var kq = 0u; kq < ${sliceK}u; kq++) {`, `      let kk = z * ${sliceK}u + kq;`);
  for (const i of range(QM)) L.push(`      let a${i} = As[kk * ${t.bm / 4}u + ${i * TY}u + ty];`);
  const bs = oneTile ? "As" : "Bs";
  for (const j of range(QN)) {
    L.push(`      let b${j} = ${bs}[kk * ${t.bn / 4}u + ${j * TX}u + tx];`);
  }
  for (const i of range(t.tm)) {
    for (const j of range(QN)) {
      const a = `a${Math.floor(i / 4)}[${i % 4}]`;
      L.push(`      ${acc(i, j)} = fma(vec4<f32>(${a}), b${j}, ${acc(i, j)});`);
    }
  }
  L.push(`    }`, `    workgroupBarrier();`, `  }`);
  if (t.ks > 1) {
    // Slices 1.. hand their sums to slice 0, which adds them in slice order.
    const xy = `(li % ${TXY}u)`;
    L.push(`  if (z > 0u) {`);
    accs.forEach((a, q) =>
      L.push(`    Red[((z - 1u) * ${accs.length}u + ${q}u) * ${TXY}u + ${xy}] = ${a};`)
    );
    L.push(`  }`, `  workgroupBarrier();`, `  if (z > 0u) { return; }`);
    for (const zz of range(t.ks - 1)) {
      accs.forEach((a, q) =>
        L.push(`  ${a} += Red[(${zz * accs.length + q}u) * ${TXY}u + ${xy}];`)
      );
    }
  }
  for (const i of range(t.tm)) {
    const row = `m0 + (${Math.floor(i / 4) * TY}u + ty) * 4u + ${i % 4}u`;
    L.push(`  { let m = ${row};`, `    if (m < ${s.m}u) {`);
    for (const j of range(QN)) {
      L.push(`      { let n = n0 + (${j * TX}u + tx) * 4u;`);
      L.push(`        if (n < ${s.n}u) { store4(g, s, m, n, ${acc(i, j)}); } }`);
    }
    L.push(`    } }`);
  }
  L.push(`}`);
  return L.join("\n") + "\n";
}
