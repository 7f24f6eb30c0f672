/**
 * WGSL of the power-iteration kernels (power.ts records them): the fused
 * one-workgroup-per-factor kernel, one product of the per-product variant,
 * the column sums of the upper bound, and the finishing kernels that store
 * λ̂ and the normaliser.
 * @module
 */

import { f32Lit } from "../wgsl.ts";
import { REDUCE_WG, S_LAMBDA, S_NORM, WGSL_WORKGROUP_REDUCE, wgslScalar } from "./linalg.ts";

/** How the start of the iteration normalises the damped matrix. */
export type RootNormaliser = "trace" | "upper_bound";

/** What a power iteration computes (shapes and constants, no tensors). */
export interface PowerConfig {
  /** Size of each factor. */
  d: number;
  /** Number of factors. */
  count: number;
  /** Power-iteration rounds (2 products each); 0 leaves λ̂ as it is. */
  rounds: number;
  /** Write this λ̂ instead of estimating it (absolute damping: λ̂ = 1, no rounds). */
  fixedLambda?: number;
  /** Relative damping ε of A_d = A + ε·λ̂·I. */
  damping: number;
  /**
   * `trace`: τ = tr(A) + d·ε·λ̂ (the reference code); `upper_bound`:
   * c = min(‖A_d‖_F, ‖A_d‖_1)·1.0201, a guaranteed bound on λ_max(A_d) with
   * slack for rounding (‖A_d‖_1 = ‖A_d‖_∞ for a symmetric matrix).
   */
  normaliser: RootNormaliser;
}

/** Outputs per workgroup of a product; REDUCE_WG / TX threads share each output. */
export const TX = 32;
const TY = REDUCE_WG / TX;

function header(count: number, gridX: number): string {
  return `@compute @workgroup_size(${TX}, ${TY}) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let f = wid.x + wid.y * ${gridX}u;
  if (f >= ${count}u) { return; }`;
}

/** Where a finishing kernel takes λ̂ from. */
export type LambdaSource = "v" | "fixed" | "keep";
/** What a finishing kernel computes as the normaliser. */
export type NormaliserSource = "trace" | "bound_from_A" | "bound_from_rows" | "none";

/**
 * WGSL computing λ̂ (from `vsq`, the thread's share of ‖v‖², or fixed, or as
 * stored) and the normaliser of factor f, and storing what it computed.
 */
function finishWgsl(
  a: PowerConfig,
  vsq: string,
  lambda: LambdaSource,
  norm: NormaliserSource,
): string {
  const { d } = a;
  const eps = f32Lit(a.damping);
  const L: string[] = [];
  const s = wgslScalar;
  if (lambda === "fixed") L.push(`  let lam = ${f32Lit(a.fixedLambda!)};`);
  else if (lambda === "v") L.push(`  let lam = sqrt(red_sum(li, ${vsq}));`);
  else L.push(`  let lam = ${s(S_LAMBDA)};`);
  if (norm === "trace" || norm === "bound_from_A") L.push(`  let fb = f * ${d * d}u;`);
  if (norm === "trace") {
    L.push(`  var t = 0.0;`);
    L.push(`  for (var i = li; i < ${d}u; i += ${REDUCE_WG}u) { t += A[fb + i * ${d + 1}u]; }`);
    L.push(`  let tau = red_sum(li, t) + ${d}.0 * ${eps} * lam;`);
    // An all-zero factor (no signal yet) would give 0/0: use 1, which turns the
    // iteration into a multiple of I (plain gradient after norm recovery).
    L.push(`  let norm = select(1.0, tau, tau > 0.0);`);
  } else if (norm !== "none") {
    L.push(`  var inf = 0.0;`, `  var fro = 0.0;`);
    L.push(`  for (var i = li; i < ${d}u; i += ${REDUCE_WG}u) {`);
    if (norm === "bound_from_A") {
      L.push(`    var abs_sum = 0.0;`, `    var sq = 0.0;`);
      L.push(`    for (var j = 0u; j < ${d}u; j++) {`);
      L.push(`      let x = A[fb + j * ${d}u + i] + select(0.0, ${eps} * lam, i == j);`);
      L.push(`      abs_sum += abs(x);`, `      sq += x * x;`, `    }`);
      L.push(`    inf = max(inf, abs_sum);`, `    fro += sq;`);
    } else {
      L.push(`    let k = 2u * (f * ${d}u + i);`);
      L.push(`    inf = max(inf, rows[k]);`, `    fro += rows[k + 1u];`);
    }
    L.push(`  }`);
    L.push(`  let c = min(red_max(li, inf), sqrt(red_sum(li, fro))) * 1.0201;`);
    L.push(`  let norm = select(1.0, c, c > 0.0);`);
  }
  L.push(`  if (li == 0u) {`);
  if (lambda !== "keep") L.push(`    ${s(S_LAMBDA)} = lam;`);
  if (norm !== "none") L.push(`    ${s(S_NORM)} = norm;`);
  L.push(`  }`);
  return L.join("\n");
}

export function lambdaSource(a: PowerConfig): LambdaSource {
  if (a.fixedLambda !== undefined) return "fixed";
  return a.rounds > 0 ? "v" : "keep";
}

/**
 * WGSL of one product dst = A·(src·inv) for factor f over workgroup-memory or
 * storage vectors: TX outputs at a time, TY threads per output each summing a
 * contiguous chunk of j, combined in chunk order.
 */
function productWgsl(
  d: number,
  src: (j: string) => string,
  dst: (i: string) => string,
  normalise: boolean,
  outputBlocks: boolean,
): string {
  const chunk = Math.ceil(d / TY);
  const L: string[] = [];
  if (normalise) {
    L.push(`    var sq = 0.0;`);
    L.push(
      `    for (var j = li; j < ${d}u; j += ${REDUCE_WG}u) { let x = ${src("j")}; sq += x * x; }`,
    );
    L.push(`    let n = sqrt(red_sum(li, sq));`);
    L.push(`    let inv = select(0.0, 1.0 / n, n > 0.0);`);
  }
  const u = normalise ? `(${src("j")} * inv)` : src("j");
  if (outputBlocks) L.push(`    for (var i0 = 0u; i0 < ${d}u; i0 += ${TX}u) {`);
  else L.push(`    { let i0 = blk * ${TX}u;`);
  L.push(`      let i = i0 + lid.x;`, `      var acc = 0.0;`);
  L.push(`      if (i < ${d}u) {`);
  L.push(`        let j1 = min(${d}u, (lid.y + 1u) * ${chunk}u);`);
  L.push(`        for (var j = lid.y * ${chunk}u; j < j1; j++) {`);
  L.push(`          acc += A[base + j * ${d}u + i] * ${u};`, `        }`, `      }`);
  L.push(`      red[li] = acc;`, `      workgroupBarrier();`);
  L.push(`      if (lid.y == 0u && i < ${d}u) {`, `        var t = red[lid.x];`);
  L.push(`        for (var g = 1u; g < ${TY}u; g++) { t += red[g * ${TX}u + lid.x]; }`);
  L.push(`        ${dst("i")} = t;`, `      }`, `      workgroupBarrier();`, `    }`);
  return L.join("\n");
}

/** WGSL of the fused variant (exported for the kernel family's hashing). */
export function fusedPowerWgsl(a: PowerConfig, gridX: number): string {
  const { d } = a;
  const L: string[] = [];
  L.push(`@group(0) @binding(0) var<storage, read> A: array<f32>;`);
  L.push(`@group(0) @binding(1) var<storage, read_write> s: array<f32>;`);
  L.push(WGSL_WORKGROUP_REDUCE);
  L.push(`var<workgroup> xv: array<f32, ${d}>;`, `var<workgroup> xw: array<f32, ${d}>;`);
  L.push(header(a.count, gridX));
  L.push(`  let base = f * ${d * d}u;`);
  L.push(`  for (var i = li; i < ${d}u; i += ${REDUCE_WG}u) { xv[i] = 1.0; }`);
  L.push(`  workgroupBarrier();`);
  const rounds = lambdaSource(a) === "v" ? a.rounds : 0;
  if (rounds > 0) {
    L.push(`  for (var rd = 0u; rd < ${rounds}u; rd++) {`);
    L.push(`  {`, productWgsl(d, (j) => `xv[${j}]`, (i) => `xw[${i}]`, false, true), `  }`);
    L.push(`  {`, productWgsl(d, (j) => `xw[${j}]`, (i) => `xv[${i}]`, true, true), `  }`);
    L.push(`  }`);
  }
  L.push(`  var vsq = 0.0;`);
  if (rounds > 0) {
    L.push(`  for (var i = li; i < ${d}u; i += ${REDUCE_WG}u) { vsq += xv[i] * xv[i]; }`);
  }
  const norm = a.normaliser === "trace" ? "trace" : "bound_from_A";
  L.push(finishWgsl(a, "vsq", lambdaSource(a), norm), `}`);
  return L.join("\n") + "\n";
}

/** WGSL of one product of the per-product variant. */
export function powerProductWgsl(
  d: number,
  count: number,
  src: "ones" | "raw" | "normalised",
  gridX: number,
): string {
  const blocks = Math.ceil(d / TX);
  const L: string[] = [];
  L.push(`@group(0) @binding(0) var<storage, read> A: array<f32>;`);
  L.push(`@group(0) @binding(1) var<storage, read_write> y: array<f32>;`);
  if (src !== "ones") L.push(`@group(0) @binding(2) var<storage, read> x: array<f32>;`);
  L.push(WGSL_WORKGROUP_REDUCE);
  L.push(`@compute @workgroup_size(${TX}, ${TY}) fn main(@builtin(workgroup_id) wid: vec3<u32>,`);
  L.push(
    `    @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {`,
  );
  L.push(`  let w = wid.x + wid.y * ${gridX}u;`, `  if (w >= ${blocks * count}u) { return; }`);
  L.push(`  let f = w / ${blocks}u;`, `  let blk = w % ${blocks}u;`);
  L.push(`  let base = f * ${d * d}u;`);
  const srcAt = (j: string) => (src === "ones" ? "1.0" : `x[f * ${d}u + ${j}]`);
  L.push(productWgsl(d, srcAt, (i) => `y[f * ${d}u + ${i}]`, src === "normalised", false));
  L.push(`}`);
  return L.join("\n") + "\n";
}

/**
 * Declarations and body of the per-column sums of |A_d| and A_d² (per-product
 * variant, upper bound only), one invocation per column of each factor.
 */
export function boundRowsWgsl(a: PowerConfig): [string, string] {
  const { d } = a;
  const decls = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> rows: array<f32>;`;
  const body = `  let f = i / ${d}u;
  let c = i % ${d}u;
  let shift = ${f32Lit(a.damping)} * ${wgslScalar(S_LAMBDA)};
  var abs_sum = 0.0;
  var sq = 0.0;
  for (var j = 0u; j < ${d}u; j++) {
    let x = A[f * ${d * d}u + j * ${d}u + c] + select(0.0, shift, c == j);
    abs_sum += abs(x);
    sq += x * x;
  }
  rows[2u * i] = abs_sum;
  rows[2u * i + 1u] = sq;`;
  return [decls, body];
}

/** WGSL of a finishing dispatch of the per-product variant. */
export function finishKernelWgsl(
  a: PowerConfig,
  gridX: number,
  lambda: LambdaSource,
  norm: NormaliserSource,
): string {
  const { d } = a;
  const L: string[] = [];
  // Only what this finish reads is declared (layout "auto" drops unused bindings).
  if (norm === "trace") L.push(`@group(0) @binding(0) var<storage, read> A: array<f32>;`);
  L.push(`@group(0) @binding(1) var<storage, read_write> s: array<f32>;`);
  if (lambda === "v") L.push(`@group(0) @binding(2) var<storage, read> v: array<f32>;`);
  if (norm === "bound_from_rows") {
    L.push(`@group(0) @binding(3) var<storage, read> rows: array<f32>;`);
  }
  L.push(WGSL_WORKGROUP_REDUCE, header(a.count, gridX));
  L.push(`  var vsq = 0.0;`);
  if (lambda === "v") {
    L.push(`  for (var i = li; i < ${d}u; i += ${REDUCE_WG}u) {`);
    L.push(`    let x = v[f * ${d}u + i];`, `    vsq += x * x;`, `  }`);
  }
  L.push(finishWgsl(a, "vsq", lambda, norm), `}`);
  return L.join("\n") + "\n";
}
