/**
 * The axis reduction every reduction builds on ("M outputs, each combining L
 * inputs"): the WGSL of a pass under a plan (axis_plan.ts: the "serial" and
 * "tree" strategies, see reduce.ts) and its one or two passes. Results
 * depend only on the shape and the plan, never on scheduling (no float
 * atomics).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Binding, type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { bindOperands, type Operand } from "../elementwise/operands.ts";
import { type AxisCombine, reducer } from "./combine.ts";
import { combinePlan, type ReducePlan, SERIAL_UNROLL } from "./axis_plan.ts";

export type { AxisCombine } from "./combine.ts";
export * from "./axis_plan.ts";

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
  if (plan.strategy === "serial") {
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

/** Shape of the scratch a plan of S > 1 chunks needs: S × M accumulators. */
export function partialShape(pass: AxisPass, S: number): number[] {
  return [S, pass.M, pass.combine === "welford" ? 4 : pass.width];
}

/**
 * The passes of `pass` under `plan`: itself when it has one chunk, else a
 * partial pass into `partial` (see {@link partialShape}) and a combining
 * pass (same strategy, one chunk). The final `store` sees the fully
 * combined `acc`.
 */
export function planPasses(
  pass: AxisPass,
  plan: ReducePlan,
  partial?: Tensor,
): { pass: AxisPass; plan: ReducePlan }[] {
  if (plan.splits === 1) return [{ pass, plan }];
  if (!partial) {
    throw new RangeError(
      `${pass.label}: reducing ${pass.M} outputs of ${pass.L} values in ${plan.splits} chunks ` +
        "needs a scratch arena (pass `arena`) for its two-pass split",
    );
  }
  const { M, width } = pass;
  const welford = pass.combine === "welford";
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
    L: plan.splits,
    combine: welford ? "welford_states" : pass.combine,
    inputs: [{ name: "partial", tensor: partial, type: A }],
    load: (n) => `${n.partial}[k * ${M}u + m]`,
  };
  return [
    { pass: first, plan },
    { pass: second, plan: combinePlan(plan, M) },
  ];
}

/** The commands of `pass` under `plan`, scratch for a split from `arena` (see {@link planPasses}). */
export function axisCommands(
  gpu: Gpu,
  pass: AxisPass,
  plan: ReducePlan,
  arena?: BufferArena,
): Command[] {
  const partial = plan.splits > 1 && arena
    ? arena.tensor(`${pass.label}.partial`, partialShape(pass, plan.splits))
    : undefined;
  return planPasses(pass, plan, partial).map(({ pass: p, plan: pl }) => {
    const k = axisPassWgsl(p, pl);
    return dispatch(gpu, `${p.label}_${pl.strategy}`, k.code, k.bindings, k.grid);
  });
}
