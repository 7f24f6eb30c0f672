/**
 * Workgroup-memory tiled GEMM over storage buffers with pluggable element
 * readers: the variant for real GPUs (platform notes §5: storage buffers,
 * shared-memory tiles, 2-D workgroups, 4×4 micro-tiles). Every conv pass and
 * Gram product is expressed as `C[g][m][n] = Σ_k A(g, m, k) · B(g, k, n)` with
 * A and B gathered on the fly (implicit GEMM: im2col is never stored).
 *
 * Tile 64×64×16 per 16×16 workgroup; thread (x, y) owns rows y + 16·i and
 * columns x + 16·j (strided, so shared-memory reads do not conflict). The
 * reduction may be split into chunks (grid z) whose partial sums a second
 * pass adds (reduce.ts).
 * @module
 */

/** Tile edge along m and n. */
export const TILED_BM = 64;
/** Reduction step staged in workgroup memory. */
export const TILED_BK = 16;

/** Everything the tiled generator bakes into the shader. */
export interface TiledSpec {
  /** Kernel label. */
  label: string;
  /** Rows per group. */
  m: number;
  /** Columns per group. */
  n: number;
  /** Reduction length. */
  k: number;
  /** Groups (grid z). */
  groups: number;
  /** Reduction chunks (grid z). */
  splits: number;
  /** m = n and only i ≤ j is wanted: tiles below the diagonal are skipped. */
  symmetric: boolean;
  /**
   * WGSL declarations of the bindings plus `fn lda(g: u32, m: u32, k: u32) -> f32`,
   * `fn ldb(g: u32, k: u32, n: u32) -> f32` (called only in range) and
   * `fn store(g: u32, s: u32, i: u32, j: u32, v: f32)`.
   */
  readers: string;
}

/** Workgroup grid of the tiled kernel. */
export function tiledGrid(s: TiledSpec): [number, number, number] {
  const mt = Math.ceil(s.m / TILED_BM);
  const nt = Math.ceil(s.n / TILED_BM);
  const y = Math.ceil(mt / 65535);
  return [Math.ceil(mt / y), y, nt * s.groups * s.splits];
}

/** Reduction length per chunk (a multiple of the staged step). */
export function tiledChunk(s: TiledSpec): number {
  return Math.ceil(Math.ceil(s.k / s.splits) / TILED_BK) * TILED_BK;
}

/** WGSL source of the tiled GEMM. */
export function tiledWgsl(s: TiledSpec): string {
  const BM = TILED_BM;
  const BK = TILED_BK;
  const mt = Math.ceil(s.m / BM);
  const nt = Math.ceil(s.n / BM);
  const chunk = tiledChunk(s);
  return `// ${s.label}: tiled GEMM ${s.m}x${s.n}x${s.k} x${s.groups} groups, ${s.splits} chunks
${s.readers}
var<workgroup> As: array<f32, ${BK * BM}>;
var<workgroup> Bs: array<f32, ${BK * BM}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let mt = wid.x + wid.y * nwg.x;
  if (mt >= ${mt}u) { return; }
  let nt = wid.z % ${nt}u;
  let g = (wid.z / ${nt}u) % ${s.groups}u;
  let s = wid.z / ${nt * s.groups}u;
  ${s.symmetric ? "if (mt > nt) { return; }" : ""}
  let m0 = mt * ${BM}u;
  let n0 = nt * ${BM}u;
  let tid = lid.y * 16u + lid.x;
  let kb = s * ${chunk}u;
  let ke = min(${s.k}u, kb + ${chunk}u);
  var acc: array<f32, 16>;
  for (var k0 = kb; k0 < ke; k0 += ${BK}u) {
    for (var q = 0u; q < ${(BK * BM) / 256}u; q++) {
      let e = tid + q * 256u;
      let am = e / ${BK}u;
      let ak = k0 + e % ${BK}u;
      var av = 0.0;
      if (ak < ke && m0 + am < ${s.m}u) { av = lda(g, m0 + am, ak); }
      As[(e % ${BK}u) * ${BM}u + am] = av;
      let bk = k0 + e / ${BM}u;
      let bn = e % ${BM}u;
      var bv = 0.0;
      if (bk < ke && n0 + bn < ${s.n}u) { bv = ldb(g, bk, n0 + bn); }
      Bs[e] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = As[kk * ${BM}u + lid.y + 16u * i];
        b[i] = Bs[kk * ${BM}u + lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let gi = m0 + lid.y + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let gj = n0 + lid.x + 16u * j;
      if (gi < ${s.m}u && gj < ${s.n}u${s.symmetric ? " && gi <= gj" : ""}) {
        store(g, s, gi, gj, acc[i * 4u + j]);
      }
    }
  }
}
`;
}
