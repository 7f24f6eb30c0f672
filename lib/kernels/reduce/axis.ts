/**
 * The axis reduction every reduction builds on ("M outputs, each combining L
 * inputs"): how it is cut into chunks and mapped onto invocations (the
 * "serial" and "tree" variants, see reduce.ts), its WGSL, and its one or two
 * passes. Results depend only on the shape and the variant, never on
 * scheduling (no float atomics).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Binding, type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { BufferArena } from "../../gpu/tensor.ts";
import { bindOperands, type Operand } from "../elementwise/operands.ts";
import { type AxisCombine, reducer } from "./combine.ts";

export type { AxisCombine } from "./combine.ts";

/** Reduction strategy; see reduce.ts's module documentation. */
export type ReduceVariant = "serial" | "tree";

/** The variant used when none is forced: serial on software adapters, tree on GPUs. */
export function defaultReduceVariant(gpu: Gpu): ReduceVariant {
  return gpu.adapter.isFallbackAdapter ? "serial" : "tree";
}

/** How an axis reduction is cut up and mapped onto invocations. */
export interface ReducePlan {
  /** Strategy. */
  variant: ReduceVariant;
  /** Number of chunks along the reduced axis (S > 1 needs a second pass). */
  splits: number;
  /** Inputs per chunk (the last chunk may be shorter). */
  chunk: number;
  /** Tree only: outputs per workgroup. */
  tx: number;
  /** Tree only: threads per output (a power of two). */
  ty: number;
}

/**
 * Loop iterations one invocation may run. llvmpipe (Mesa 22.3) stops every
 * loop of an invocation, silently, once 65535 iterations have run in total
 * (its "loop limiter"); kernels stay below it with a margin.
 */
export const LOOP_BUDGET = 60000;

/** Inputs per iteration of the serial kernel's main loop (unrolled). */
const SERIAL_UNROLL = 8;

/** Most inputs one serial invocation can combine within {@link LOOP_BUDGET}. */
export const SERIAL_MAX_CHUNK = SERIAL_UNROLL * LOOP_BUDGET;

function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Chooses chunking and workgroup shape for M outputs of L inputs each.
 * `contiguous` says which index moves through memory with stride 1
 * ("k": rows / whole tensor, "m": columns). `allowSplit` false forces S = 1.
 */
export function planReduction(
  variant: ReduceVariant,
  M: number,
  L: number,
  contiguous: "k" | "m",
  allowSplit: boolean,
): ReducePlan {
  // llvmpipe's loop limiter: a serial invocation may cover at most this many inputs.
  if (variant === "serial" && !allowSplit && L > SERIAL_MAX_CHUNK) variant = "tree";
  let tx = 1;
  let ty = 1;
  let splits: number;
  if (variant === "serial") {
    // ~1024 invocations keep llvmpipe's threads × 8 lanes busy; chunks of at
    // least 256 keep the second pass (M·S loads) small against the first.
    splits = Math.min(Math.ceil(1024 / M), Math.ceil(L / 256));
    splits = Math.max(splits, Math.ceil(L / SERIAL_MAX_CHUNK));
  } else {
    if (contiguous === "k") {
      ty = Math.min(256, Math.max(2, pow2ceil(L)));
      tx = Math.min(256 / ty, pow2ceil(M));
    } else {
      tx = Math.min(64, pow2ceil(M));
      ty = Math.max(2, Math.min(256 / tx, pow2ceil(L)));
    }
    // ~512 workgroups fill a large GPU; each thread should see ≥ 8 inputs.
    const blocks = Math.ceil(M / tx);
    splits = Math.min(Math.ceil(512 / blocks), Math.ceil(L / (ty * 8)));
    splits = Math.max(splits, Math.ceil(L / (ty * LOOP_BUDGET)));
  }
  if (!allowSplit) splits = 1;
  splits = Math.max(1, splits);
  const chunk = Math.ceil(L / splits);
  return { variant, splits: Math.ceil(L / chunk), chunk, tx, ty };
}

/** One pass of an axis reduction, as WGSL pieces. */
export interface AxisPass {
  /** Pipeline label. */
  label: string;
  /** Number of outputs. */
  M: number;
  /** Inputs per output. */
  L: number;
  /** Accumulator width: f32 or vec2<f32> (two sums at once); 1 for "welford". */
  width: 1 | 2;
  /** How inputs combine ("max" and "welford" only with width 1); see {@link AxisCombine}. */
  combine: AxisCombine;
  /** Operands `load` uses (read-only). */
  inputs: readonly Operand[];
  /** Operands `store` uses (written, or read when it needs them). */
  outputs: readonly Operand[];
  /** WGSL expression of input (m, k) (u32 `m`, `k`), given resolved operand names. */
  load: (names: Record<string, string>) => string;
  /**
   * WGSL statements storing the result `acc` of output `m` for chunk `s`
   * (s is always 0 when there is one chunk), given resolved operand names.
   */
  store: (names: Record<string, string>) => string;
  /** Extra module-scope WGSL. */
  prelude?: string;
}

/** Generated WGSL and grid of one {@link AxisPass} under a plan. */
export function axisPassWgsl(
  pass: AxisPass,
  plan: ReducePlan,
): { code: string; grid: [number, number, number]; bindings: Binding[] } {
  if (pass.width === 2 && pass.combine !== "sum") {
    throw new RangeError(`${pass.label}: width 2 needs the "sum" combine`);
  }
  // Only operands the shader uses may be declared: layout "auto" drops unused
  // bindings and the bind group would then name a binding the layout lacks.
  const bound = bindOperands(pass.label, [...pass.inputs, ...pass.outputs]);
  const r = reducer(pass.combine, pass.width);
  const A = r.acc;
  const { M, L } = pass;
  const { chunk, splits } = plan;
  const init = r.identity;
  const header = `${bound.decls}
${r.helpers}${pass.prelude ?? ""}
fn load_in(m: u32, k: u32) -> ${r.input} {
  return ${pass.load(bound.names)};
}
fn store_out(m: u32, s: u32, acc: ${A}) {
${pass.store(bound.names)}
}
`;
  if (plan.variant === "serial") {
    const count = M * splits;
    const grid = grid2d(Math.ceil(count / 64));
    const code = `${header}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x + gid.y * ${grid[0] * 64}u;
  if (j >= ${count}u) { return; }
  let m = j % ${M}u;
  let s = j / ${M}u;
  let k0 = s * ${chunk}u;
  let k1 = min(k0 + ${chunk}u, ${L}u);
  var acc: ${A} = ${init};
  var k = k0;
  // Unrolled ×${SERIAL_UNROLL} in input order (same rounding as one-by-one), so
  // long chunks stay within llvmpipe's loop budget.
  for (; k + ${SERIAL_UNROLL - 1}u < k1; k += ${SERIAL_UNROLL}u) {
${
      Array.from({ length: SERIAL_UNROLL }, (_, u) =>
        `    acc = ${r.push("acc", `load_in(m, k${u ? ` + ${u}u` : ""})`)};`).join("\n")
    }
  }
  for (; k < k1; k++) {
    acc = ${r.push("acc", "load_in(m, k)")};
  }
  store_out(m, s, acc);
}
`;
    return { code, grid, bindings: bound.bindings };
  }
  const { tx, ty } = plan;
  const blocks = Math.ceil(M / tx);
  const grid = grid2d(blocks * splits);
  const code = `${header}
var<workgroup> sh: array<${A}, ${tx * ty}>;
@compute @workgroup_size(${tx}, ${ty})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = wid.x + wid.y * ${grid[0]}u;
  let m = (w % ${blocks}u) * ${tx}u + lid.x;
  let s = w / ${blocks}u;
  let valid = m < ${M}u && s < ${splits}u;
  var acc: ${A} = ${init};
  if (valid) {
    let k1 = min(s * ${chunk}u + ${chunk}u, ${L}u);
    for (var k = s * ${chunk}u + lid.y; k < k1; k += ${ty}u) {
      acc = ${r.push("acc", "load_in(m, k)")};
    }
  }
  let slot = lid.y * ${tx}u + lid.x;
  sh[slot] = acc;
  workgroupBarrier();
  for (var o = ${ty / 2}u; o > 0u; o >>= 1u) {
    if (lid.y < o) {
      sh[slot] = ${r.merge("sh[slot]", `sh[slot + o * ${tx}u]`)};
    }
    workgroupBarrier();
  }
  if (valid && lid.y == 0u) {
    store_out(m, s, sh[lid.x]);
  }
}
`;
  return { code, grid, bindings: bound.bindings };
}

/** Options shared by the reduction builders. */
export interface AxisReduceOptions {
  /** Force a variant (default: by adapter). */
  variant?: ReduceVariant;
  /** Scratch for the two-pass split; without it the reduction runs in one pass (or throws if `requireSplit`). */
  arena?: BufferArena;
  /** Layout hint for the tree variant (which index is contiguous in memory). */
  contiguous: "k" | "m";
  /** Throw instead of running in one pass when a split is planned but no arena is given. */
  requireSplit?: boolean;
}

/**
 * Builds a reduction: one pass when the plan has one chunk, else a partial
 * pass into arena scratch and a combining pass. The final `store` sees the
 * fully combined `acc`.
 */
export function axisReduce(gpu: Gpu, pass: AxisPass, opts: AxisReduceOptions): Command[] {
  const variant = opts.variant ?? defaultReduceVariant(gpu);
  if (variant !== "serial" && variant !== "tree") {
    throw new RangeError(`${pass.label}: unknown variant "${variant}" (expected serial or tree)`);
  }
  let plan = planReduction(variant, pass.M, pass.L, opts.contiguous, true);
  if (plan.splits > 1 && !opts.arena) {
    if (opts.requireSplit) {
      throw new RangeError(
        `${pass.label}: reducing ${pass.M} outputs of ${pass.L} values needs a scratch arena ` +
          `(pass \`arena\`) for its two-pass split`,
      );
    }
    plan = planReduction(variant, pass.M, pass.L, opts.contiguous, false);
  }
  const run = (p: AxisPass, pl: ReducePlan) => {
    const k = axisPassWgsl(p, pl);
    return dispatch(gpu, `${p.label}_${pl.variant}`, k.code, k.bindings, k.grid);
  };
  if (plan.splits === 1) return [run(pass, plan)];
  const { M, width } = pass;
  const S = plan.splits;
  const welford = pass.combine === "welford";
  const partial = opts.arena!.tensor(`${pass.label}.partial`, [S, M, welford ? 4 : width]);
  const A = welford ? "vec4<f32>" : width === 2 ? "vec2<f32>" : "f32";
  const first: AxisPass = {
    ...pass,
    label: `${pass.label}_partial`,
    outputs: [{ name: "partial", tensor: partial, write: true, type: A }],
    store: (n) => `  ${n.partial}[s * ${M}u + m] = acc;`,
  };
  const second: AxisPass = {
    ...pass,
    label: `${pass.label}_combine`,
    L: S,
    combine: welford ? "welford_states" : pass.combine,
    inputs: [{ name: "partial", tensor: partial, type: A }],
    load: (n) => `${n.partial}[k * ${M}u + m]`,
  };
  const plan2 = planReduction(variant, M, S, "m", false);
  return [run(first, plan), run(second, plan2)];
}
