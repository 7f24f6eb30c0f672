/**
 * Second pass of the split-K kernels: adds the per-chunk partial sums in a
 * fixed order (deterministic, no float atomics) and hands each total to the
 * pass's finishing function (scatter into the weight-gradient layout, or
 * scale/EMA/mirror a Gram matrix).
 * @module
 */

/** Shape of the partial sums `part[s][g][i][j]`. */
export interface PartialShape {
  /** Chunks summed. */
  splits: number;
  /** Groups. */
  groups: number;
  /** Rows of each product. */
  rows: number;
  /** Columns of each product. */
  cols: number;
  /** Only i ≤ j were computed (symmetric products). */
  upper: boolean;
}

/** WGSL that stores one partial: `fn store(g, s, i, j, v)` into binding `binding`. */
export function partialStoreWgsl(p: PartialShape, binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read_write> part: array<f32>;
fn store(g: u32, s: u32, i: u32, j: u32, v: f32) {
  part[((s * ${p.groups}u + g) * ${p.rows}u + i) * ${p.cols}u + j] = v;
}
`;
}

/**
 * WGSL of the reduction: one invocation per (g, i, j), summing chunks 0..S-1
 * from `part` (binding 0) and calling `finish(g, i, j, v)`, which `finish`
 * declares together with its bindings (1 and up).
 */
export function reduceWgsl(p: PartialShape, finish: string): string {
  const n = p.groups * p.rows * p.cols;
  return `// split-K reduction of ${p.splits} chunks, ${p.groups}x${p.rows}x${p.cols}
@group(0) @binding(0) var<storage, read> part: array<f32>;
${finish}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= ${n}u) { return; }
  let j = t % ${p.cols}u;
  let i = (t / ${p.cols}u) % ${p.rows}u;
  let g = t / ${p.rows * p.cols}u;
  ${p.upper ? "if (i > j) { return; }" : ""}
  var v = 0.0;
  for (var s = 0u; s < ${p.splits}u; s++) {
    v += part[s * ${n}u + t];
  }
  finish(g, i, j, v);
}
`;
}
