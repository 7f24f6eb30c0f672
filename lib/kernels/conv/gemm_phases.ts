/**
 * The input gradient of a strided conv (dilation 1) as one implicit GEMM per
 * stride phase, all in one dispatch.
 *
 * Input pixel iy receives from tap ky only when sh divides iy + pad − ky,
 * i.e. ky ≡ (iy + pad) mod sh. Pixels with the same residues (ry, rx) — a
 * phase — share their taps: ky = ry + sh·t for t < ceil((kh − ry)/sh), and
 * the output row they read is qy − t with qy = (iy + pad − ry)/sh. So each
 * phase is a dense GEMM with K = taps·Cout_g instead of kh·kw·Cout_g with
 * most terms zero (a 3×3 stride-2 conv: at most 4 of 9 taps, 2.25 on
 * average; a 1×1 stride-2 conv: 1 phase of 4 has its tap, the others store
 * zeros without a reduction). Phases ride on the group axis of the grid:
 * g' = group·sh·sw + phase.
 *
 * Rows are m' = (image, j, i) over ceil(H/sh) × ceil(W/sw) per image, pixel
 * (iy0 + sh·j, ix0 + sw·i); rows past a phase's own extent are skipped.
 * Columns are c = (t_y·TX + t_x)·Cout_g + co with TY = ceil(kh/sh), TX =
 * ceil(kw/sw); a phase's taps form a prefix in t_y, so its reduction ends at
 * ntY·TX·Cout_g.
 * @module
 */

import type { ConvDims } from "./geometry.ts";
import { type GemmOperand, storageDecl } from "./gemm_operands.ts";

/** True when the phase decomposition applies (strided, not dilated). */
export function usesPhases(d: ConvDims): boolean {
  return (d.strideH > 1 || d.strideW > 1) && d.dilationH === 1 && d.dilationW === 1;
}

/** Sizes of the phase decomposition. */
export function phaseSizes(d: ConvDims) {
  const phases = d.strideH * d.strideW;
  const hMax = Math.ceil(d.inH / d.strideH);
  const wMax = Math.ceil(d.inW / d.strideW);
  const ty = Math.ceil(d.kh / d.strideH);
  const tx = Math.ceil(d.kw / d.strideW);
  return { phases, hMax, wMax, ty, tx, rows: d.batch * hMax * wMax, k: ty * tx * d.coutG };
}

/**
 * WGSL `struct Phase` and `fn phase_of(g: u32) -> Phase`: for grid group g'
 * its channel group, first pixel (iy0, ix0), extent (hy, wx), first output
 * row/column (qy0, qx0) and tap counts (nty, ntx).
 */
export function phaseWgsl(d: ConvDims): string {
  const one = (r: string, s: number, pad: number, n: number, k: number) => ({
    first: `(${r} + ${s}u - ${pad % s}u) % ${s}u`,
    // Taps ky = r + s·t < k.
    taps: `select(0u, (${k}u - ${r} + ${s - 1}u) / ${s}u, ${r} < ${k}u)`,
    extent: (first: string) =>
      `select(0u, (${n}u - ${first} + ${s - 1}u) / ${s}u, ${first} < ${n}u)`,
  });
  const y = one("ry", d.strideH, d.padH, d.inH, d.kh);
  const x = one("rx", d.strideW, d.padW, d.inW, d.kw);
  return `struct Phase { grp: u32, iy0: u32, ix0: u32, hy: u32, wx: u32, qy0: u32, qx0: u32, nty: u32, ntx: u32 }
fn phase_of(g: u32) -> Phase {
  let ph = g % ${d.strideH * d.strideW}u;
  let ry = ph / ${d.strideW}u;
  let rx = ph % ${d.strideW}u;
  let iy0 = ${y.first};
  let ix0 = ${x.first};
  return Phase(g / ${d.strideH * d.strideW}u, iy0, ix0, ${y.extent("iy0")}, ${x.extent("ix0")},
    (iy0 + ${d.padH}u - ry) / ${d.strideH}u, (ix0 + ${d.padW}u - rx) / ${d.strideW}u,
    ${y.taps}, ${x.taps});
}
`;
}

/** A: dy gathered per phase (rows m', columns (t_y, t_x, co)); vec4 when Cout_g % 4 = 0. */
export function phaseScatterOperand(d: ConvDims, buf: string): GemmOperand {
  const z = phaseSizes(d);
  const vec = d.coutG % 4 === 0 ? 4 : 1;
  const T = vec === 4 ? "vec4<f32>" : "f32";
  const zero = vec === 4 ? "vec4<f32>(0.0)" : "0.0";
  const plane = z.hMax * z.wMax;
  const e =
    `((h.img * ${d.outH}u + u32(oy)) * ${d.outW}u + u32(ox)) * ${d.outC}u + h.ch + c % ${d.coutG}u`;
  return {
    rows: "outer",
    vec,
    code: (P) =>
      `struct ${P}H { img: u32, qy: i32, qx: i32, nty: u32, ntx: u32, ok: bool, ch: u32 }
fn ${P}hoist(g: u32, m: u32) -> ${P}H {
  let f = phase_of(g);
  let rem = m % ${plane}u;
  let j = rem / ${z.wMax}u;
  let i = rem % ${z.wMax}u;
  return ${P}H(m / ${plane}u, i32(f.qy0 + j), i32(f.qx0 + i), f.nty, f.ntx,
    m < ${z.rows}u && j < f.hy && i < f.wx, f.grp * ${d.coutG}u);
}
fn ${P}fetch(h: ${P}H, c: u32) -> ${T} {
  let t = c / ${d.coutG}u;
  let ty = t / ${z.tx}u;
  let tx = t % ${z.tx}u;
  let oy = h.qy - i32(ty);
  let ox = h.qx - i32(tx);
  if (!h.ok || c >= ${z.k}u || ty >= h.nty || tx >= h.ntx || oy < 0 || ox < 0 ||
      oy >= ${d.outH} || ox >= ${d.outW}) { return ${zero}; }
  return ${vec === 4 ? `${buf}[(${e}) / 4u]` : `${buf}[${e}]`};
}
`,
  };
}

/** B: the weight per phase, B(c = (t_y, t_x, co), n = ci) = w[co, ci, ry + sh·t_y, rx + sw·t_x]. */
export function phaseWeightOperand(d: ConvDims, buf: string): GemmOperand {
  const z = phaseSizes(d);
  return {
    rows: "k",
    vec: 1,
    code: (P) =>
      `struct ${P}H { base: u32, ky0: u32, kx0: u32, nty: u32, ntx: u32, ok: bool }
fn ${P}hoist(g: u32, n: u32) -> ${P}H {
  let f = phase_of(g);
  let ph = g % ${z.phases}u;
  return ${P}H(f.grp * ${d.coutG * d.cinG * d.kpos}u + n * ${d.kpos}u, ph / ${d.strideW}u,
    ph % ${d.strideW}u, f.nty, f.ntx, n < ${d.cinG}u);
}
fn ${P}fetch(h: ${P}H, c: u32) -> f32 {
  let t = c / ${d.coutG}u;
  let ty = t / ${z.tx}u;
  let tx = t % ${z.tx}u;
  if (!h.ok || c >= ${z.k}u || ty >= h.nty || tx >= h.ntx) { return 0.0; }
  let tap = (h.ky0 + ty * ${d.strideH}u) * ${d.kw}u + h.kx0 + tx * ${d.strideW}u;
  return ${buf}[h.base + (c % ${d.coutG}u) * ${d.cinG * d.kpos}u + tap];
}
`,
  };
}

/**
 * WGSL binding of dx (binding 2) and `store4`: row m' of phase g' goes to
 * its input pixel; rows past the phase's extent are skipped.
 */
export function phaseStoreWgsl(d: ConvDims): string {
  const z = phaseSizes(d);
  const vec = d.cinG % 4 === 0 ? 4 : 1;
  const plane = z.hMax * z.wMax;
  const body = vec === 4
    ? `  dx[o / 4u] = v;`
    : [0, 1, 2, 3].map((q) => `  if (n + ${q}u < ${d.cinG}u) { dx[o + ${q}u] = v[${q}]; }`).join(
      "\n",
    );
  return `${storageDecl(2, "dx", vec, "read_write")}
fn store4(g: u32, s: u32, m: u32, n: u32, v: vec4<f32>) {
  let f = phase_of(g);
  let rem = m % ${plane}u;
  let j = rem / ${z.wMax}u;
  let i = rem % ${z.wMax}u;
  if (j >= f.hy || i >= f.wx) { return; }
  let pix = ((m / ${plane}u) * ${d.inH}u + f.iy0 + j * ${d.strideH}u) * ${d.inW}u + f.ix0 + i * ${d.strideW}u;
  let o = pix * ${d.inC}u + f.grp * ${d.cinG}u + n;
${body}
}`;
}
