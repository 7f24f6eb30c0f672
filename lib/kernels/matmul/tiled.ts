/**
 * Workgroup-memory tiled matmul over storage buffers: the classic kernel for
 * real GPUs.
 *
 * A workgroup of TX×TY threads computes a BM×BN block (BM = TY·R, BN = TX·R
 * with R×R outputs per thread). K advances in steps of BK: the workgroup
 * stages a BM×BK slice of op(a) and a BK×BN slice of op(b) in workgroup
 * memory (transposes are absorbed by the staging indices, which follow each
 * operand's contiguous dimension so global reads coalesce), then every
 * thread runs R×R FMAs per k from registers. A thread's outputs are strided
 * by TX/TY so neighbouring threads touch neighbouring addresses (coalesced
 * stores, conflict-free shared reads). Out-of-range rows, columns and k are
 * staged as zeros.
 *
 * On llvmpipe every workgroup-memory access is a scalar loop, so this variant
 * is ~100x slower there than the texture kernel; the heuristic uses it only
 * on real GPUs.
 * @module
 */

import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import { wgslEpilogueDecls, wgslEpilogueStore } from "./epilogue.ts";
import type { Epilogue, ResolvedMatmul, ResolvedProblem } from "./types.ts";

/** Workgroup shape of a tiled variant. */
export interface WgTile {
  /** Threads along n. */
  tx: number;
  /** Threads along m. */
  ty: number;
  /** Outputs per thread along each of m and n. */
  r: number;
  /** K step staged per iteration. */
  bk: number;
}

/** WGSL of the workgroup-memory tiled kernel for `p`. */
export function tiledMatmulWgsl(
  p: ResolvedProblem,
  t: WgTile,
  ep: Epilogue,
  maxGrid = 65535,
): string {
  const { m: M, n: N, k: K, batch: BATCH, transA, transB } = p;
  const { tx: TX, ty: TY, r: R, bk: BK } = t;
  const BM = TY * R;
  const BN = TX * R;
  const T = TX * TY;
  const tilesM = Math.ceil(M / BM);
  const tilesN = Math.ceil(N / BN);
  const total = tilesM * tilesN * BATCH;
  const gridX = grid2d(total, maxGrid)[0];
  const bStride = p.bBroadcast ? 0 : K * N;
  const L: string[] = [];
  L.push(
    `// matmul, workgroup tiles ${BM}x${BN}x${BK}, ${transA ? "T" : "N"}${transB ? "T" : "N"}`,
  );
  L.push(`const M = ${M}u;`, `const N = ${N}u;`, `const K = ${K}u;`);
  L.push(`@group(0) @binding(0) var<storage, read> A: array<f32>;`);
  L.push(`@group(0) @binding(1) var<storage, read> B: array<f32>;`);
  L.push(`@group(0) @binding(2) var<storage, read_write> out: array<f32>;`);
  L.push(wgslEpilogueDecls(ep, 3));
  // Staged tiles, k-major: As[kk][i], Bs[kk][j].
  L.push(`var<workgroup> As: array<f32, ${BK * BM}>;`);
  L.push(`var<workgroup> Bs: array<f32, ${BK * BN}>;`);
  L.push(`@compute @workgroup_size(${TX}, ${TY}, 1)`);
  L.push(
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,`,
  );
  L.push(`        @builtin(local_invocation_index) li: u32) {`);
  // The tile index is uniform across the workgroup, so this early return keeps
  // the barriers below in uniform control flow.
  L.push(`  let wl = wid.x + wid.y * ${gridX}u;`);
  L.push(`  if (wl >= ${total}u) { return; }`);
  L.push(`  let tj = wl % ${tilesN}u;`, `  let ti = (wl / ${tilesN}u) % ${tilesM}u;`);
  L.push(`  let bt = wl / ${tilesN * tilesM}u;`);
  L.push(`  let row0 = ti * ${BM}u;`, `  let col0 = tj * ${BN}u;`);
  L.push(`  let aBase = bt * ${M * K}u;`, `  let bBase = bt * ${bStride}u;`);
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) L.push(`  var c${i}_${j} = 0.0;`);
  L.push(`  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {`);
  // Stage op(a)[row0.., k0..]: index e runs along a's contiguous dimension.
  L.push(`    for (var e = li; e < ${BM * BK}u; e += ${T}u) {`);
  if (transA) L.push(`      let kk = e / ${BM}u;`, `      let i = e % ${BM}u;`);
  else L.push(`      let i = e / ${BK}u;`, `      let kk = e % ${BK}u;`);
  L.push(`      let gi = row0 + i;`, `      let gk = k0 + kk;`, `      var v = 0.0;`);
  L.push(
    `      if (gi < M && gk < K) { v = A[aBase + ${transA ? "gk * M + gi" : "gi * K + gk"}]; }`,
  );
  L.push(`      As[kk * ${BM}u + i] = v;`, `    }`);
  L.push(`    for (var e = li; e < ${BK * BN}u; e += ${T}u) {`);
  if (transB) L.push(`      let j = e / ${BK}u;`, `      let kk = e % ${BK}u;`);
  else L.push(`      let kk = e / ${BN}u;`, `      let j = e % ${BN}u;`);
  L.push(`      let gj = col0 + j;`, `      let gk = k0 + kk;`, `      var v = 0.0;`);
  L.push(
    `      if (gj < N && gk < K) { v = B[bBase + ${transB ? "gj * K + gk" : "gk * N + gj"}]; }`,
  );
  L.push(`      Bs[kk * ${BN}u + j] = v;`, `    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`    for (var kk = 0u; kk < ${BK}u; kk++) {`);
  for (let i = 0; i < R; i++) L.push(`      let a${i} = As[kk * ${BM}u + lid.y + ${i * TY}u];`);
  for (let j = 0; j < R; j++) L.push(`      let b${j} = Bs[kk * ${BN}u + lid.x + ${j * TX}u];`);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) L.push(`      c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`);
  }
  L.push(`    }`, `    workgroupBarrier();`, `  }`);
  L.push(`  let oBase = bt * ${M * N}u;`);
  for (let i = 0; i < R; i++) {
    L.push(`  { let row = row0 + lid.y + ${i * TY}u;`);
    L.push(`    if (row < M) {`);
    for (let j = 0; j < R; j++) {
      L.push(`      { let col = col0 + lid.x + ${j * TX}u;`);
      L.push(
        `        if (col < N) { ${
          wgslEpilogueStore(ep, `c${i}_${j}`, "oBase + row * N + col", "col")
        } } }`,
      );
    }
    L.push(`    } }`);
  }
  L.push(`}`);
  return L.join("\n") + "\n";
}

/** Workgroups the tiled kernel dispatches for `p`. */
export function tiledWorkgroups(p: ResolvedProblem, t: WgTile): number {
  return Math.ceil(p.m / (t.ty * t.r)) * Math.ceil(p.n / (t.tx * t.r)) * p.batch;
}

/**
 * Builds the tiled product: one dispatch reading a and b from storage.
 * `maxGrid` (workgroups per dimension before wrapping to 2-D) defaults to the
 * device limit; tests lower it.
 */
export function buildTiledMatmul(
  gpu: Gpu,
  r: ResolvedMatmul,
  t: WgTile,
  variant: string,
  maxGrid = gpu.limits.maxComputeWorkgroupsPerDimension,
): Command[] {
  const { a, b, out, bias } = r.args;
  const code = tiledMatmulWgsl(r, t, r.epilogue, maxGrid);
  return [
    dispatch(
      gpu,
      `${r.label}:${variant}`,
      code,
      [a, b, out, ...(bias ? [bias] : [])],
      grid2d(tiledWorkgroups(r, t), maxGrid),
    ),
  ];
}
