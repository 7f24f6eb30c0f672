/**
 * Small dense linear-algebra kernels for the Kronecker factors' inverse
 * roots: power-iteration normalisation, trace and norm bounds, the damped
 * and normalised start of the coupled iteration, polynomial combination, and
 * the checked commit of a new root.
 *
 * Scalars that depend on data (λ̂, the normaliser) stay on the GPU in a small
 * `scalars` tensor, so a root refresh never reads back. Layout of `scalars`:
 * [0] λ̂ (power iteration), [1] normaliser (trace or upper bound),
 * [2] residual of the last root, [3] 1 when the last root was accepted else 0,
 * [4] number of rejected roots so far.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { f32Lit } from "../wgsl.ts";

/** Number of f32 slots in a factor's scalars tensor. */
export const SCALAR_SLOTS = 8;
/** Slot of λ̂. */
export const S_LAMBDA = 0;
/** Slot of the normaliser (τ = trace, or c = upper bound of λ_max). */
export const S_NORM = 1;
/** Slot of the residual ‖Z·Y − I‖_F/√d of the last root. */
export const S_RESIDUAL = 2;
/** Slot of the accept flag of the last root. */
export const S_ACCEPTED = 3;
/** Slot of the count of rejected roots. */
export const S_REJECTED = 4;

const WG = 64;

function check(label: string, cond: boolean, msg: string): void {
  if (!cond) throw new RangeError(`${label}: ${msg}`);
}

/**
 * u ← v/‖v‖ (when `u` given) and scalars[slot] ← ‖v‖. One invocation: d is at
 * most a few thousand and this runs every T_ir steps.
 */
export function normalizeVector(
  gpu: Gpu,
  a: { v: Tensor; u?: Tensor; scalars: Tensor; slot: number; label?: string },
): Command[] {
  const d = a.v.size;
  const write = a.u !== undefined;
  const code = `@group(0) @binding(0) var<storage, read> v: array<f32>;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
${write ? "@group(0) @binding(2) var<storage, read_write> u: array<f32>;" : ""}
@compute @workgroup_size(1) fn main() {
  var acc = 0.0;
  for (var i = 0u; i < ${d}u; i++) { acc += v[i] * v[i]; }
  let n = sqrt(acc);
  s[${a.slot}] = n;
${
    write
      ? `  let inv = select(0.0, 1.0 / n, n > 0.0);
  for (var i = 0u; i < ${d}u; i++) { u[i] = v[i] * inv; }`
      : ""
  }
}
`;
  const bindings = [a.v, a.scalars, ...(a.u ? [a.u] : [])];
  return [dispatch(gpu, a.label ?? "normalize_vector", code, bindings, [1])];
}

/** How the start of the iteration normalises the damped matrix. */
export type RootNormaliser = "trace" | "upper_bound";

/**
 * Computes the normaliser of A_d = A + damping·λ̂·I into scalars[S_NORM]:
 * `trace`: τ = tr(A) + d·damping·λ̂ (the reference code);
 * `upper_bound`: c = min(‖A_d‖_F, ‖A_d‖_∞)·1.0201, a guaranteed bound on
 * λ_max(A_d) with slack for rounding. Per-row sums run in parallel into
 * `rowScratch` [d, 2], then one invocation finishes.
 */
export function rootNormaliser(
  gpu: Gpu,
  a: {
    A: Tensor;
    d: number;
    damping: number;
    scalars: Tensor;
    kind: RootNormaliser;
    rowScratch: Tensor;
  },
): Command[] {
  const { d } = a;
  check("root normaliser", a.A.size === d * d, `A has ${a.A.size} values, not ${d}x${d}`);
  check("root normaliser", a.rowScratch.size >= 2 * d, `row scratch needs ${2 * d} values`);
  const eps = f32Lit(a.damping);
  if (a.kind === "trace") {
    const code = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@compute @workgroup_size(1) fn main() {
  var t = 0.0;
  for (var i = 0u; i < ${d}u; i++) { t += A[i * ${d}u + i]; }
  let tau = t + ${d}.0 * ${eps} * s[${S_LAMBDA}];
  // An all-zero factor (no signal yet) would give 0/0: use 1, which turns the
  // iteration into a multiple of I (plain gradient after norm recovery).
  s[${S_NORM}] = select(1.0, tau, tau > 0.0);
}
`;
    return [dispatch(gpu, "root_trace", code, [a.A, a.scalars], [1])];
  }
  const rows = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> r: array<f32>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i >= ${d}u) { return; }
  let shift = ${eps} * s[${S_LAMBDA}];
  var abs_sum = 0.0;
  var sq = 0.0;
  for (var j = 0u; j < ${d}u; j++) {
    let x = A[i * ${d}u + j] + select(0.0, shift, i == j);
    abs_sum += abs(x);
    sq += x * x;
  }
  r[2u * i] = abs_sum;
  r[2u * i + 1u] = sq;
}
`;
  const finish = `@group(0) @binding(0) var<storage, read> r: array<f32>;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@compute @workgroup_size(1) fn main() {
  var inf = 0.0;
  var fro = 0.0;
  for (var i = 0u; i < ${d}u; i++) { inf = max(inf, r[2u * i]); fro += r[2u * i + 1u]; }
  let c = min(inf, sqrt(fro)) * 1.0201;
  s[${S_NORM}] = select(1.0, c, c > 0.0);
}
`;
  return [
    dispatch(gpu, "root_bound_rows", rows, [a.A, a.scalars, a.rowScratch], [Math.ceil(d / WG)]),
    dispatch(gpu, "root_bound", finish, [a.rowScratch, a.scalars], [1]),
  ];
}

function elementwise(
  gpu: Gpu,
  label: string,
  n: number,
  decls: string,
  body: string,
  bindings: Tensor[],
) {
  const grid = grid2d(Math.ceil(n / WG));
  const code = `${decls}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x + g.y * ${grid[0] * WG}u;
  if (i >= ${n}u) { return; }
${body}
}
`;
  return dispatch(gpu, label, code, bindings, grid);
}

/** Y ← (A + damping·λ̂·I)/scalars[S_NORM]; Z ← I (both d×d). */
export function rootStart(
  gpu: Gpu,
  a: { A: Tensor; Y: Tensor; Z: Tensor; d: number; damping: number; scalars: Tensor },
): Command[] {
  const { d } = a;
  const decls = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> Z: array<f32>;`;
  const body = `  let diag = (i / ${d}u) == (i % ${d}u);
  let x = A[i] + select(0.0, ${f32Lit(a.damping)} * s[${S_LAMBDA}], diag);
  Y[i] = x / s[${S_NORM}];
  Z[i] = select(0.0, 1.0, diag);`;
  return [elementwise(gpu, "root_start", d * d, decls, body, [a.A, a.scalars, a.Y, a.Z])];
}

/** out ← c2·M2 + c1·M + c0·I (M2 optional), all d×d. */
export function polyCombine(
  gpu: Gpu,
  a: { M: Tensor; M2?: Tensor; out: Tensor; d: number; c0: number; c1: number; c2?: number },
): Command[] {
  const { d } = a;
  const hasM2 = a.M2 !== undefined && (a.c2 ?? 0) !== 0;
  const decls = `@group(0) @binding(0) var<storage, read> M: array<f32>;
@group(0) @binding(1) var<storage, read_write> T: array<f32>;
${hasM2 ? "@group(0) @binding(2) var<storage, read> M2: array<f32>;" : ""}`;
  const body = `  let diag = (i / ${d}u) == (i % ${d}u);
  T[i] = ${hasM2 ? `${f32Lit(a.c2!)} * M2[i] + ` : ""}${f32Lit(a.c1)} * M[i] + select(0.0, ${
    f32Lit(a.c0)
  }, diag);`;
  return [
    elementwise(gpu, "root_poly", d * d, decls, body, [a.M, a.out, ...(hasM2 ? [a.M2!] : [])]),
  ];
}

/**
 * Commits a new root: root ← X·scalars[S_NORM]^power (power −½ turns Z into
 * A_d^(−1/2), +½ turns Y into A_d^(1/2)). With `check`, the residual
 * ‖M − I‖_F/√d of M = Z·Y is computed first; a non-finite result or a
 * residual above `tolerance` keeps the previous root and counts a rejection.
 * One workgroup decides, every workgroup reads its verdict from scalars, so
 * this is two dispatches.
 */
export function rootCommit(
  gpu: Gpu,
  a: {
    X: Tensor;
    root: Tensor;
    d: number;
    power: 0.5 | -0.5;
    scalars: Tensor;
    check?: { M: Tensor; tolerance: number; rowScratch: Tensor };
  },
): Command[] {
  const { d } = a;
  const cmds: Command[] = [];
  if (a.check) {
    check("root commit", a.check.rowScratch.size >= 2 * d, `row scratch needs ${2 * d} values`);
    // Per-row partial sums in parallel, then one invocation decides: no single
    // invocation loops more than d times (llvmpipe stops loops silently after
    // 65535 iterations per invocation).
    const rows = `@group(0) @binding(0) var<storage, read> M: array<f32>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> r: array<f32>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i >= ${d}u) { return; }
  var acc = 0.0;
  var bad = 0.0;
  for (var j = 0u; j < ${d}u; j++) {
    let e = M[i * ${d}u + j] - select(0.0, 1.0, i == j);
    acc += e * e;
    let x = X[i * ${d}u + j];
    // x != x is NaN; |x| > 3e38 is ±Inf (WGSL has no isnan/isinf).
    if (x != x || abs(x) > 3.0e38) { bad = 1.0; }
  }
  r[2u * i] = acc;
  r[2u * i + 1u] = bad;
}
`;
    const verdict = `@group(0) @binding(0) var<storage, read> r: array<f32>;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@compute @workgroup_size(1) fn main() {
  var acc = 0.0;
  var bad = 0.0;
  for (var i = 0u; i < ${d}u; i++) { acc += r[2u * i]; bad = max(bad, r[2u * i + 1u]); }
  let res = sqrt(acc / ${d}.0);
  s[${S_RESIDUAL}] = res;
  let ok = bad == 0.0 && res == res && res <= ${f32Lit(a.check.tolerance)} && s[${S_NORM}] > 0.0;
  s[${S_ACCEPTED}] = select(0.0, 1.0, ok);
  if (!ok) { s[${S_REJECTED}] += 1.0; }
}
`;
    cmds.push(
      dispatch(gpu, "root_residual_rows", rows, [a.check.M, a.X, a.check.rowScratch], [
        Math.ceil(d / WG),
      ]),
      dispatch(gpu, "root_verdict", verdict, [a.check.rowScratch, a.scalars], [1]),
    );
  }
  const decls = `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> R: array<f32>;`;
  const scale = a.power === -0.5 ? "inverseSqrt(s[" + S_NORM + "])" : "sqrt(s[" + S_NORM + "])";
  const body = a.check
    ? `  if (s[${S_ACCEPTED}] != 1.0) { return; }
  R[i] = X[i] * ${scale};`
    : `  R[i] = X[i] * ${scale};`;
  cmds.push(elementwise(gpu, "root_commit", d * d, decls, body, [a.X, a.scalars, a.root]));
  return cmds;
}

/** scalars[slot] ← value (one invocation). */
export function setScalar(
  gpu: Gpu,
  a: { scalars: Tensor; slot: number; value: number },
): Command[] {
  const code = `@group(0) @binding(0) var<storage, read_write> s: array<f32>;
@compute @workgroup_size(1) fn main() { s[${a.slot}] = ${f32Lit(a.value)}; }
`;
  return [dispatch(gpu, "set_scalar", code, [a.scalars], [1])];
}

/** X ← scale·I for each of `count` stacked d×d matrices. */
export function setIdentity(gpu: Gpu, a: { X: Tensor; d: number; scale?: number }): Command[] {
  const { d } = a;
  const n = a.X.size;
  const decls = `@group(0) @binding(0) var<storage, read_write> X: array<f32>;`;
  const body = `  let j = i % ${d * d}u;
  X[i] = select(0.0, ${f32Lit(a.scale ?? 1)}, (j / ${d}u) == (j % ${d}u));`;
  return [elementwise(gpu, "set_identity", n, decls, body, [a.X])];
}
