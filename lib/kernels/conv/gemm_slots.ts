/**
 * How the implicit GEMM (gemm.ts) stages an operand: which element each
 * thread loads in each pass over the tile, the hoisted decomposition of its
 * fixed coordinate, the register prefetch, and the store into workgroup
 * memory (vec4 rows, k-major: `As[k][m]`, `Bs[k][n]`).
 * @module
 */

import type { GemmOperand } from "./gemm_operands.ts";
import { range } from "../wgsl.ts";

/** WGSL pieces staging one operand. */
export interface SlotCode {
  /** Statements before the k loop: slot indices, hoisted values, prefetch registers. */
  prep: string;
  /** Statements fetching the slice at reduction offset `k` into the registers. */
  fetch: (k: string) => string;
  /** Statements storing the registers into the workgroup tile `<prefix>s`. */
  stash: string;
}

/**
 * Load slots of operand `op` under prefix `p` (A or B) for a tile of `outer`
 * rows or columns × `bk` reduction steps loaded by `threads` threads, the
 * tile starting at outer index `origin`: which fixed and varying coordinate
 * each pass of a thread reads (the fixed one, hence its hoisted
 * decomposition, never changes), and how the value is stored.
 */
export function slotCode(
  op: GemmOperand,
  p: string,
  outer: number,
  bk: number,
  threads: number,
  origin: string,
): SlotCode {
  const V = op.vec;
  const perRow = op.rows === "outer" ? bk / V : outer / V;
  const slots = op.rows === "outer" ? outer * perRow : bk * perRow;
  const passes = range(Math.ceil(slots / threads));
  const full = slots % threads === 0;
  const type = V === 4 ? "vec4<f32>" : "f32";
  const prep: string[] = [];
  const fetchOne: ((k: string) => string)[] = [];
  const stashOne: string[] = [];
  // The fixed coordinate cycles with period `span` over slots; when the
  // thread count is a multiple of it, every pass of a thread has the same
  // fixed coordinate and shares one hoisted decomposition.
  const span = op.rows === "outer" ? outer : perRow;
  const shared = threads % span === 0;
  if (shared) {
    prep.push(`  let ${p}fix = li % ${span}u;`, `  let ${p}var0 = li / ${span}u;`);
    const f = op.rows === "outer" ? `${p}fix` : `${p}fix * ${V}u`;
    prep.push(`  let ${p}h = ${p}hoist(g, ${origin} + ${f});`);
  }
  for (const q of passes) {
    const sl = `${p}sl${q}`;
    const v = `${p}v${q}`;
    const fix = shared ? `${p}fix` : `${p}fix${q}`;
    const vary = `${p}var${q}`;
    const h = shared ? `${p}h` : `${p}h${q}`;
    if (!full || !shared) prep.push(`  let ${sl} = li + ${q * threads}u;`);
    if (!full) prep.push(`  let ${p}in${q} = ${sl} < ${slots}u;`);
    if (shared) {
      if (q > 0) prep.push(`  let ${vary} = ${p}var0 + ${(q * threads) / span}u;`);
    } else {
      prep.push(`  let ${fix} = ${sl} % ${span}u;`, `  let ${vary} = ${sl} / ${span}u;`);
    }
    if (op.rows === "outer") {
      // Row-fastest: neighbouring threads stage neighbouring rows (no store conflicts).
      if (!shared) prep.push(`  let ${h} = ${p}hoist(g, ${origin} + ${fix});`);
      fetchOne.push((k) => `${v} = ${p}fetch(${h}, ${k} + ${vary} * ${V}u);`);
      stashOne.push(
        range(V).map((c) =>
          `${p}s[(${vary} * ${V}u + ${c}u) * ${outer / 4}u + ${fix} / 4u][${fix} % 4u] = ${
            V === 4 ? `${v}[${c}]` : v
          };`
        ).join(" "),
      );
    } else {
      if (!shared) prep.push(`  let ${h} = ${p}hoist(g, ${origin} + ${fix} * ${V}u);`);
      fetchOne.push((k) => `${v} = ${p}fetch(${h}, ${k} + ${vary});`);
      stashOne.push(
        V === 4
          ? `${p}s[${vary} * ${outer / 4}u + ${fix}] = ${v};`
          : `${p}s[${vary} * ${outer / 4}u + ${fix} / 4u][${fix} % 4u] = ${v};`,
      );
    }
    prep.push(`  var ${v}: ${type};`);
  }
  const guard = (q: number, body: string) =>
    full ? `    ${body}` : `    if (${p}in${q}) { ${body} }`;
  return {
    prep: prep.join("\n"),
    fetch: (k: string) => passes.map((q) => guard(q, fetchOne[q](k))).join("\n"),
    stash: passes.map((q) => guard(q, stashOne[q])).join("\n"),
  };
}
