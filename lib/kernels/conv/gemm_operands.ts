/**
 * Operand generators of the implicit GEMM (gemm.ts): how an element of A or
 * B is gathered from a tensor, split into the part that depends only on the
 * slot's fixed coordinate (hoisted out of the k loop) and the part that
 * depends on the varying one.
 *
 * An operand is viewed as a matrix whose columns run along memory-contiguous
 * channels. Its rows are either the product's outer index (`"outer"`: m or
 * n, e.g. im2col rows = output pixels in the forward pass; the fixed
 * coordinate is the row, the varying one the column k) or the reduction
 * index (`"k"`: e.g. pixels in the weight gradient; the fixed coordinate is
 * the column, the varying one the row). With `vec` 4 a fetch returns four
 * consecutive columns from one 16-byte load; the generator only offers it
 * where four consecutive columns are always contiguous and aligned.
 *
 * Each operand emits, under a prefix P: `struct PH`, `fn Phoist(g: u32, f:
 * u32) -> PH` and `fn Pfetch(h: PH, v: u32) -> f32 | vec4<f32>`. Fetches
 * return zero outside the operand (any coordinate out of range, padding
 * taps, taps a stride skips) and one in a `ones` column.
 * @module
 */

import type { ConvDims } from "./geometry.ts";

/** A generated operand of the implicit GEMM. */
export interface GemmOperand {
  /** What the operand's rows are: the product's outer index, or the reduction index. */
  readonly rows: "outer" | "k";
  /** Columns per fetch (4: one vec4 load). */
  readonly vec: 1 | 4;
  /** WGSL of the struct, hoist and fetch functions under `prefix`. */
  code(prefix: string): string;
}

/** WGSL declaration of a storage binding read as f32 or vec4<f32> elements. */
export function storageDecl(
  binding: number,
  name: string,
  vec: 1 | 4,
  access: "read" | "read_write" = "read",
): string {
  const ty = vec === 4 ? "vec4<f32>" : "f32";
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${ty}>;`;
}

const zero = (vec: 1 | 4) => (vec === 4 ? "vec4<f32>(0.0)" : "0.0");
const one = (vec: 1 | 4) => (vec === 4 ? "vec4<f32>(1.0, 0.0, 0.0, 0.0)" : "1.0");
const ret = (vec: 1 | 4) => (vec === 4 ? "vec4<f32>" : "f32");
/** Index into `buf` of float offset `e` (a multiple of 4 when vec = 4). */
const at = (
  buf: string,
  e: string,
  vec: 1 | 4,
) => (vec === 4 ? `${buf}[(${e}) / 4u]` : `${buf}[${e}]`);

/**
 * im2col(x) of a conv: rows r = (image, output pixel) over N·Ho·Wo, columns
 * c = (ky·kw + kx)·Cin_g + ci over kh·kw·Cin_g (plus a ones column when
 * `ones`); group g reads channels g·Cin_g… of `buf` (NHWC). vec4 when Cin_g
 * is a multiple of 4 (four columns then share one tap).
 */
export function patchOperand(
  d: ConvDims,
  rows: "outer" | "k",
  ones: boolean,
  buf: string,
): GemmOperand {
  const vec = d.cinG % 4 === 0 ? 4 : 1;
  const K = d.kpos * d.cinG;
  const HOWO = d.outH * d.outW;
  const R = d.batch * HOWO;
  const inside = `iy >= 0 && iy < ${d.inH} && ix >= 0 && ix < ${d.inW}`;
  const load = (pix: string, ch: string) =>
    at(buf, `(${pix} + u32(iy) * ${d.inW}u + u32(ix)) * ${d.inC}u + ${ch}`, vec);
  if (rows === "outer") {
    return {
      rows,
      vec,
      code: (P) =>
        `struct ${P}H { pix: u32, iy0: i32, ix0: i32, ok: bool, ch: u32 }
fn ${P}hoist(g: u32, r: u32) -> ${P}H {
  let rem = r % ${HOWO}u;
  return ${P}H((r / ${HOWO}u) * ${d.inH * d.inW}u, i32(rem / ${d.outW}u) * ${d.strideH} - ${d.padH},
    i32(rem % ${d.outW}u) * ${d.strideW} - ${d.padW}, r < ${R}u, g * ${d.cinG}u);
}
fn ${P}fetch(h: ${P}H, c: u32) -> ${ret(vec)} {
  let kp = c / ${d.cinG}u;
  let iy = h.iy0 + i32(kp / ${d.kw}u) * ${d.dilationH};
  let ix = h.ix0 + i32(kp % ${d.kw}u) * ${d.dilationW};
  if (h.ok && c < ${K}u && ${inside}) { return ${load("h.pix", `h.ch + c % ${d.cinG}u`)}; }
  ${ones ? `if (h.ok && c == ${K}u) { return ${one(vec)}; }` : ""}
  return ${zero(vec)};
}
`,
    };
  }
  return {
    rows,
    vec,
    // kind: 0 a real column, 1 the ones column, 2 past the end.
    code: (P) =>
      `struct ${P}H { kyd: i32, kxd: i32, ch: u32, kind: u32 }
fn ${P}hoist(g: u32, c: u32) -> ${P}H {
  let kp = c / ${d.cinG}u;
  var kind = 0u;
  if (c >= ${K}u) { kind = select(2u, 1u, ${ones} && c == ${K}u); }
  return ${P}H(i32(kp / ${d.kw}u) * ${d.dilationH} - ${d.padH},
    i32(kp % ${d.kw}u) * ${d.dilationW} - ${d.padW}, g * ${d.cinG}u + c % ${d.cinG}u, kind);
}
fn ${P}fetch(h: ${P}H, r: u32) -> ${ret(vec)} {
  if (r >= ${R}u || h.kind == 2u) { return ${zero(vec)}; }
  if (h.kind == 1u) { return ${one(vec)}; }
  let rem = r % ${HOWO}u;
  let iy = i32(rem / ${d.outW}u) * ${d.strideH} + h.kyd;
  let ix = i32(rem % ${d.outW}u) * ${d.strideW} + h.kxd;
  if (${inside}) { return ${load(`(r / ${HOWO}u) * ${d.inH * d.inW}u`, "h.ch")}; }
  return ${zero(vec)};
}
`,
  };
}

/**
 * What the input gradient gathers from dy (`buf`, NHWC): rows m = (image,
 * input pixel), columns c = (ky·kw + kx)·Cout_g + co; the output pixel that
 * reaches input pixel m through tap (ky, kx), zero where none does (padding,
 * or a stride that does not divide the offset). vec4 when Cout_g % 4 = 0.
 */
export function scatterOperand(d: ConvDims, buf: string): GemmOperand {
  const vec = d.coutG % 4 === 0 ? 4 : 1;
  const K = d.kpos * d.coutG;
  const HW = d.inH * d.inW;
  const divides = (v: string, s: number) => (s === 1 ? "" : ` || u32(${v}) % ${s}u != 0u`);
  return {
    rows: "outer",
    vec,
    code: (P) =>
      `struct ${P}H { img: u32, ty0: i32, tx0: i32, ok: bool, ch: u32 }
fn ${P}hoist(g: u32, m: u32) -> ${P}H {
  let rem = m % ${HW}u;
  return ${P}H(m / ${HW}u, i32(rem / ${d.inW}u) + ${d.padH}, i32(rem % ${d.inW}u) + ${d.padW},
    m < ${d.batch * HW}u, g * ${d.coutG}u);
}
fn ${P}fetch(h: ${P}H, c: u32) -> ${ret(vec)} {
  let kp = c / ${d.coutG}u;
  let ty = h.ty0 - i32(kp / ${d.kw}u) * ${d.dilationH};
  let tx = h.tx0 - i32(kp % ${d.kw}u) * ${d.dilationW};
  if (!h.ok || c >= ${K}u || ty < 0 || tx < 0${divides("ty", d.strideH)}${
        divides("tx", d.strideW)
      }) { return ${zero(vec)}; }
  let oy = u32(ty) / ${d.strideH}u;
  let ox = u32(tx) / ${d.strideW}u;
  if (oy >= ${d.outH}u || ox >= ${d.outW}u) { return ${zero(vec)}; }
  return ${
        at(
          buf,
          `((h.img * ${d.outH}u + oy) * ${d.outW}u + ox) * ${d.outC}u + h.ch + c % ${d.coutG}u`,
          vec,
        )
      };
}
`,
  };
}

/** A dense row-major operand: rows are the reduction index. */
export interface DenseLayout {
  /** Rows (the reduction length). */
  rows: number;
  /** Real columns per group. */
  cols: number;
  /** Floats between consecutive rows. */
  stride: number;
  /** Column offset of group g is g·groupOffset. */
  groupOffset: number;
  /** A column of ones after the real ones. */
  ones: boolean;
}

/** True when four consecutive columns of `l` are one aligned vec4 load. */
export function denseVec4(l: DenseLayout): boolean {
  return l.cols % 4 === 0 && l.stride % 4 === 0 && l.groupOffset % 4 === 0;
}

/** Element (r, c) of group g is `buf[r·stride + g·groupOffset + c]` (rows = k). */
export function denseOperand(l: DenseLayout, buf: string): GemmOperand {
  const vec = denseVec4(l) ? 4 : 1;
  return {
    rows: "k",
    vec,
    code: (P) =>
      `struct ${P}H { col: u32, kind: u32 }
fn ${P}hoist(g: u32, c: u32) -> ${P}H {
  var kind = 0u;
  if (c >= ${l.cols}u) { kind = select(2u, 1u, ${l.ones} && c == ${l.cols}u); }
  return ${P}H(g * ${l.groupOffset}u + c, kind);
}
fn ${P}fetch(h: ${P}H, r: u32) -> ${ret(vec)} {
  if (r >= ${l.rows}u || h.kind == 2u) { return ${zero(vec)}; }
  if (h.kind == 1u) { return ${one(vec)}; }
  return ${at(buf, `r * ${l.stride}u + h.col`, vec)};
}
`,
  };
}

/**
 * The weight `buf` [Cout, Cin_g, kh, kw] as B of a pixel pass (rows = k,
 * scalar): `"forward"` B(k = kp·Cin_g + ci, n = co), `"input"` B(k =
 * kp·Cout_g + co, n = ci). The weight is small and stays in cache, so its
 * strided reads cost little next to the activations.
 */
export function weightOperand(d: ConvDims, mode: "forward" | "input", buf: string): GemmOperand {
  const fwd = mode === "forward";
  const inner = fwd ? d.cinG : d.coutG;
  const N = fwd ? d.coutG : d.cinG;
  const K = d.kpos * inner;
  // Float offset of (group g, column n) and the stride of the inner reduction channel.
  const base = fwd
    ? `(g * ${d.coutG}u + n) * ${d.cinG * d.kpos}u`
    : `g * ${d.coutG * d.cinG * d.kpos}u + n * ${d.kpos}u`;
  const innerStride = fwd ? d.kpos : d.cinG * d.kpos;
  return {
    rows: "k",
    vec: 1,
    code: (P) =>
      `struct ${P}H { base: u32, ok: bool }
fn ${P}hoist(g: u32, n: u32) -> ${P}H {
  return ${P}H(${base}, n < ${N}u);
}
fn ${P}fetch(h: ${P}H, k: u32) -> f32 {
  if (!h.ok || k >= ${K}u) { return 0.0; }
  return ${buf}[h.base + (k % ${inner}u) * ${innerStride}u + k / ${inner}u];
}
`,
  };
}
