/**
 * Combine rules of axis reductions (axis.ts) as WGSL: sums, maxima and the
 * Welford/Chan mean-and-variance states.
 * @module
 */

/**
 * How the inputs of one output combine:
 * - "sum", "max": `acc` is f32 (or vec2<f32> for sums of width 2).
 * - "welford": inputs are f32 values; `acc` is a vec4<f32> state
 *   (count, mean, M2 = Σ(x − mean)², 0), built by Welford's update per input
 *   and merged across threads and chunks with Chan et al.'s pairwise rule,
 *   so mean and variance come from one pass without the cancellation of
 *   E[x²] − E[x]².
 * - "welford_states": inputs are such states (the combining pass of a split
 *   "welford" reduction), merged in order.
 */
export type AxisCombine = "sum" | "max" | "welford" | "welford_states";

/** WGSL of Welford's update and Chan's merge of (count, mean, M2, 0) states. */
const WELFORD_WGSL = `fn welford_push(a: vec4<f32>, x: f32) -> vec4<f32> {
  let n = a.x + 1.0;
  let d = x - a.y;
  let mean = a.y + d / n;
  return vec4<f32>(n, mean, a.z + d * (x - mean), 0.0);
}
fn welford_merge(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  if (b.x == 0.0) { return a; }
  if (a.x == 0.0) { return b; }
  let n = a.x + b.x;
  let d = b.y - a.y;
  let f = b.x / n;
  return vec4<f32>(n, a.y + d * f, a.z + b.z + d * d * a.x * f, 0.0);
}
`;

/** Accumulator type, identity, per-input update and merge of a combine rule, in WGSL. */
export interface Reducer {
  /** Accumulator type. */
  acc: string;
  /** Type `load` returns. */
  input: string;
  /** Identity of the accumulator. */
  identity: string;
  /** Expression folding one input into an accumulator. */
  push: (acc: string, v: string) => string;
  /** Expression merging two accumulators (threads, chunks). */
  merge: (a: string, b: string) => string;
  /** Module-scope WGSL the expressions need. */
  helpers: string;
}

/** The reducer of `combine` at accumulator `width`. */
export function reducer(combine: AxisCombine, width: 1 | 2): Reducer {
  if (combine === "welford" || combine === "welford_states") {
    const merge = (a: string, b: string) => `welford_merge(${a}, ${b})`;
    return {
      acc: "vec4<f32>",
      input: combine === "welford" ? "f32" : "vec4<f32>",
      identity: "vec4<f32>()",
      push: combine === "welford" ? (a, v) => `welford_push(${a}, ${v})` : merge,
      merge,
      helpers: WELFORD_WGSL,
    };
  }
  const A = width === 2 ? "vec2<f32>" : "f32";
  const op = (a: string, b: string) => (combine === "max" ? `max(${a}, ${b})` : `${a} + ${b}`);
  return {
    acc: A,
    input: A,
    // -inf as the identity of max, read from a private variable: a WGSL
    // const-expression may not evaluate to an infinity.
    identity: combine === "max" ? "bitcast<f32>(NEG_INF_BITS)" : `${A}()`,
    push: op,
    merge: op,
    helpers: "var<private> NEG_INF_BITS: u32 = 0xff800000u;\n",
  };
}
