/**
 * Staging code of the register-blocked matmul (see reg_wgsl.ts): how one
 * operand's K tile travels from global memory through prefetch registers
 * into its workgroup buffer.
 *
 * Threads cover the tile in groups of 4 values along the operand's
 * contiguous dimension, so global loads are vec4s (or 4 guarded scalars when
 * that dimension is not a multiple of 4) that consecutive threads take from
 * consecutive addresses. Operands stored with k contiguous are transposed on
 * the way in (4 scalar stores into 4 staged rows); the others are stored as
 * one vec4.
 * @module
 */

/** One staged operand, seen from the tile. */
export interface StagedOperand {
  /** Binding name (A or B); its staging array is `<name>s`. */
  name: "A" | "B";
  /** Size of its outer dimension (M for a, N for b). */
  outer: number;
  /** Tile extent along the outer dimension (BM or BN). */
  tile: number;
  /** Stored with k contiguous ([outer][K]), else outer contiguous ([K][outer]). */
  kContig: boolean;
  /** Its contiguous dimension is a multiple of 4: one vec4 load per group. */
  vec: boolean;
  /** Offset of batch `bt` in floats (a WGSL expression). */
  base: string;
  /** Staged row length in vec4s (tile + padding, over 4). */
  stride4: number;
}

/** What every operand's staging shares. */
export interface StageContext {
  /** Threads per workgroup. */
  threads: number;
  /** K step. */
  bk: number;
  /** The product's K. */
  k: number;
  /** Whether a K tile can reach past K (loads must check k). */
  kGuard: boolean;
}

/** The generated pieces for one operand. */
export interface OperandStager {
  /** Loop-invariant per-thread indices and the prefetch registers. */
  decls: string[];
  /** Global → registers, for the K tile starting at WGSL expression `k0`. */
  load(k0: string): string[];
  /** Registers → staging buffer `buf` (a WGSL expression, 0 or 1). */
  store(buf: string): string[];
}

const C = ["x", "y", "z", "w"];

/**
 * Code staging one operand of the register-blocked kernel: `decls` (loop-invariant per-thread indices and
 * the prefetch registers), `load(k0)` (global → registers for the K tile
 * starting at k0) and `store(buf)` (registers → staging buffer `buf`).
 */
export function stager(o: StagedOperand, ctx: StageContext): OperandStager {
  const { threads: T, bk: BK, k: K, kGuard } = ctx;
  const S4 = o.stride4;
  const X = o.name;
  const O = o.outer;
  const groups = (o.tile * BK) / 4;
  const per = Math.ceil(groups / T);
  const oGuard = O % o.tile !== 0;
  // Group g covers 4 consecutive elements along the contiguous dimension:
  // (outer o, k 4kq..4kq+3) when k is contiguous, else (outer 4oq..4oq+3, k kk).
  const decls: string[] = [];
  for (let l = 0; l < per; l++) {
    decls.push(`  let ${X}e${l} = li + ${l * T}u;`);
    if (o.kContig) {
      decls.push(
        `  let ${X}o${l} = ${X}e${l} / ${BK / 4}u;`,
        `  let ${X}k${l} = ${X}e${l} % ${BK / 4}u;`,
      );
    } else {
      decls.push(
        `  let ${X}k${l} = ${X}e${l} / ${o.tile / 4}u;`,
        `  let ${X}o${l} = ${X}e${l} % ${o.tile / 4}u;`,
      );
    }
    decls.push(`  var ${X}r${l} = vec4<f32>(0.0);`);
  }
  // Only the last round can be partial: its threads past the tile sit it out.
  const open = (l: number) =>
    groups % T !== 0 && l === per - 1 ? `  if (${X}e${l} < ${groups}u) {` : `  {`;
  const and = (...cs: string[]) => cs.filter((c) => c).join(" && ");
  const load = (k0: string) => {
    const out: string[] = [];
    for (let l = 0; l < per; l++) {
      const body: string[] = [];
      const r = `${X}r${l}`;
      if (o.kContig) {
        body.push(`let go = ${X === "A" ? "row0" : "col0"} + ${X}o${l};`);
        body.push(`let gk = ${k0} + ${X}k${l} * 4u;`);
        const oc = oGuard ? `go < ${O}u` : "";
        if (o.vec) {
          const cond = and(oc, kGuard ? `gk < ${K}u` : "");
          const ld = `${X}[(${o.base} + go * ${K}u + gk) / 4u]`;
          body.push(
            cond ? `${r} = vec4<f32>(0.0); if (${cond}) { ${r} = ${ld}; }` : `${r} = ${ld};`,
          );
        } else {
          body.push(`${r} = vec4<f32>(0.0);`);
          for (let c = 0; c < 4; c++) {
            const cond = and(oc, kGuard || K % 4 !== 0 ? `gk + ${c}u < ${K}u` : "");
            const ld = `${r}.${C[c]} = ${X}[${o.base} + go * ${K}u + gk + ${c}u];`;
            body.push(cond ? `if (${cond}) { ${ld} }` : ld);
          }
        }
      } else {
        body.push(`let gk = ${k0} + ${X}k${l};`);
        body.push(`let go = ${X === "A" ? "row0" : "col0"} + ${X}o${l} * 4u;`);
        const kc = kGuard ? `gk < ${K}u` : "";
        if (o.vec) {
          const cond = and(kc, oGuard ? `go < ${O}u` : "");
          const ld = `${X}[(${o.base} + gk * ${O}u + go) / 4u]`;
          body.push(
            cond ? `${r} = vec4<f32>(0.0); if (${cond}) { ${r} = ${ld}; }` : `${r} = ${ld};`,
          );
        } else {
          body.push(`${r} = vec4<f32>(0.0);`);
          for (let c = 0; c < 4; c++) {
            const cond = and(kc, oGuard || O % 4 !== 0 ? `go + ${c}u < ${O}u` : "");
            const ld = `${r}.${C[c]} = ${X}[${o.base} + gk * ${O}u + go + ${c}u];`;
            body.push(cond ? `if (${cond}) { ${ld} }` : ld);
          }
        }
      }
      out.push(open(l), ...body.map((b) => `    ${b}`), `  }`);
    }
    return out;
  };
  const store = (buf: string) => {
    const out: string[] = [];
    for (let l = 0; l < per; l++) {
      const sb = `(${buf}) * ${BK * S4}u`;
      const body: string[] = [];
      if (o.kContig) {
        // Transposing store: the 4 k values go to 4 staged rows, same outer index.
        const at = (c: number) => `${sb} + (${X}k${l} * 4u + ${c}u) * ${S4}u + ${X}o${l} / 4u`;
        for (let c = 0; c < 4; c++) {
          body.push(`${X}s[${at(c)}][${X}o${l} % 4u] = ${X}r${l}.${C[c]};`);
        }
      } else body.push(`${X}s[${sb} + ${X}k${l} * ${S4}u + ${X}o${l}] = ${X}r${l};`);
      out.push(open(l), ...body.map((b) => `    ${b}`), `  }`);
    }
    return out;
  };
  return { decls, load, store };
}
