/**
 * WGSL generator of the register-blocked, workgroup-memory-tiled matmul (the
 * `reg_*` variants, see reg.ts for the design and the dispatch side).
 *
 * The generated kernel, for a workgroup tile BM×BN, K step BK and a TM×TN
 * micro-tile per thread (T = BM·BN/(TM·TN) threads):
 * - stages op(a) as As[k][m] and op(b) as Bs[k][n] in workgroup memory, both
 *   as vec4 arrays with rows padded by 4 floats, two buffers each;
 * - loads each operand from global memory in vec4 groups along its
 *   contiguous dimension (one vec4 load when that dimension is a multiple of
 *   4, else four guarded scalar loads);
 * - prefetches the next K tile into registers before computing the current
 *   one, then writes it to the other buffer: one barrier per K step;
 * - computes with the K step fully unrolled: per k, TM/4 + TN/4 vec4 reads of
 *   workgroup memory feed TM·TN/4 vec4 FMAs into vec4 accumulators;
 * - spreads a thread's vec4 columns (and row quads) TX = BN/TN (TY = BM/TM)
 *   vec4s apart, so neighbouring threads read neighbouring vec4s of
 *   workgroup memory and store neighbouring vec4s of the output;
 * - bakes every dimension in as a constant and emits a bounds check only
 *   where a dimension is not a multiple of its tile.
 * @module
 */

import { grid2d } from "../../gpu/commands.ts";
import { wgslEpilogueDecls, wgslEpilogueStore, wgslEpilogueStore4 } from "./epilogue.ts";
import { type StagedOperand, stager } from "./reg_stage.ts";
import type { KSplit } from "./tex.ts";
import type { Epilogue, ResolvedProblem } from "./types.ts";

/** Shape of a register-blocked variant. */
export interface RegTile {
  /** Workgroup tile rows (multiple of tm). */
  bm: number;
  /** Workgroup tile columns (multiple of tn). */
  bn: number;
  /** K step staged per barrier (multiple of 4). */
  bk: number;
  /** Rows per thread (multiple of 4). */
  tm: number;
  /** Columns per thread (multiple of 4). */
  tn: number;
}

/** Floats of padding per staged row: keeps vec4 alignment, spreads transposing stores over banks. */
export const REG_PAD = 4;

/** Tile rows along m grouped together in the workgroup order (L2 reuse of b). */
export const REG_GROUP_M = 8;

/** Threads per workgroup of `t`. */
export function regThreads(t: RegTile): number {
  return (t.bm / t.tm) * (t.bn / t.tn);
}

/** Workgroup memory of `t` in bytes: two buffers of As[bk][bm+4] and Bs[bk][bn+4]. */
export function regWorkgroupBytes(t: RegTile): number {
  return 2 * t.bk * (t.bm + REG_PAD + t.bn + REG_PAD) * 4;
}

const C = ["x", "y", "z", "w"];

/**
 * WGSL of the kernel for `p`. With `epilogue` null the raw sums are stored
 * (split-K partials, laid out [slice][batch][m][n]) and each workgroup covers
 * one K slice of `split`; `split.ks` must then be a multiple of `t.bk`.
 */
export function regMatmulWgsl(
  p: ResolvedProblem,
  t: RegTile,
  epilogue: Epilogue | null,
  split: KSplit = { slices: 1, ks: p.k },
  maxGrid = 65535,
): string {
  const { m: M, n: N, k: K, batch: BATCH, transA, transB } = p;
  const { bm: BM, bn: BN, bk: BK, tm: TM, tn: TN } = t;
  const TX = BN / TN;
  const TY = BM / TM;
  const T = TX * TY;
  const SA4 = (BM + REG_PAD) / 4;
  const SB4 = (BN + REG_PAD) / 4;
  const tilesM = Math.ceil(M / BM);
  const tilesN = Math.ceil(N / BN);
  const tiles = tilesM * tilesN;
  const slices = split.slices;
  const total = tiles * BATCH * slices;
  const gridX = grid2d(total, maxGrid)[0];
  // K tiles per workgroup, and whether the last of them can reach past K.
  const span = slices > 1 ? split.ks : K;
  const NT = Math.ceil(span / BK);
  if (slices > 1 && split.ks % BK !== 0) {
    throw new RangeError(`regMatmulWgsl: K slice ${split.ks} is not a multiple of bk ${BK}`);
  }
  const kGuard = slices > 1 ? slices * split.ks !== K : K % BK !== 0;
  const vecOut = N % 4 === 0;
  const A: StagedOperand = {
    name: "A",
    outer: M,
    tile: BM,
    kContig: !transA,
    vec: (transA ? M : K) % 4 === 0,
    base: `bt * ${M * K}u`,
    stride4: SA4,
  };
  const B: StagedOperand = {
    name: "B",
    outer: N,
    tile: BN,
    kContig: transB,
    vec: (transB ? K : N) % 4 === 0,
    base: p.bBroadcast ? "0u" : `bt * ${K * N}u`,
    stride4: SB4,
  };
  const L: string[] = [];
  const lay = `${transA ? "T" : "N"}${transB ? "T" : "N"}`;
  L.push(
    `// matmul, register blocks ${TM}x${TN}, workgroup tiles ${BM}x${BN}x${BK}, ${lay}` +
      (slices > 1 ? `, K slice ${split.ks} of ${slices}` : ""),
  );
  for (const o of [A, B]) {
    const ty = o.vec ? "vec4<f32>" : "f32";
    L.push(
      `@group(0) @binding(${o.name === "A" ? 0 : 1}) var<storage, read> ${o.name}: array<${ty}>;`,
    );
  }
  L.push(
    `@group(0) @binding(2) var<storage, read_write> out: array<${vecOut ? "vec4<f32>" : "f32"}>;`,
  );
  if (epilogue) L.push(wgslEpilogueDecls(epilogue, 3));
  L.push(`var<workgroup> As: array<vec4<f32>, ${2 * BK * SA4}>;`);
  L.push(`var<workgroup> Bs: array<vec4<f32>, ${2 * BK * SB4}>;`);
  L.push(`@compute @workgroup_size(${T}, 1, 1)`);
  L.push(
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {`,
  );
  // Uniform across the workgroup, so the barriers below stay in uniform control flow.
  L.push(`  let wl = wid.x + wid.y * ${gridX}u;`, `  if (wl >= ${total}u) { return; }`);
  L.push(`  let tl = wl % ${tiles}u;`, `  let bs = wl / ${tiles}u;`);
  if (slices > 1) {
    L.push(`  let bt = bs % ${BATCH}u;`, `  let kBase = (bs / ${BATCH}u) * ${split.ks}u;`);
  } else L.push(`  let bt = bs;`, `  let kBase = 0u;`);
  // Tiles run in groups of REG_GROUP_M tile rows, column by column inside a group.
  const G = REG_GROUP_M;
  L.push(`  let grp = tl / ${G * tilesN}u;`, `  let gm0 = grp * ${G}u;`);
  L.push(`  let gsz = min(${tilesM}u - gm0, ${G}u);`, `  let inG = tl % ${G * tilesN}u;`);
  L.push(`  let row0 = (gm0 + inG % gsz) * ${BM}u;`, `  let col0 = (inG / gsz) * ${BN}u;`);
  L.push(`  let tx = li % ${TX}u;`, `  let ty = li / ${TX}u;`);
  for (let i = 0; i < TM; i++) {
    for (let q = 0; q < TN / 4; q++) L.push(`  var acc${i}_${q} = vec4<f32>(0.0);`);
  }
  const stage = [A, B].map((o) => stager(o, { threads: T, bk: BK, k: K, kGuard }));
  for (const s of stage) L.push(...s.decls);
  L.push(`  // Tile 0, then per K step: prefetch the next tile, compute, stage it, one barrier.`);
  for (const s of stage) L.push(...s.load("kBase"));
  for (const s of stage) L.push(...s.store("0u"));
  L.push(`  workgroupBarrier();`);
  L.push(`  for (var kt = 0u; kt < ${NT}u; kt++) {`);
  L.push(`    let cur = kt & 1u;`, `    let more = kt + 1u < ${NT}u;`);
  L.push(`    if (more) {`, `      let k0 = kBase + (kt + 1u) * ${BK}u;`);
  for (const s of stage) L.push(...s.load("k0").map((l) => `    ${l}`));
  L.push(`    }`);
  L.push(`    let ra = cur * ${BK * SA4}u + ty;`, `    let rb = cur * ${BK * SB4}u + tx;`);
  for (let kk = 0; kk < BK; kk++) {
    L.push(`    {`);
    for (let pq = 0; pq < TM / 4; pq++) {
      L.push(`      let a${pq} = As[ra + ${kk * SA4 + pq * TY}u];`);
    }
    for (let q = 0; q < TN / 4; q++) L.push(`      let b${q} = Bs[rb + ${kk * SB4 + q * TX}u];`);
    for (let i = 0; i < TM; i++) {
      const a = `vec4<f32>(a${i >> 2}.${C[i & 3]})`;
      for (let q = 0; q < TN / 4; q++) {
        L.push(`      acc${i}_${q} = fma(${a}, b${q}, acc${i}_${q});`);
      }
    }
    L.push(`    }`);
  }
  L.push(`    if (more) {`);
  for (const s of stage) L.push(...s.store("1u - cur").map((l) => `    ${l}`));
  L.push(`    }`, `    workgroupBarrier();`, `  }`);
  storeOutputs(L, p, t, epilogue, slices > 1);
  L.push(`}`);
  return L.join("\n") + "\n";
}

/** Appends the output stores: epilogue per vec4 (or per value when n % 4 ≠ 0), or raw partials. */
function storeOutputs(
  L: string[],
  p: ResolvedProblem,
  t: RegTile,
  ep: Epilogue | null,
  partial: boolean,
) {
  const { m: M, n: N } = p;
  const TX = t.bn / t.tn;
  const TY = t.bm / t.tm;
  const vecOut = N % 4 === 0;
  const rowGuard = M % t.bm !== 0;
  const colGuard = N % t.bn !== 0;
  // Partials are laid out [slice][batch][m][n]: bs = slice·batch + bt.
  L.push(`  let oBase = ${partial ? "bs" : "bt"} * ${M * N}u;`);
  for (let i = 0; i < t.tm; i++) {
    L.push(`  {`, `    let row = row0 + ${4 * TY * (i >> 2) + (i & 3)}u + ty * 4u;`);
    if (rowGuard) L.push(`    if (row < ${M}u) {`);
    for (let q = 0; q < t.tn / 4; q++) {
      const acc = `acc${i}_${q}`;
      L.push(`    {`, `      let col = col0 + (tx + ${q * TX}u) * 4u;`);
      if (vecOut) {
        const idx4 = `(oBase + row * ${N}u + col) / 4u`;
        const st = ep ? wgslEpilogueStore4(ep, acc, idx4, "col") : `out[${idx4}] = ${acc};`;
        L.push(colGuard ? `      if (col < ${N}u) { ${st} }` : `      ${st}`);
      } else {
        for (let c = 0; c < 4; c++) {
          const idx = `oBase + row * ${N}u + col + ${c}u`;
          const v = `${acc}.${C[c]}`;
          const st = ep ? wgslEpilogueStore(ep, v, idx, `col + ${c}u`) : `out[${idx}] = ${v};`;
          L.push(`      if (col + ${c}u < ${N}u) { ${st} }`);
        }
      }
      L.push(`    }`);
    }
    if (rowGuard) L.push(`    }`);
    L.push(`  }`);
  }
}
