/**
 * WGSL text every kernel family shares: numbers written as WGSL literals, and
 * the one activation library (the activation ops and the matmul epilogue both
 * generate their formulas here, so a layer and a fused epilogue compute the
 * same function).
 * @module
 */

/**
 * A finite JS number as an exact WGSL f32 literal (rounded to f32 first), in
 * parentheses so it can follow a unary minus or any operator.
 *
 * The `f` suffix makes the literal an f32, never an abstract float, so an
 * expression of several literals is evaluated in f32 like the rest of the
 * kernel.
 */
export function f32Lit(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`cannot bake ${v} into WGSL as an f32 constant`);
  const f = Math.fround(v);
  if (!Number.isFinite(f)) throw new RangeError(`${v} overflows f32`);
  // String() of an f32-representable double is the shortest decimal that parses
  // back to it exactly; WGSL rounds the literal to the same f32.
  return `(${String(f)}f)`;
}

// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

/**
 * Pointwise activation. `gelu` is the tanh approximation
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (PyTorch's `approximate="tanh"`).
 */
export type ActivationOp = "relu" | "gelu" | "tanh" | "sigmoid" | "identity";

/** Every activation, for validation and test loops. */
export const ACTIVATION_OPS: readonly ActivationOp[] = [
  "relu",
  "gelu",
  "tanh",
  "sigmoid",
  "identity",
];

/** One float type the activation helpers are generated for. */
export interface ActivationType {
  /** WGSL type name: `f32`, `vec4<f32>`, or an alias such as `T`. */
  type: string;
  /** Appended to every helper's name, so helpers for several types can coexist. */
  suffix: string;
}

/** The map kernels' convention: one alias `T` (f32 or vec4<f32>), unsuffixed helpers. */
const ALIAS_T: readonly ActivationType[] = [{ type: "T", suffix: "" }];

/**
 * WGSL helpers `act_tanh`, `act_sigmoid`, `act_gelu` and `act_gelu_grad` for
 * each of `types` (default: the alias `T`), after the GELU constants (once).
 *
 * tanh's argument is clamped to ±10: f32 tanh is exactly ±1 beyond ±9.01, and
 * some backends evaluate tanh as a ratio of exponentials that turns into
 * inf/inf = NaN for large inputs. The sigmoid uses exp(−|x|) so it never
 * overflows.
 */
export function wgslActivations(types: readonly ActivationType[] = ALIAS_T): string {
  const helpers = types.map(({ type: T, suffix: s }) =>
    `fn act_tanh${s}(v: ${T}) -> ${T} {
  return tanh(clamp(v, ${T}(-10.0), ${T}(10.0)));
}
fn act_sigmoid${s}(v: ${T}) -> ${T} {
  let z = exp(-abs(v));
  let r = ${T}(1.0) / (${T}(1.0) + z);
  return select(z * r, r, v >= ${T}(0.0));
}
fn act_gelu${s}(v: ${T}) -> ${T} {
  let t = act_tanh${s}(GELU_K0 * (v + GELU_K1 * v * v * v));
  return 0.5 * v * (${T}(1.0) + t);
}
fn act_gelu_grad${s}(v: ${T}) -> ${T} {
  let t = act_tanh${s}(GELU_K0 * (v + GELU_K1 * v * v * v));
  // Beyond |x| = 10, 1 − t² is exactly 0; clamping keeps x² finite there.
  let vc = clamp(v, ${T}(-10.0), ${T}(10.0));
  return 0.5 * (${T}(1.0) + t) + 0.5 * vc * (${T}(1.0) - t * t) * GELU_K0 * (${T}(1.0) + 3.0 * GELU_K1 * vc * vc);
}
`
  );
  return `const GELU_K0: f32 = 0.7978845608028654;
const GELU_K1: f32 = 0.044715;
${helpers.join("")}`;
}

/**
 * WGSL expression of op(v), for a value of type `T` whose helpers (from
 * {@link wgslActivations}) carry `suffix`.
 */
export function activationExpr(op: ActivationOp, v: string, T = "T", suffix = ""): string {
  switch (op) {
    case "relu":
      return `max(${v}, ${T}(0.0))`;
    case "gelu":
      return `act_gelu${suffix}(${v})`;
    case "tanh":
      return `act_tanh${suffix}(${v})`;
    case "sigmoid":
      return `act_sigmoid${suffix}(${v})`;
    case "identity":
      return v;
  }
}

/**
 * WGSL expression of op'(v)·g (relu'(0) = 0, as in PyTorch), for values of
 * type `T` whose helpers carry `suffix`.
 */
export function activationGradExpr(
  op: ActivationOp,
  v: string,
  g: string,
  T = "T",
  suffix = "",
): string {
  switch (op) {
    case "relu":
      return `select(${T}(0.0), ${g}, ${v} > ${T}(0.0))`;
    case "gelu":
      return `act_gelu_grad${suffix}(${v}) * ${g}`;
    case "tanh":
      return `(${T}(1.0) - act_tanh${suffix}(${v}) * act_tanh${suffix}(${v})) * ${g}`;
    case "sigmoid":
      return `act_sigmoid${suffix}(${v}) * (${T}(1.0) - act_sigmoid${suffix}(${v})) * ${g}`;
    case "identity":
      return g;
  }
}

/** 0, 1, …, n − 1: the indices a generator unrolls over. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** `f(i)` for every index of `xs`, one per line (unrolled WGSL statements). */
export function lines(xs: readonly number[], f: (i: number) => string): string {
  return xs.map(f).join("\n");
}
