/**
 * Register-tiled matmul reading both operands from texture mirrors: the fast
 * kernel on software adapters (llvmpipe), see the platform notes §5.
 *
 * Each invocation computes a TM×TN block of the output with vec4
 * accumulators (along n), stepping K by 4; workgroups are (8,1,1) because
 * llvmpipe packs consecutive invocations into its 8 SIMD lanes, and no
 * workgroup memory is used (it is as slow as storage buffers there). The
 * tile body is unrolled in the generated WGSL and every dimension is a
 * constant, so the JIT sees straight-line FMAs.
 *
 * Edges: a tile that would stick out of the matrix is shifted back inside it
 * and writes only the rows/columns no earlier tile owns, so every load is in
 * bounds without per-load clamping. An operand is read a texel (4 values) at
 * a time along its contiguous dimension; when that dimension is not a
 * multiple of 4, rows start mid-texel and each run of values is read as one
 * extra texel and realigned. A K tail (K % 4 values) gets one extra,
 * shortened copy of the loop body. When n % 4 ≠ 0 the output is staged in
 * workgroup memory (see {@link texWorkgroupBytes}).
 *
 * Compile time matters here: llvmpipe JIT-compiles each shape on first use,
 * and its cost grows with the number of texture-load and storage-access
 * sites, so stores are vec4 where possible and the epilogue's activation runs
 * in a loop (a 16×16 tile compiles in ~0.5 s, a 32×32 one in ~5 s).
 * @module
 */

import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { wgslFlatReaders } from "../../gpu/texture.ts";
import { f32Lit } from "../wgsl.ts";
import { wgslEpilogueDecls, wgslEpilogueStore, wgslEpilogueStore4 } from "./epilogue.ts";
import { mirrorCopy, textureMirror } from "./mirror.ts";
import type { Epilogue, ResolvedMatmul, ResolvedProblem } from "./types.ts";

/** Output block computed by one invocation. */
export interface TexTile {
  /** Rows per invocation (multiple of 4). */
  tm: number;
  /** Columns per invocation (multiple of 4). */
  tn: number;
}

/** Split of K across invocations (split-K's first pass). */
export interface KSplit {
  /** Number of K slices. */
  slices: number;
  /** Length of every slice but the last (a multiple of 4). */
  ks: number;
}

/** Invocations per workgroup (llvmpipe's SIMD width for f32 on AVX2). */
export const TEX_WORKGROUP = 8;

const COMP = ["x", "y", "z", "w"];

/** Values s..s+3 of the 8 in (a, b), for s in 0..3: a misaligned vec4 read. */
const WGSL_REALIGN = `fn realign(a: vec4<f32>, b: vec4<f32>, s: u32) -> vec4<f32> {
  let v1 = vec4<f32>(a.yzw, b.x);
  let v2 = vec4<f32>(a.zw, b.xy);
  let v3 = vec4<f32>(a.w, b.xyz);
  return select(select(select(a, v1, s == 1u), v2, s == 2u), v3, s == 3u);
}
`;

/** The effective tile for a problem: never larger than the matrix. */
export function texEffectiveTile(p: ResolvedProblem, tile: TexTile): TexTile {
  return { tm: Math.min(tile.tm, p.m), tn: Math.min(tile.tn, p.n) };
}

/**
 * Workgroup memory the kernel needs: none when n % 4 = 0, else a staging
 * slice of TM×TN values (rounded up to vec4s) per invocation.
 */
export function texWorkgroupBytes(p: ResolvedProblem, tile: TexTile): number {
  if (p.n % 4 === 0) return 0;
  const t = texEffectiveTile(p, tile);
  return TEX_WORKGROUP * t.tm * Math.ceil(t.tn / 4) * 16;
}

/** Number of invocations (tiles × batch × slices) the kernel runs. */
export function texInvocations(p: ResolvedProblem, tile: TexTile, slices = 1): number {
  const t = texEffectiveTile(p, tile);
  return Math.ceil(p.m / t.tm) * Math.ceil(p.n / t.tn) * p.batch * slices;
}

/**
 * WGSL of the texture-tiled kernel. With `epilogue` null the raw sums are
 * stored (split-K partials, laid out [slice][batch][m][n]); `split` restricts
 * each invocation to one K slice.
 */
export function texMatmulWgsl(
  p: ResolvedProblem,
  tile: TexTile,
  epilogue: Epilogue | null,
  split: KSplit = { slices: 1, ks: p.k },
  maxGrid = 65535,
): string {
  const { m: M, n: N, k: K, batch: BATCH, transA, transB } = p;
  const { tm: TM, tn: TN } = texEffectiveTile(p, tile);
  const G = Math.ceil(TN / 4);
  const K4 = Math.floor(K / 4);
  const REM = K % 4;
  // Vector reads need the operand's contiguous dimension to be a multiple of 4
  // so that every row starts on a texel boundary.
  const aVec = transA ? M % 4 === 0 : K % 4 === 0;
  const bVec = transB ? K % 4 === 0 : N % 4 === 0;
  const tilesM = Math.ceil(M / TM);
  const tilesN = Math.ceil(N / TN);
  const total = tilesM * tilesN * BATCH * split.slices;
  const gridX = grid2d(Math.ceil(total / TEX_WORKGROUP), maxGrid)[0];
  const bBatchStride = p.bBroadcast ? 0 : K * N;
  // n % 4 = 0 makes every output row start on a vec4 boundary.
  const vecOut = N % 4 === 0;
  const L: string[] = [];

  const lastA = Math.ceil((BATCH * M * K) / 4) - 1;
  const lastB = Math.ceil(((p.bBroadcast ? 1 : BATCH) * K * N) / 4) - 1;
  // A misaligned run of `len` values from element `e` is read as
  // ceil(len/4)+1 texels and realigned by e % 4 into vec4s `<name>_<q>`: half
  // the texture loads of element-wise reads, and load sites are what drives
  // the JIT's compile time. Lanes past the run hold neighbouring (or clamped)
  // values that only ever reach accumulators which are never stored.
  const span = (tex: "A" | "B", name: string, e: string, len: number, last: number) => {
    const groups = Math.ceil(len / 4);
    L.push(`    let ${name}e = ${e};`, `    let ${name}t = ${name}e >> 2u;`);
    L.push(`    let ${name}r0 = ${tex}_v4(${name}t);`);
    for (let q = 1; q <= groups; q++) {
      L.push(`    let ${name}r${q} = ${tex}_v4(min(${name}t + ${q}u, ${last}u));`);
    }
    for (let q = 0; q < groups; q++) {
      L.push(`    let ${name}_${q} = realign(${name}r${q}, ${name}r${q + 1}, ${name}e & 3u);`);
    }
  };

  // Operand loads for a K chunk starting at element kc = 4·kq, `cnt` values.
  // They define vectors and return expressions for op(a)[i][kk] and for the
  // vec4 of op(b)[kk][4g..4g+3].
  const loadA = (kq: string, cnt: number): (i: number, kk: number) => string => {
    if (aVec && !transA) {
      for (let i = 0; i < TM; i++) L.push(`    let a${i} = A_v4(aT + ${i * (K / 4)}u + ${kq});`);
      return (i, kk) => `a${i}.${COMP[kk]}`;
    }
    if (aVec && transA) {
      L.push(`    let aq = aT + ${kq} * ${M}u;`);
      for (let kk = 0; kk < cnt; kk++) {
        for (let q = 0; q < TM / 4; q++) {
          L.push(`    let a${kk}_${q} = A_v4(aq + ${kk * (M / 4) + q}u);`);
        }
      }
      return (i, kk) => `a${kk}_${i >> 2}.${COMP[i & 3]}`;
    }
    L.push(`    let ak = ${kq} * 4u;`);
    if (transA) {
      for (let kk = 0; kk < cnt; kk++) span("A", `a${kk}`, `aE + (ak + ${kk}u) * ${M}u`, TM, lastA);
      return (i, kk) => `a${kk}_${i >> 2}.${COMP[i & 3]}`;
    }
    for (let i = 0; i < TM; i++) span("A", `a${i}`, `aE + ${i * K}u + ak`, 4, lastA);
    return (i, kk) => `a${i}_0.${COMP[kk]}`;
  };
  const loadB = (kq: string, cnt: number): (kk: number, g: number) => string => {
    const vec4Of = (el: (j: number) => string) => (g: number) =>
      `vec4<f32>(${[0, 1, 2, 3].map((c) => (4 * g + c < TN ? el(4 * g + c) : "0.0")).join(", ")})`;
    if (bVec && !transB) {
      L.push(`    let bq = bT + ${kq} * ${N}u;`);
      for (let kk = 0; kk < cnt; kk++) {
        for (let g = 0; g < G; g++) {
          L.push(`    let b${kk}_${g} = B_v4(bq + ${kk * (N / 4) + g}u);`);
        }
      }
      return (kk, g) => `b${kk}_${g}`;
    }
    if (bVec && transB) {
      for (let j = 0; j < TN; j++) L.push(`    let b${j} = B_v4(bT + ${j * (K / 4)}u + ${kq});`);
      return (kk, g) => vec4Of((j) => `b${j}.${COMP[kk]}`)(g);
    }
    L.push(`    let bk = ${kq} * 4u;`);
    if (transB) {
      for (let j = 0; j < TN; j++) span("B", `b${j}`, `bE + ${j * K}u + bk`, 4, lastB);
      return (kk, g) => vec4Of((j) => `b${j}_0.${COMP[kk]}`)(g);
    }
    for (let kk = 0; kk < cnt; kk++) span("B", `b${kk}`, `bE + (bk + ${kk}u) * ${N}u`, TN, lastB);
    return (kk, g) => `b${kk}_${g}`;
  };
  const fmas = (
    a: (i: number, kk: number) => string,
    b: (kk: number, g: number) => string,
    cnt: number,
  ) => {
    for (let kk = 0; kk < cnt; kk++) {
      for (let g = 0; g < G; g++) L.push(`    let bv${kk}_${g} = ${b(kk, g)};`);
    }
    // Accumulator-outer order: each accumulator takes its `cnt` FMAs back to
    // back, so the JIT loads/spills it once per chunk (measured 1.5-2x faster
    // on llvmpipe than k-outer order, which touches every accumulator per k).
    for (let i = 0; i < TM; i++) {
      for (let g = 0; g < G; g++) {
        for (let kk = 0; kk < cnt; kk++) {
          L.push(`    c${i}_${g} = fma(vec4<f32>(${a(i, kk)}), bv${kk}_${g}, c${i}_${g});`);
        }
      }
    }
  };

  L.push(`// matmul, textures, tile ${TM}x${TN}, ${transA ? "T" : "N"}${transB ? "T" : "N"}`);
  L.push(`const M = ${M}u;`, `const N = ${N}u;`, `const K = ${K}u;`);
  L.push(`@group(0) @binding(0) var A: texture_2d<f32>;`);
  L.push(`@group(0) @binding(1) var B: texture_2d<f32>;`);
  L.push(
    `@group(0) @binding(2) var<storage, read_write> out: array<${vecOut ? "vec4<f32>" : "f32"}>;`,
  );
  if (epilogue) L.push(wgslEpilogueDecls(epilogue, 3));
  L.push(wgslFlatReaders("A"), wgslFlatReaders("B"));
  if (!aVec || !bVec) L.push(WGSL_REALIGN);
  if (!vecOut) L.push(`var<workgroup> stage: array<vec4<f32>, ${TEX_WORKGROUP * TM * G}>;`);
  L.push(`@compute @workgroup_size(${TEX_WORKGROUP}, 1, 1)`);
  L.push(`fn main(@builtin(global_invocation_id) gid: vec3<u32>,`);
  L.push(`        @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let id = gid.x + gid.y * ${gridX * TEX_WORKGROUP}u;`);
  L.push(`  if (id >= ${total}u) { return; }`);
  L.push(`  let tj = id % ${tilesN}u;`);
  L.push(`  var r = id / ${tilesN}u;`);
  L.push(`  let ti = r % ${tilesM}u;`);
  L.push(`  r = r / ${tilesM}u;`);
  L.push(`  let bt = r % ${BATCH}u;`);
  L.push(`  let sl = r / ${BATCH}u;`);
  // Tiles past the edge shift back inside; skip* rows/cols belong to the previous tile.
  L.push(
    `  let ownR = ti * ${TM}u;`,
    `  let row0 = min(ownR, ${M - TM}u);`,
    `  let skipR = ownR - row0;`,
  );
  L.push(
    `  let ownC = tj * ${TN}u;`,
    `  let col0 = min(ownC, ${N - TN}u);`,
    `  let skipC = ownC - col0;`,
  );
  if (aVec) {
    L.push(
      transA
        ? `  let aT = (bt * ${M * K}u + row0) / 4u;`
        : `  let aT = (bt * ${M * K}u + row0 * K) / 4u;`,
    );
  } else {
    L.push(transA ? `  let aE = bt * ${M * K}u + row0;` : `  let aE = bt * ${M * K}u + row0 * K;`);
  }
  if (bVec) {
    L.push(
      transB
        ? `  let bT = (bt * ${bBatchStride}u + col0 * K) / 4u;`
        : `  let bT = (bt * ${bBatchStride}u + col0) / 4u;`,
    );
  } else {
    L.push(
      transB
        ? `  let bE = bt * ${bBatchStride}u + col0 * K;`
        : `  let bE = bt * ${bBatchStride}u + col0;`,
    );
  }
  for (let i = 0; i < TM; i++) {
    for (let g = 0; g < G; g++) L.push(`  var c${i}_${g} = vec4<f32>(0.0);`);
  }
  if (split.slices > 1) {
    const ksq = split.ks / 4;
    L.push(`  let kqBeg = sl * ${ksq}u;`, `  let kqEnd = min(kqBeg + ${ksq}u, ${K4}u);`);
  } else {
    L.push(`  let kqBeg = 0u;`, `  let kqEnd = ${K4}u;`);
  }
  L.push(`  for (var kq = kqBeg; kq < kqEnd; kq++) {`);
  {
    const a = loadA("kq", 4);
    const b = loadB("kq", 4);
    fmas(a, b, 4);
  }
  L.push(`  }`);
  if (REM > 0) {
    // The K tail (K % 4 values) belongs to the last slice.
    L.push(split.slices > 1 ? `  if (sl == ${split.slices - 1}u) {` : `  {`);
    const a = loadA(`${K4}u`, REM);
    const b = loadB(`${K4}u`, REM);
    fmas(a, b, REM);
    L.push(`  }`);
  }
  const outBase = epilogue ? "" : ` + sl * ${BATCH * M * N}u`;
  L.push(`  let oBase = bt * ${M * N}u + row0 * N + col0${outBase};`);
  // Stores. Every storage access compiles on llvmpipe into a per-lane loop
  // with bounds checks, so store *sites* drive compile time. When n % 4 = 0
  // rows of 4 outputs are stored as one vec4 and bias/activation run in a
  // genuine loop re-reading the finished tile (unrolled TM×TN activations
  // made a 32×32 gelu tile take two minutes to compile). Otherwise the tile
  // is staged as vec4s in this invocation's slice of workgroup memory and a
  // loop stores it element by element with the whole epilogue (TM×TN unrolled
  // scalar stores took ~20 s to compile for a 32×32 tile).
  const ep = epilogue;
  if (vecOut) {
    const scaled = (v: string, old: string) => {
      let x = ep && ep.alpha !== 1 ? `${f32Lit(ep.alpha)} * ${v}` : v;
      if (ep && ep.beta !== 0) x = `${x} + ${f32Lit(ep.beta)} * ${old}`;
      return x;
    };
    L.push(`  let oQ = oBase / 4u;`);
    for (let i = 0; i < TM; i++) {
      L.push(`  if (skipR <= ${i}u) {`);
      for (let g = 0; g < G; g++) {
        const idx = `oQ + ${(i * N) / 4 + g}u`;
        L.push(
          `    if (skipC <= ${4 * g}u) { out[${idx}] = ${scaled(`c${i}_${g}`, `out[${idx}]`)}; }`,
        );
      }
      L.push(`  }`);
    }
    if (ep && (ep.hasBias || ep.activation !== "none")) {
      L.push(`  for (var i = skipR; i < ${TM}u; i++) {`);
      L.push(`    for (var g = skipC / 4u; g < ${G}u; g++) {`);
      L.push(`      let idx = oQ + i * ${N / 4}u + g;`);
      L.push(
        `      ${
          wgslEpilogueStore4({ ...ep, alpha: 1, beta: 0 }, "out[idx]", "idx", "col0 + g * 4u")
        }`,
      );
      L.push(`    }`, `  }`);
    }
  } else {
    L.push(`  let sBase = lid * ${TM * G}u;`);
    for (let i = 0; i < TM; i++) {
      for (let g = 0; g < G; g++) L.push(`  stage[sBase + ${i * G + g}u] = c${i}_${g};`);
    }
    L.push(`  for (var i = skipR; i < ${TM}u; i++) {`);
    L.push(`    for (var j = skipC; j < ${TN}u; j++) {`);
    L.push(`      let v = stage[sBase + i * ${G}u + j / 4u][j % 4u];`);
    L.push(`      let idx = oBase + i * N + j;`);
    L.push(`      ${ep ? wgslEpilogueStore(ep, "v", "idx", "col0 + j") : "out[idx] = v;"}`);
    L.push(`    }`, `  }`);
  }
  L.push(`}`);
  return L.join("\n") + "\n";
}

/** Options of {@link buildTexMatmul}. */
export interface TexBuildOptions {
  /** Store raw partial sums of one K slice per invocation into `out` (split-K). */
  partial?: { out: Tensor; split: KSplit };
  /** Workgroups per grid dimension before wrapping to 2-D (tests lower it). */
  maxGrid?: number;
}

/**
 * Builds the texture-tiled product: mirror copies of a and b, then one
 * dispatch (of raw partial sums with `opts.partial`, for split-K).
 */
export function buildTexMatmul(
  gpu: Gpu,
  r: ResolvedMatmul,
  tile: TexTile,
  variant: string,
  opts: TexBuildOptions = {},
): Command[] {
  const { a, b, out, bias } = r.args;
  const { partial } = opts;
  const maxGrid = opts.maxGrid ?? gpu.limits.maxComputeWorkgroupsPerDimension;
  const code = texMatmulWgsl(r, tile, partial ? null : r.epilogue, partial?.split, maxGrid);
  const total = texInvocations(r, tile, partial?.split.slices ?? 1);
  const cmds: Command[] = [mirrorCopy(gpu, a, r.label)];
  // One mirror (and one copy) when both operands are the same tensor, e.g. X·Xᵀ.
  if (textureMirror(gpu, b) !== textureMirror(gpu, a)) cmds.push(mirrorCopy(gpu, b, r.label));
  const bindings = [
    textureMirror(gpu, a),
    textureMirror(gpu, b),
    partial ? partial.out : out,
    ...(bias && !partial ? [bias] : []),
  ];
  cmds.push(
    dispatch(
      gpu,
      `${r.label}:${variant}`,
      code,
      bindings,
      grid2d(Math.ceil(total / TEX_WORKGROUP), maxGrid),
    ),
  );
  return cmds;
}
