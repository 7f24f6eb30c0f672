/**
 * Dense linear-algebra kernels for the Kronecker factors' inverse roots: the
 * scalars every root reports into, shared WGSL pieces, and small setters.
 *
 * The root computation itself is split by step: power iteration and the
 * normaliser (power.ts), the elementwise steps of the coupled iteration
 * (steps.ts), symmetric products (symmetric.ts), the recorded chain
 * (chain.ts) and its kernel family (chain_family.ts).
 *
 * Every root kernel works on a *batch*: `count` factors of one size d stored
 * back to back ([count, d, d]), one dispatch for all of them. Scalars that
 * depend on data (λ̂, the normaliser) stay on the GPU in a `scalars` tensor of
 * SCALAR_SLOTS values per factor, so a root refresh never reads back. Slots:
 * [0] λ̂ (power iteration), [1] normaliser (trace or upper bound),
 * [2] residual of the last root, [3] 1 when the last root was accepted else 0,
 * [4] number of rejected roots so far.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { f32Lit } from "../wgsl.ts";

/** Number of f32 slots per factor in a scalars tensor. */
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

/** Threads of the one-dimensional elementwise root kernels. */
const LINALG_WG = 64;

/** Threads of the reducing root kernels (a power of two). */
export const REDUCE_WG = 256;

/** Throws a RangeError `label: msg` unless `cond`. */
export function check(label: string, cond: boolean, msg: string): void {
  if (!cond) throw new RangeError(`${label}: ${msg}`);
}

/** Checks that `t` holds `count` stacked d×d matrices. */
export function checkStacked(label: string, t: Tensor, d: number, count: number): void {
  check(
    label,
    t.size === count * d * d,
    `"${t.name}" has ${t.size} values, not ${count}×${d}×${d}`,
  );
}

/**
 * WGSL of `red_sum(li, x)` and `red_max(li, x)`: the sum (max) of `x` over
 * the REDUCE_WG threads of a workgroup, as a fixed-shape tree in workgroup
 * memory (deterministic). Every thread must call them (they hold barriers).
 */
export const WGSL_WORKGROUP_REDUCE = `var<workgroup> red: array<f32, ${REDUCE_WG}>;
fn red_sum(li: u32, x: f32) -> f32 {
  red[li] = x;
  workgroupBarrier();
  for (var st = ${REDUCE_WG / 2}u; st > 0u; st >>= 1u) {
    if (li < st) { red[li] = red[li] + red[li + st]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn red_max(li: u32, x: f32) -> f32 {
  red[li] = x;
  workgroupBarrier();
  for (var st = ${REDUCE_WG / 2}u; st > 0u; st >>= 1u) {
    if (li < st) { red[li] = max(red[li], red[li + st]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

/**
 * One invocation per element of an n-element range: `body` sees `i` (the
 * element) and may `return` early. Returns the dispatch.
 */
export function elementwise(
  gpu: Gpu,
  label: string,
  n: number,
  decls: string,
  body: string,
  bindings: Tensor[],
): Command {
  const { wgsl, grid } = elementwiseModule(gpu, n, decls, body);
  return dispatch(gpu, label, wgsl, bindings, grid);
}

/** The whole module and grid of an {@link elementwise} kernel (what a tuner compiles). */
export function elementwiseModule(
  gpu: Gpu,
  n: number,
  decls: string,
  body: string,
): { wgsl: string; grid: [number, number, number] } {
  const grid = grid2d(Math.ceil(n / LINALG_WG), gpu.limits.maxComputeWorkgroupsPerDimension);
  return { wgsl: elementwiseWgsl(n, grid[0], decls, body), grid };
}

/** WGSL of an {@link elementwise} kernel over a grid `gridX` workgroups wide. */
export function elementwiseWgsl(n: number, gridX: number, decls: string, body: string): string {
  return `${decls}
@compute @workgroup_size(${LINALG_WG}) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x + g.y * ${gridX * LINALG_WG}u;
  if (i >= ${n}u) { return; }
${body}
}
`;
}

/**
 * WGSL lines giving, for element `i` of [count, d, d] stacked matrices, the
 * factor `f`, row `r`, column `col` and `diag` (r == col).
 */
export function wgslStackedIndex(d: number): string {
  return `  let f = i / ${d * d}u;
  let e = i % ${d * d}u;
  let r = e / ${d}u;
  let col = e % ${d}u;
  let diag = r == col;`;
}

/** X ← scale·I for each of the stacked d×d matrices in X. */
export function setIdentity(gpu: Gpu, a: { X: Tensor; d: number; scale?: number }): Command[] {
  const { d } = a;
  check("set_identity", a.X.size % (d * d) === 0, `"${a.X.name}" is not a stack of ${d}×${d}`);
  const decls = `@group(0) @binding(0) var<storage, read_write> X: array<f32>;`;
  const body = `  let j = i % ${d * d}u;
  X[i] = select(0.0, ${f32Lit(a.scale ?? 1)}, (j / ${d}u) == (j % ${d}u));`;
  return [elementwise(gpu, "set_identity", a.X.size, decls, body, [a.X])];
}

/** WGSL for slot `slot` of factor `f`'s scalars in the binding `s` ([count, SCALAR_SLOTS]). */
export function wgslScalar(slot: number): string {
  return `s[f * ${SCALAR_SLOTS}u + ${slot}u]`;
}
