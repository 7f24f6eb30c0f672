/**
 * Second pass of the split-K kernels: adds the per-chunk partial sums in a
 * fixed order (deterministic, no float atomics) and hands each total to the
 * pass's finishing function (scatter into the weight-gradient layout, or
 * scale/EMA/mirror a Gram matrix).
 * @module
 */

/** Shape of the partial sums `part[s][g][i][j]` (rows `pitch` floats apart). */
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
  /** Floats between rows of the partials (default `cols`; ≥ cols). */
  pitch?: number;
}

/** Floats one chunk's partial sums take. */
export function partialFloats(p: PartialShape): number {
  return p.groups * p.rows * (p.pitch ?? p.cols);
}

/** WGSL that stores one partial: `fn store(g, s, i, j, v)` into binding `binding`. */
export function partialStoreWgsl(p: PartialShape, binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read_write> part: array<f32>;
fn store(g: u32, s: u32, i: u32, j: u32, v: f32) {
  part[((s * ${p.groups}u + g) * ${p.rows}u + i) * ${p.pitch ?? p.cols}u + j] = v;
}
`;
}

/**
 * WGSL storing four partials `fn store4(g, s, i, j, v: vec4)` at columns
 * j..j+3 (j a multiple of 4; the pitch must be one too, so the row padding
 * absorbs columns past the end).
 */
export function partialStore4Wgsl(p: PartialShape, binding: number): string {
  const pitch = p.pitch ?? p.cols;
  if (pitch % 4 !== 0) {
    throw new RangeError(`partialStore4Wgsl: pitch ${pitch} is not a multiple of 4`);
  }
  return `@group(0) @binding(${binding}) var<storage, read_write> part: array<vec4<f32>>;
fn store4(g: u32, s: u32, i: u32, j: u32, v: vec4<f32>) {
  part[(((s * ${p.groups}u + g) * ${p.rows}u + i) * ${pitch}u + j) / 4u] = v;
}
`;
}

/**
 * WGSL of the reduction: one invocation per (g, i, j), summing chunks 0..S-1
 * from `part` (binding 0) and calling `finish(g, i, j, v)`, which `finish`
 * declares together with its bindings (1 and up). Dispatch
 * `grid2d(ceil(groups·rows·cols / 64))`.
 */
export function reduceWgsl(p: PartialShape, finish: string): string {
  const n = p.groups * p.rows * p.cols;
  const pitch = p.pitch ?? p.cols;
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
  let e = (g * ${p.rows}u + i) * ${pitch}u + j;
  var v = 0.0;
  for (var s = 0u; s < ${p.splits}u; s++) {
    v += part[s * ${partialFloats(p)}u + e];
  }
  finish(g, i, j, v);
}
`;
}

/** Lanes per element the lane reduction uses for `splits` chunks (1: use {@link reduceWgsl}). */
export function reduceLanes(splits: number): number {
  return splits >= 128 ? 16 : splits >= 16 ? 4 : 1;
}

/**
 * The reduction for GPUs and many chunks: `lanes` threads per element each
 * sum every lanes-th chunk (four independent accumulators, so loads overlap),
 * then lane 0 adds the lane sums in lane order. The order is fixed, so
 * results stay deterministic. Dispatch `grid2d(ceil(groups·rows·cols·lanes / 256))`.
 */
export function reduceLanesWgsl(p: PartialShape, finish: string, lanes: number): string {
  const n = p.groups * p.rows * p.cols;
  const pitch = p.pitch ?? p.cols;
  const per = 256 / lanes;
  const stride = partialFloats(p);
  const S = p.splits;
  const term = (q: number) =>
    `select(0.0, part[min(s + ${q * lanes}u, ${S - 1}u) * ${stride}u + e], s + ${
      q * lanes
    }u < ${S}u)`;
  return `// split-K reduction of ${S} chunks in ${lanes} lanes, ${p.groups}x${p.rows}x${p.cols}
@group(0) @binding(0) var<storage, read> part: array<f32>;
${finish}
var<workgroup> lanes: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nwg.x) * ${per}u + li % ${per}u;
  let lane = li / ${per}u;
  let j = t % ${p.cols}u;
  let i = (t / ${p.cols}u) % ${p.rows}u;
  let g = t / ${p.rows * p.cols}u;
  let live = t < ${n}u${p.upper ? " && i <= j" : ""};
  let e = (g * ${p.rows}u + i) * ${pitch}u + j;
  var v0 = 0.0;
  var v1 = 0.0;
  var v2 = 0.0;
  var v3 = 0.0;
  if (live) {
    for (var s = lane; s < ${S}u; s += ${4 * lanes}u) {
      v0 += ${term(0)};
      v1 += ${term(1)};
      v2 += ${term(2)};
      v3 += ${term(3)};
    }
  }
  lanes[li] = (v0 + v1) + (v2 + v3);
  workgroupBarrier();
  if (live && lane == 0u) {
    var v = 0.0;
    for (var q = 0u; q < ${lanes}u; q++) { v += lanes[q * ${per}u + li]; }
    finish(g, i, j, v);
  }
}
`;
}
