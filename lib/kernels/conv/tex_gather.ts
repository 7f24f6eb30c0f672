/**
 * Register-tiled implicit GEMM over texture operands, for the conv passes
 * whose output rows are pixels: the forward pass (rows = output pixels,
 * gathering the input) and the input gradient (rows = input pixels, gathering
 * the output gradient). This is the fast path on llvmpipe (platform notes §5):
 * operands come from rgba32float textures, workgroups are 8 lanes along x, and
 * each invocation owns a TP-pixel × TC-channel output tile kept in vec4
 * accumulators, stepping the reduction four channels (one texel) at a time.
 *
 * Reduction index jj = (ky·kw + kx)·Cg + c over kernel positions and source
 * channels of the group; the relaid weight (relayout.ts) is indexed the
 * same way. When Cg is a multiple of 4 each step reads one texel per pixel;
 * otherwise the step reads four scalars, each with its own kernel position
 * (the builders use that fallback only for strided input gradients; other
 * unaligned cases go to the row-window kernel, tex_rows.ts).
 * @module
 */

import { wgslFlatReaders } from "../../gpu/texture.ts";
import type { RelayoutShape } from "./relayout.ts";
import { lines, range } from "../wgsl.ts";

/**
 * What every texture implicit-GEMM conv generator bakes into its shader;
 * the variants differ only in how a source pixel is addressed.
 */
export interface ConvTexSpec {
  /** Kernel label (pipeline cache, dumps). */
  label: string;
  /** Images. */
  batch: number;
  /** Output (GEMM row) spatial height. */
  rowsH: number;
  /** Output (GEMM row) spatial width. */
  rowsW: number;
  /** Gathered source height (NHWC). */
  srcH: number;
  /** Gathered source width. */
  srcW: number;
  /** Gathered source channels (all groups). */
  srcC: number;
  /** Source channels per group (inner reduction). */
  srcCg: number;
  /** Channel groups. */
  groups: number;
  /** Kernel height. */
  kh: number;
  /** Kernel width. */
  kw: number;
  /** Output channels (all groups). */
  outC: number;
  /** Output channels per group. */
  outCg: number;
  /** Sizes of the relaid weight bound at binding 1 (rows jj = (ky·kw + kx)·srcCg + c). */
  b: RelayoutShape;
  /** Add `bias[outChannel]` (binding 3). */
  bias: boolean;
  /** Pixels per invocation. */
  tp: number;
  /** Channels per invocation (multiple of 4; the relaid weight is padded to it). */
  tc: number;
}

/** The gather-GEMM generator: any source addressing, given as WGSL. */
export interface GatherGemmSpec extends ConvTexSpec {
  /**
   * WGSL statements of `fn src_pos(ry: i32, rx: i32, ky: i32, kx: i32) ->
   * vec3<i32>`: the source pixel (y, x) that output row pixel (ry, rx) reads
   * at kernel position (ky, kx), and z = 1 when it exists (0 reads a zero).
   */
  srcPos: string;
}

/** Invocations the kernel needs (tiles of pixels × channel tiles × groups). */
export function gatherGemmInvocations(s: GatherGemmSpec): number {
  const m = s.batch * s.rowsH * s.rowsW;
  return Math.ceil(m / s.tp) * Math.ceil(s.outCg / s.tc) * s.groups;
}

/**
 * Declarations of the accumulators `acc{p}_{c}` (a vec4 of output channels
 * per output row p and channel quad c) of an unrolled conv tile, seeded with
 * the bias where there is one: read once per invocation, not per output.
 * Expects `g` (group) and `c0` (first channel of the tile) in scope.
 */
export function accumulators(s: ConvTexSpec, P: readonly number[], C: readonly number[]): string {
  const seeds = s.bias
    ? lines(C, (c) => {
      const quad = range(4).map((e) =>
        `bias[min(g * ${s.outCg}u + c0 + ${4 * c + e}u, ${s.outC - 1}u)]`
      );
      return `  let bias${c} = vec4<f32>(${quad.join(", ")});`;
    })
    : "";
  const init = (c: number) => (s.bias ? `bias${c}` : "vec4<f32>(0.0)");
  return `${seeds}
${lines(P, (p) => lines(C, (c) => `  var acc${p}_${c} = ${init(c)};`))}`;
}

/**
 * WGSL source of the gather GEMM. Bindings: src texture, weight texture, out,
 * bias. The tile loops are unrolled here, in the generator: accumulators and
 * weight texels become named values, which llvmpipe keeps in registers
 * (dynamically indexed private arrays are much slower there).
 */
export function gatherGemmWgsl(s: GatherGemmSpec): string {
  const M = s.batch * s.rowsH * s.rowsW;
  const tilesP = Math.ceil(M / s.tp);
  const tilesC = Math.ceil(s.outCg / s.tc);
  const total = tilesP * tilesC * s.groups;
  const TC4 = s.tc / 4;
  const BC4 = s.b.cols / 4;
  const srcFloats = s.batch * s.srcH * s.srcW * s.srcC;
  const P = range(s.tp);
  const C = range(TC4);
  const loadB = lines(
    range(4),
    (j) => lines(C, (c) => `        let w${j}_${c} = wt_v4(b0 + ${j * BC4 + c}u);`),
  );
  const update = (p: number) =>
    lines(
      C,
      (c) =>
        `          acc${p}_${c} = fma(vec4<f32>(a.x), w0_${c}, fma(vec4<f32>(a.y), w1_${c}, ` +
        `fma(vec4<f32>(a.z), w2_${c}, fma(vec4<f32>(a.w), w3_${c}, acc${p}_${c}))));`,
    );
  // One texel per pixel per step: the four channels share the kernel position.
  const alignedLoop = `for (var ky = 0; ky < ${s.kh}; ky++) {
    for (var kx = 0; kx < ${s.kw}; kx++) {
${
    lines(P, (p) =>
      `      let q${p} = src_pos(ry${p}, rx${p}, ky, kx);
      let o${p} = select(-1, ((nb${p} + q${p}.x) * ${s.srcW} + q${p}.y) * ${
        s.srcC / 4
      } + i32(g) * ${s.srcCg / 4}, q${p}.z != 0);`)
  }
      let brow = (g * ${s.b.rows}u + u32(ky * ${s.kw} + kx) * ${s.srcCg}u) * ${BC4}u + c0 / 4u;
      for (var cb = 0u; cb < ${s.srcCg / 4}u; cb++) {
        let b0 = brow + cb * ${4 * BC4}u;
${loadB}
${
    lines(P, (p) =>
      `        {
          let a = select(vec4<f32>(0.0), src_v4(u32(max(o${p}, 0) + i32(cb))), o${p} >= 0);
${update(p)}
        }`)
  }
      }
    }
  }`;
  // Four scalar reads per pixel per step, each decoding its own (ky, kx, c).
  const scalarLoop = `for (var kb = 0u; kb < ${s.b.rows / 4}u; kb++) {
    let b0 = (g * ${s.b.rows}u + kb * 4u) * ${BC4}u + c0 / 4u;
${loadB}
    var eky: array<i32, 4>;
    var ekx: array<i32, 4>;
    var ech: array<i32, 4>;
    for (var e = 0u; e < 4u; e++) {
      let jj = kb * 4u + e;
      let kp = jj / ${s.srcCg}u;
      eky[e] = i32(kp / ${s.kw}u);
      ekx[e] = i32(kp % ${s.kw}u);
      ech[e] = select(-1, i32(g * ${s.srcCg}u + jj % ${s.srcCg}u), jj < ${s.b.k}u);
    }
${
    lines(P, (p) =>
      `    {
      var a = vec4<f32>(0.0);
      for (var e = 0u; e < 4u; e++) {
        let q = src_pos(ry${p}, rx${p}, eky[e], ekx[e]);
        let idx = clamp(((nb${p} + q.x) * ${s.srcW} + q.y) * ${s.srcC} + ech[e], 0, ${
        srcFloats - 1
      });
        a[e] = select(0.0, src_at(u32(idx)), q.z != 0 && ech[e] >= 0);
      }
${update(p)}
    }`)
  }
  }`;
  const store = (p: number) =>
    lines(C, (c) =>
      lines(range(4), (e) => {
        const co = `c0 + ${c * 4 + e}u`;
        return `    if (${co} < ${s.outCg}u) { out[m * ${s.outC}u + g * ${s.outCg}u + ${co}] = acc${p}_${c}[${e}]; }`;
      }));
  return `// ${s.label}: gather GEMM ${M}x${s.outCg}x${s.b.k} (x${s.groups} groups), tile ${s.tp}x${s.tc}
@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var wt: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${s.bias ? "@group(0) @binding(3) var<storage, read> bias: array<f32>;" : ""}
${wgslFlatReaders("src")}${wgslFlatReaders("wt")}
fn src_pos(ry: i32, rx: i32, ky: i32, kx: i32) -> vec3<i32> {
${s.srcPos}
}
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let inv = (wid.x + wid.y * nwg.x) * 8u + lid.x;
  if (inv >= ${total}u) { return; }
  // Lanes of a workgroup take neighbouring pixel tiles of one channel tile,
  // so their weight reads coincide.
  let pt = inv % ${tilesP}u;
  let ct = (inv / ${tilesP}u) % ${tilesC}u;
  let g = inv / ${tilesP * tilesC}u;
  let m0 = pt * ${s.tp}u;
  let c0 = ct * ${s.tc}u;
  // Rows past the end repeat the last row; their results are not stored.
${
    lines(P, (p) =>
      `  let r${p} = min(m0 + ${p}u, ${M - 1}u);
  let ry${p} = i32((r${p} % ${s.rowsH * s.rowsW}u) / ${s.rowsW}u);
  let rx${p} = i32(r${p} % ${s.rowsW}u);
  let nb${p} = i32((r${p} / ${s.rowsH * s.rowsW}u) * ${s.srcH}u);`)
  }
${accumulators(s, P, C)}
  ${s.srcCg % 4 === 0 ? alignedLoop : scalarLoop}
${
    lines(P, (p) =>
      `  if (m0 + ${p}u < ${M}u) {
    let m = m0 + ${p}u;
${store(p)}
  }`)
  }
}
`;
}
