/**
 * The elementwise steps of the coupled inverse-root iteration (the paper's
 * Eq. 17) on a batch of `count` stacked d×d matrices: the damped, normalised
 * start, the polynomial T = c0·I + c1·M + c2·M², the residual check of a
 * `converged` root, and the commit of each factor's root.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { f32Lit } from "../wgsl.ts";
import {
  check,
  checkStacked,
  elementwise,
  REDUCE_WG,
  S_ACCEPTED,
  S_LAMBDA,
  S_NORM,
  S_REJECTED,
  S_RESIDUAL,
  SCALAR_SLOTS,
  WGSL_WORKGROUP_REDUCE,
  wgslScalar,
  wgslStackedIndex,
} from "./linalg.ts";

/** Coefficients [c0, c1, c2] of one iteration's T = c0·I + c1·M + c2·M². */
export type RootStepCoefficients = readonly [number, number, number];

/** The WGSL expression of T from M (and M² when c2 ≠ 0), with `diag` in scope. */
export function wgslPolynomial(step: RootStepCoefficients, m: string, m2?: string): string {
  const [c0, c1, c2] = step;
  const square = c2 !== 0 ? `${f32Lit(c2)} * ${m2} + ` : "";
  return `${square}${f32Lit(c1)} * ${m} + select(0.0, ${f32Lit(c0)}, diag)`;
}

/**
 * Y ← (A + damping·λ̂·I)/normaliser for every factor. With `first`, also
 * Z ← T₁ = c0·I + c1·Y (the first iteration, where Z₀ = I makes M = Y; only
 * for c2 = 0); with `identityZ`, Z ← I instead. `symmetrise` reads A's upper
 * triangle only, so Y is exactly symmetric.
 */
export function rootStart(
  gpu: Gpu,
  a: {
    A: Tensor;
    Y: Tensor;
    Z?: Tensor;
    d: number;
    count: number;
    damping: number;
    scalars: Tensor;
    first?: RootStepCoefficients;
    symmetrise?: boolean;
  },
): Command[] {
  const { d, count } = a;
  for (const t of [a.A, a.Y, ...(a.Z ? [a.Z] : [])]) checkStacked("root start", t, d, count);
  check("root start", !a.first || a.first[2] === 0, "a quintic first step needs Y·Y");
  const s = wgslScalar;
  const decls = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${a.Z ? "@group(0) @binding(3) var<storage, read_write> Z: array<f32>;" : ""}`;
  const at = a.symmetrise ? `f * ${d * d}u + min(r, col) * ${d}u + max(r, col)` : "i";
  const body = `${wgslStackedIndex(d)}
  let x = A[${at}] + select(0.0, ${f32Lit(a.damping)} * ${s(S_LAMBDA)}, diag);
  let y = x / ${s(S_NORM)};
  Y[i] = y;
${
    a.Z
      ? a.first ? `  Z[i] = ${wgslPolynomial(a.first, "y")};` : `  Z[i] = select(0.0, 1.0, diag);`
      : ""
  }`;
  const bindings = [a.A, a.scalars, a.Y, ...(a.Z ? [a.Z] : [])];
  return [elementwise(gpu, "root_start", count * d * d, decls, body, bindings)];
}

/** out ← c0·I + c1·M (+ c2·M2) for every stacked matrix. */
export function polyCombine(
  gpu: Gpu,
  a: { M: Tensor; M2?: Tensor; out: Tensor; d: number; count: number; step: RootStepCoefficients },
): Command[] {
  const { d, count } = a;
  const quintic = a.step[2] !== 0;
  check("root poly", !quintic || a.M2 !== undefined, "c2 ≠ 0 needs M²");
  const decls = `@group(0) @binding(0) var<storage, read> M: array<f32>;
@group(0) @binding(1) var<storage, read_write> T: array<f32>;
${quintic ? "@group(0) @binding(2) var<storage, read> M2: array<f32>;" : ""}`;
  const body = `${wgslStackedIndex(d)}
  T[i] = ${wgslPolynomial(a.step, "M[i]", "M2[i]")};`;
  const bindings = [a.M, a.out, ...(quintic ? [a.M2!] : [])];
  return [elementwise(gpu, "root_poly", count * d * d, decls, body, bindings)];
}

/**
 * The check of `converged` roots: the residual ‖M − I‖_F/√d of M = Z·Y and
 * the finiteness of X, per factor, into scalars (residual, accept flag,
 * rejection count). Column sums run in parallel into `rows` [count, d, 2],
 * then a workgroup per factor decides.
 */
export function rootCheck(
  gpu: Gpu,
  a: {
    M: Tensor;
    X: Tensor;
    d: number;
    count: number;
    tolerance: number;
    scalars: Tensor;
    rows: Tensor;
  },
): Command[] {
  const { d, count } = a;
  check("root check", a.rows.size >= 2 * count * d, `row scratch needs ${2 * count * d} values`);
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  // The set of entries is what matters (Frobenius norm, finiteness), so each
  // invocation walks a column: neighbouring invocations read neighbouring addresses.
  const colDecls = `@group(0) @binding(0) var<storage, read> M: array<f32>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> rows: array<f32>;`;
  const colBody = `  let base = (i / ${d}u) * ${d * d}u;
  let c = i % ${d}u;
  var acc = 0.0;
  var bad = 0.0;
  for (var j = 0u; j < ${d}u; j++) {
    let e = M[base + j * ${d}u + c] - select(0.0, 1.0, c == j);
    acc += e * e;
    let x = X[base + j * ${d}u + c];
    // x != x is NaN; |x| > 3e38 is ±Inf (WGSL has no isnan/isinf).
    if (x != x || abs(x) > 3.0e38) { bad = 1.0; }
  }
  rows[2u * i] = acc;
  rows[2u * i + 1u] = bad;`;
  const perFactor = grid2d(count, max);
  const s = wgslScalar;
  const verdict = `@group(0) @binding(0) var<storage, read> rows: array<f32>;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
${WGSL_WORKGROUP_REDUCE}
@compute @workgroup_size(${REDUCE_WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32) {
  let f = wid.x + wid.y * ${perFactor[0]}u;
  if (f >= ${count}u) { return; }
  var acc = 0.0;
  var bad = 0.0;
  for (var i = li; i < ${d}u; i += ${REDUCE_WG}u) {
    acc += rows[2u * (f * ${d}u + i)];
    bad = max(bad, rows[2u * (f * ${d}u + i) + 1u]);
  }
  let res = sqrt(red_sum(li, acc) / ${d}.0);
  let worst = red_max(li, bad);
  if (li == 0u) {
    ${s(S_RESIDUAL)} = res;
    let ok = worst == 0.0 && res == res && res <= ${f32Lit(a.tolerance)} && ${s(S_NORM)} > 0.0;
    ${s(S_ACCEPTED)} = select(0.0, 1.0, ok);
    if (!ok) { ${s(S_REJECTED)} += 1.0; }
  }
}
`;
  return [
    elementwise(gpu, "root_residual_cols", count * d, colDecls, colBody, [a.M, a.X, a.rows]),
    dispatch(gpu, "root_verdict", verdict, [a.rows, a.scalars], perFactor),
  ];
}

/**
 * Commits factor `index` of the batch: root ← X[index]·normaliser^power
 * (power −½ turns Z into A_d^(−1/2), +½ turns Y into A_d^(1/2)). With
 * `checked`, only when the factor's accept flag is set (else the previous
 * root stays).
 */
export function rootCommit(
  gpu: Gpu,
  a: {
    X: Tensor;
    root: Tensor;
    d: number;
    index: number;
    power: 0.5 | -0.5;
    scalars: Tensor;
    checked: boolean;
  },
): Command[] {
  const { d, index } = a;
  check("root commit", a.root.size === d * d, `root "${a.root.name}" is not ${d}×${d}`);
  check("root commit", a.X.size >= (index + 1) * d * d, `"${a.X.name}" has no factor ${index}`);
  const norm = `s[${index * SCALAR_SLOTS + S_NORM}]`;
  const decls = `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> R: array<f32>;`;
  const scale = a.power === -0.5 ? `inverseSqrt(${norm})` : `sqrt(${norm})`;
  const guard = a.checked
    ? `  if (s[${index * SCALAR_SLOTS + S_ACCEPTED}] != 1.0) { return; }\n`
    : "";
  const body = `${guard}  R[i] = X[${index * d * d}u + i] * ${scale};`;
  return [elementwise(gpu, "root_commit", d * d, decls, body, [a.X, a.scalars, a.root])];
}
