/**
 * Row-window variant of the texture gather GEMM, for sources whose channels
 * per group are not a multiple of 4 (e.g. the Cin = 1 first layer of an
 * image model). There every tap is a scalar texture fetch, so fetches, not
 * FMAs, bound the speed. Here an invocation's TP pixels lie in one output
 * row, and for each kernel row it fetches the window of source pixels they
 * share once, then reuses each value across the kernel columns (kh·kw·TP
 * fetches per channel become kh·(window width)).
 *
 * The source column read by tile pixel p at kernel column kx must be affine:
 * `(rx0 + p)·colMul + colAdd + kx·colK` (and rows likewise). That holds for
 * the forward pass at any stride and dilation, and for the input gradient at
 * stride 1 (other input-gradient strides keep the generic kernel).
 * @module
 */

import { wgslFlatReaders } from "../../gpu/texture.ts";
import { accumulators, type ConvTexSpec } from "./tex_gather.ts";
import { lines, range } from "../wgsl.ts";

/** The row-window generator: affine source addressing within one output row. */
export interface RowWindowSpec extends ConvTexSpec {
  /** Source row = ry·rowMul + rowAdd + ky·rowK. */
  rowMul: number;
  /** See rowMul. */
  rowAdd: number;
  /** See rowMul. */
  rowK: number;
  /** Source column = rx·colMul + colAdd + kx·colK. */
  colMul: number;
  /** See colMul. */
  colAdd: number;
  /** See colMul. */
  colK: number;
}

/** Invocations: row tiles × channel tiles × groups. */
export function rowWindowInvocations(s: RowWindowSpec): number {
  return s.batch * s.rowsH * Math.ceil(s.rowsW / s.tp) * Math.ceil(s.outCg / s.tc) * s.groups;
}

/** WGSL source (bindings: src texture, weight texture, out, bias). */
export function rowWindowWgsl(s: RowWindowSpec): string {
  const tilesX = Math.ceil(s.rowsW / s.tp);
  const tilesP = s.batch * s.rowsH * tilesX;
  const tilesC = Math.ceil(s.outCg / s.tc);
  const total = tilesP * tilesC * s.groups;
  const TC4 = s.tc / 4;
  const BC4 = s.b.cols / 4;
  const P = range(s.tp);
  const C = range(TC4);
  const KX = range(s.kw);
  // Window element e holds source column base + e; only the used ones are fetched.
  const minOff = Math.min(0, (s.kw - 1) * s.colK);
  const elem = (p: number, kx: number) => p * s.colMul + kx * s.colK - minOff;
  const used = [...new Set(P.flatMap((p) => KX.map((kx) => elem(p, kx))))].sort((a, b) => a - b);
  // Whole channel quads: one vec4 store each (a quarter of the scalar
  // stores, which llvmpipe runs lane by lane with a bounds check each).
  const quads = s.outC % 4 === 0 && s.outCg % 4 === 0;
  const store = (p: number) =>
    quads
      ? lines(
        C,
        (c) =>
          `    if (c0 + ${
            c * 4
          }u < ${s.outCg}u) { out[(m * ${s.outC}u + g * ${s.outCg}u + c0) / 4u + ${c}u] = acc${p}_${c}; }`,
      )
      : lines(C, (c) =>
        lines(range(4), (e) => {
          const co = `c0 + ${c * 4 + e}u`;
          return `    if (${co} < ${s.outCg}u) { out[m * ${s.outC}u + g * ${s.outCg}u + ${co}] = acc${p}_${c}[${e}]; }`;
        }));
  return `// ${s.label}: row-window gather GEMM, tile ${s.tp}x${s.tc}, window ${used.length}${
    quads ? ", vec4 stores" : ""
  }
@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var wt: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<${quads ? "vec4<f32>" : "f32"}>;
${s.bias ? "@group(0) @binding(3) var<storage, read> bias: array<f32>;" : ""}
${wgslFlatReaders("src")}${wgslFlatReaders("wt")}
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let inv = (wid.x + wid.y * nwg.x) * 8u + lid.x;
  if (inv >= ${total}u) { return; }
  let pt = inv % ${tilesP}u;
  let ct = (inv / ${tilesP}u) % ${tilesC}u;
  let g = inv / ${tilesP * tilesC}u;
  let c0 = ct * ${s.tc}u;
  let rx0 = (pt % ${tilesX}u) * ${s.tp}u;
  let ry = (pt / ${tilesX}u) % ${s.rowsH}u;
  let n = pt / ${tilesX * s.rowsH}u;
  let base = i32(rx0) * ${s.colMul} + ${s.colAdd + minOff};
${accumulators(s, P, C)}
  for (var ky = 0; ky < ${s.kh}; ky++) {
    let sy = i32(ry) * ${s.rowMul} + ${s.rowAdd} + ky * ${s.rowK};
    let rowOk = sy >= 0 && sy < ${s.srcH};
    let rowBase = (i32(n) * ${s.srcH} + sy) * ${s.srcW};
${
    lines(used, (e) =>
      `    let ok${e} = rowOk && base + ${e} >= 0 && base + ${e} < ${s.srcW};
    let ix${e} = select(0, (rowBase + base + ${e}) * ${s.srcC} + i32(g) * ${s.srcCg}, ok${e});`)
  }
    let brow = (g * ${s.b.rows}u + u32(ky * ${s.kw}) * ${s.srcCg}u) * ${BC4}u + c0 / 4u;
    for (var ci = 0u; ci < ${s.srcCg}u; ci++) {
${lines(used, (e) => `      let x${e} = select(0.0, src_at(u32(ix${e}) + ci), ok${e});`)}
${
    lines(KX, (kx) =>
      `      {
        let b0 = brow + (${kx * s.srcCg}u + ci) * ${BC4}u;
${lines(C, (c) => `        let w${c} = wt_v4(b0 + ${c}u);`)}
${
        lines(P, (p) =>
          lines(C, (c) =>
            `        acc${p}_${c} = fma(vec4<f32>(x${elem(p, kx)}), w${c}, acc${p}_${c});`))
      }
      }`)
  }
    }
  }
  let m0 = (n * ${s.rowsH}u + ry) * ${s.rowsW}u + rx0;
${
    lines(P, (p) =>
      `  if (rx0 + ${p}u < ${s.rowsW}u) {
    let m = m0 + ${p}u;
${store(p)}
  }`)
  }
}
`;
}
