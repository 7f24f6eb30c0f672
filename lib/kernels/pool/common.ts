/**
 * What the pooling kernels share: the flat-index prologue and the one-dispatch
 * runner (64 invocations per workgroup).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Binding, type Command, dispatch, grid2d } from "../../gpu/commands.ts";

/** WGSL prologue: flat invocation index `t`, returning past `n`. */
export function prologue(n: number): string {
  return `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= ${n}u) { return; }`;
}

/** One dispatch of `code` over `n` invocations. */
export function run(
  gpu: Gpu,
  label: string,
  code: string,
  bindings: Binding[],
  n: number,
): Command[] {
  return [dispatch(gpu, label, code, bindings, grid2d(Math.ceil(n / 64)))];
}
