/**
 * Register-tiled sums of row outer products over texture operands:
 * `C[g][i][j] = Σ_r A_g[r][i] · B_g[r][j]`. This is the shape of the conv
 * weight gradient (A = output gradient rows, B = im2col rows of the input)
 * and of the Kronecker statistics (A = B = X or im2col(x)). The reduction
 * runs over many rows (pixels) while C is small, so rows are split into
 * chunks whose partial sums a second pass adds (reduce.ts), in a fixed
 * order: results are deterministic.
 *
 * Rows are read straight from the input (im2col is never materialised): an
 * operand is either dense (a row of a matrix) or a patch (one im2col row,
 * columns ordered jj = (ky·kw + kx)·Cin_g + ci so that four consecutive
 * columns share a kernel position and fill one texel when Cin_g % 4 = 0).
 * Either may carry an extra trailing column of ones (bias / appendOnes).
 * @module
 */

import { wgslFlatReaders } from "../../gpu/texture.ts";
import type { ConvDims } from "./geometry.ts";
import { lines, range } from "../wgsl.ts";

/** A row source for the outer-product kernel. */
export type RowOperand =
  | {
    kind: "dense";
    /** Real columns (per group). */
    cols: number;
    /** Floats between consecutive rows. */
    stride: number;
    /** Column offset of group g is `g · groupOffset`. */
    groupOffset: number;
    /** Append a column of ones after the real columns. */
    ones: boolean;
  }
  | {
    kind: "patch";
    /** Conv geometry: rows are (image, output pixel), columns (kernel position, channel). */
    d: ConvDims;
    /** Append a column of ones after the kh·kw·Cin_g real columns. */
    ones: boolean;
  };

/** Columns an operand contributes, including the ones column. */
export function operandWidth(o: RowOperand): number {
  const real = o.kind === "dense" ? o.cols : o.d.kpos * o.d.cinG;
  return real + (o.ones ? 1 : 0);
}

/** Everything the outer-product generator bakes into the shader. */
export interface OuterSpec {
  /** Kernel label. */
  label: string;
  /** Reduction length (rows). */
  rows: number;
  /** Groups (independent products). */
  groups: number;
  /** Left operand, read from texture binding 0. */
  a: RowOperand;
  /** Right operand; when `shared` it is read from binding 0 as well. */
  b: RowOperand;
  /** A and B are one operand: compute only tiles on or above the diagonal. */
  symmetric: boolean;
  /** A and B come from the same texture (binding 1 unused). */
  shared: boolean;
  /** Tile rows (multiple of 4). */
  ti: number;
  /** Tile columns (multiple of 4; equal to ti when symmetric). */
  tj: number;
  /** Row chunks (split-K). */
  splits: number;
  /**
   * WGSL declarations (bindings 2 and up) and `fn store(g: u32, s: u32, i: u32,
   * j: u32, v: f32)`, called once per computed element (only i ≤ j when symmetric).
   */
  epilogue: string;
}

/** Number of invocations (tiles × groups × splits). */
export function outerInvocations(s: OuterSpec): number {
  return tileCount(s) * s.groups * s.splits;
}

function tileCount(s: OuterSpec): number {
  const bi = Math.ceil(operandWidth(s.a) / s.ti);
  const bj = Math.ceil(operandWidth(s.b) / s.tj);
  return s.symmetric ? (bi * (bi + 1)) / 2 : bi * bj;
}

function isAligned(o: RowOperand): boolean {
  if (o.kind === "patch") return o.d.cinG % 4 === 0;
  return o.cols % 4 === 0 && o.stride % 4 === 0 && o.groupOffset % 4 === 0;
}

/** Rows handled per loop iteration (each accumulator takes 4 FMAs in a row). */
const ROW_STEP = 4;

/**
 * Per-tile setup, and the loads of one row `k` of the 4-row step into the
 * vec4 values `<name>v<q>_<k>`, unrolled by the generator (named values stay
 * in registers on llvmpipe; dynamically indexed arrays do not). Row k reads
 * row `r<k>` (clamped into range) whose pixel is (`nb<k>`, `oy<k>`, `ox<k>`)
 * for patches. Column code per block/element: ≥ 0 a texel (aligned) or float
 * (scalar) offset, -1 zero, -2 one.
 */
function operandCode(o: RowOperand, name: string, tex: string, t: number, start: string) {
  const real = o.kind === "dense" ? o.cols : o.d.kpos * o.d.cinG;
  const Q = range(t / 4);
  const E = range(t);
  const ones = (col: string) => (o.ones ? `select(-1, -2, ${col} == ${real}u)` : "-1");
  const pick = (v: string, c: string, ok: string) =>
    `select(select(vec4<f32>(0.0), vec4<f32>(1.0, 0.0, 0.0, 0.0), ${c} == -2), ${v}, ${ok})`;
  const pickS = (v: string, c: string, ok: string) =>
    `select(select(0.0, 1.0, ${c} == -2), ${v}, ${ok})`;
  if (o.kind === "dense") {
    if (isAligned(o)) {
      return {
        setup: lines(
          Q,
          (q) =>
            `  let ${name}c${q} = select(${
              ones(`${start} + ${4 * q}u`)
            }, i32((g * ${o.groupOffset}u + ${start} + ${4 * q}u) / 4u), ${start} + ${
              4 * q
            }u < ${real}u);`,
        ),
        load: (k: number) =>
          lines(
            Q,
            (q) =>
              `    let ${name}v${q}_${k} = ${
                pick(
                  `${tex}_v4(u32(max(${name}c${q}, 0)) + r${k} * ${o.stride / 4}u)`,
                  `${name}c${q}`,
                  `${name}c${q} >= 0`,
                )
              };`,
          ),
      };
    }
    return {
      setup: lines(
        E,
        (e) =>
          `  let ${name}c${e} = select(${
            ones(`${start} + ${e}u`)
          }, i32(g * ${o.groupOffset}u + ${start} + ${e}u), ${start} + ${e}u < ${real}u);`,
      ),
      load: (k: number) =>
        lines(Q, (q) =>
          `    let ${name}v${q}_${k} = vec4<f32>(${
            range(4).map((m) => {
              const c = `${name}c${4 * q + m}`;
              return pickS(`${tex}_at(u32(max(${c}, 0)) + r${k} * ${o.stride}u)`, c, `${c} >= 0`);
            }).join(", ")
          });`),
    };
  }
  const d = o.d;
  const inside = (iy: string, ix: string, c: string) =>
    `${c} >= 0 && ${iy} >= 0 && ${iy} < ${d.inH} && ${ix} >= 0 && ${ix} < ${d.inW}`;
  const decode = (e: number, col: string, channel: string) =>
    `  let ${name}kp${e} = (${col}) / ${d.cinG}u;
  let ${name}y${e} = i32(${name}kp${e} / ${d.kw}u) * ${d.dilationH} - ${d.padH};
  let ${name}x${e} = i32(${name}kp${e} % ${d.kw}u) * ${d.dilationW} - ${d.padW};
  let ${name}c${e} = select(${ones(`(${col})`)}, ${channel}, (${col}) < ${real}u);`;
  // Input texel (aligned) or float (scalar) of column e for row k, and whether it is inside the image.
  const tap = (e: number, k: number, perTexel: boolean) => {
    const iy = `${name}iy${e}_${k}`;
    const ix = `${name}ix${e}_${k}`;
    const c = `${name}c${e}`;
    const last = (d.batch * d.inH * d.inW * d.inC) / (perTexel ? 4 : 1) - 1;
    return {
      code: `    let ${iy} = oy${k} + ${name}y${e};
    let ${ix} = ox${k} + ${name}x${e};
    let ${name}t${e}_${k} = u32(clamp(((nb${k} + ${iy}) * ${d.inW} + ${ix}) * ${
        d.inC / (perTexel ? 4 : 1)
      } + ${c}, 0, ${last}));`,
      index: `${name}t${e}_${k}`,
      ok: inside(iy, ix, c),
      c,
    };
  };
  if (isAligned(o)) {
    return {
      setup: lines(Q, (q) => {
        const col = `${start} + ${4 * q}u`;
        return decode(q, col, `i32((g * ${d.cinG}u + (${col}) % ${d.cinG}u) / 4u)`);
      }),
      load: (k: number) =>
        lines(Q, (q) => {
          const tp = tap(q, k, true);
          return `${tp.code}\n    let ${name}v${q}_${k} = ${
            pick(`${tex}_v4(${tp.index})`, tp.c, tp.ok)
          };`;
        }),
    };
  }
  return {
    setup: lines(E, (e) => {
      const col = `${start} + ${e}u`;
      return decode(e, col, `i32(g * ${d.cinG}u + (${col}) % ${d.cinG}u)`);
    }),
    load: (k: number) =>
      lines(E, (e) => {
        const tp = tap(e, k, false);
        return `${tp.code}\n    let ${name}s${e}_${k} = ${
          pickS(`${tex}_at(${tp.index})`, tp.c, tp.ok)
        };`;
      }) + "\n" +
      lines(Q, (q) =>
        `    let ${name}v${q}_${k} = vec4<f32>(${
          range(4).map((m) => `${name}s${4 * q + m}_${k}`).join(", ")
        });`),
  };
}

/** WGSL source of the outer-product kernel. */
export function outerWgsl(s: OuterSpec): string {
  if (s.symmetric && s.ti !== s.tj) {
    throw new RangeError(`${s.label}: symmetric tiles must be square`);
  }
  const I = operandWidth(s.a);
  const J = operandWidth(s.b);
  const TI4 = s.ti / 4;
  const TJ4 = s.tj / 4;
  const tiles = tileCount(s);
  const total = tiles * s.groups * s.splits;
  const chunk = Math.ceil(s.rows / s.splits / ROW_STEP) * ROW_STEP;
  const patch = s.a.kind === "patch" ? s.a.d : s.b.kind === "patch" ? s.b.d : undefined;
  if (s.a.kind === "patch" && s.b.kind === "patch" && s.a.d !== s.b.d) {
    throw new RangeError(`${s.label}: both patch operands must share one geometry`);
  }
  const opA = operandCode(s.a, "a", "ta", s.ti, "i0");
  const opB = operandCode(s.b, "b", s.shared ? "ta" : "tb", s.tj, "j0");
  const nbj = Math.ceil(J / s.tj);
  const tileDecode = s.symmetric
    ? `var t = tile;
  var bi = 0u;
  while (t >= ${nbj}u - bi) {
    t -= ${nbj}u - bi;
    bi++;
  }
  let i0 = bi * ${s.ti}u;
  let j0 = (bi + t) * ${s.tj}u;`
    : `let i0 = (tile / ${nbj}u) * ${s.ti}u;
  let j0 = (tile % ${nbj}u) * ${s.tj}u;`;
  // Row k of a step: r<k> (clamped into range: loads stay finite) and, for
  // patches, its image base row nb<k> and its output pixel times the stride.
  const K = range(ROW_STEP);
  const rowCoords = lines(K, (k) =>
    `    let r${k} = min(r + ${k}u, ${s.rows - 1}u);` +
    (patch
      ? `
    let p${k} = r${k} % ${patch.outH * patch.outW}u;
    let nb${k} = i32((r${k} / ${patch.outH * patch.outW}u) * ${patch.inH}u);
    let oy${k} = i32(p${k} / ${patch.outW}u) * ${patch.strideH};
    let ox${k} = i32(p${k} % ${patch.outW}u) * ${patch.strideW};`
      : ""));
  // Rows past the chunk contribute nothing: their A values are zeroed.
  const maskA = lines(
    K,
    (k) =>
      lines(
        range(TI4),
        (q) => `    let av${q}_${k}m = select(vec4<f32>(0.0), av${q}_${k}, r + ${k}u < rEnd);`,
      ),
  );
  const I4 = range(TI4);
  const Q = range(TJ4);
  const comps = ["x", "y", "z", "w"];
  // Accumulator rows i = 4·i4 + m hold columns 4q … 4q+3; each takes the
  // step's four rows back to back (one spill/reload per step, not per row).
  const fmas = lines(I4, (i4) =>
    lines(range(4), (m) =>
      lines(Q, (q) => {
        let e = `acc${4 * i4 + m}_${q}`;
        for (const k of K) e = `fma(vec4<f32>(av${i4}_${k}m.${comps[m]}), bv${q}_${k}, ${e})`;
        return `    acc${4 * i4 + m}_${q} = ${e};`;
      })));
  const stores = lines(range(s.ti), (i) =>
    `  if (i0 + ${i}u < ${I}u) {
${
      lines(Q, (q) =>
        lines(range(4), (e) => {
          const j = `j0 + ${4 * q + e}u`;
          const cond = `${j} < ${J}u${s.symmetric ? ` && i0 + ${i}u <= ${j}` : ""}`;
          return `    if (${cond}) { store(g, s, i0 + ${i}u, ${j}, acc${i}_${q}.${comps[e]}); }`;
        }))
    }
  }`);
  return `// ${s.label}: Σ_r A[r]ᵀB[r], ${I}x${J} x${s.groups} groups over ${s.rows} rows in ${s.splits} chunks, tile ${s.ti}x${s.tj}
@group(0) @binding(0) var ta: texture_2d<f32>;
${s.shared ? "" : "@group(0) @binding(1) var tb: texture_2d<f32>;"}
${wgslFlatReaders("ta")}${s.shared ? "" : wgslFlatReaders("tb")}
${s.epilogue}
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let inv = (wid.x + wid.y * nwg.x) * 8u + lid.x;
  if (inv >= ${total}u) { return; }
  // Neighbouring lanes take neighbouring tiles of the same row chunk, so
  // they walk the same rows.
  let tile = inv % ${tiles}u;
  let g = (inv / ${tiles}u) % ${s.groups}u;
  let s = inv / ${tiles * s.groups}u;
  ${tileDecode}
${opA.setup}
${opB.setup}
  let rBeg = s * ${chunk}u;
  let rEnd = min(${s.rows}u, rBeg + ${chunk}u);
${lines(range(s.ti), (i) => lines(Q, (q) => `  var acc${i}_${q} = vec4<f32>(0.0);`))}
  for (var r = rBeg; r < rEnd; r += ${ROW_STEP}u) {
${rowCoords}
${lines(K, (k) => opA.load(k))}
${maskA}
${lines(K, (k) => opB.load(k))}
${fmas}
  }
${stores}
}
`;
}
