/**
 * Map kernels: one invocation per element, or per `vec4` of elements when
 * every operand's length is a multiple of 4, optionally column-blocked so
 * per-column values are loaded once per block of rows. Every elementwise
 * kernel, batch norm's normalisation and dropout are map kernels.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Binding, type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import { bindOperands, type Operand } from "./operands.ts";

/** Invocations per workgroup of map kernels (llvmpipe and GPUs both do well at 256). */
export const MAP_WORKGROUP = 256;

/** Vector width of a map kernel: elements per invocation. */
export type MapWidth = 1 | 4;

/** A per-element kernel over `n` elements. */
export interface MapSpec {
  /** Pipeline label. */
  label: string;
  /** Number of elements. */
  n: number;
  /** 1: one f32 per invocation; 4: one vec4 (n and every operand length must be multiples of 4). */
  width: MapWidth;
  /**
   * Row length, for kernels with per-column operands: `c` is then the column
   * (in vectors) and `colPrelude` runs once per column and row block.
   */
  cols?: number;
  /**
   * With `cols`: rows one invocation walks through, so per-column values are
   * loaded once per block instead of once per element (default 1).
   */
  rowsPerInvocation?: number;
  /** Storage operands; their `type` is set from `width`. */
  operands: readonly Operand[];
  /**
   * With `cols`: WGSL statements run once per (column, row block) before the
   * body, typically `let` bindings of per-column values read at `c`.
   */
  colPrelude?: (names: Record<string, string>) => string;
  /**
   * WGSL statements for vector index `i` (u32); `e` is its first element
   * index, `c` its column (in vectors) when `cols` is set, `T` the value type
   * (f32 or vec4<f32>). Receives each operand's resolved variable name.
   */
  body: (names: Record<string, string>) => string;
  /** Extra module-scope WGSL (helper functions, constants). */
  prelude?: string;
  /** Extra bindings after the operands, declared in `prelude` at the indices given to it. */
  extra?: readonly Binding[];
}

/** Generated WGSL of a map kernel plus its bindings and grid. */
export interface MapKernel {
  /** WGSL module. */
  code: string;
  /** Bindings in order (operands, then `extra`). */
  bindings: Binding[];
  /** Dispatch grid. */
  grid: [number, number, number];
}

/**
 * Generates a map kernel. Bindings of `spec.extra` get the indices after the
 * operands: the prelude receives that first free index through
 * {@link mapFirstExtraBinding}.
 */
export function mapWgsl(spec: MapSpec): MapKernel {
  const { width, n } = spec;
  if (width === 4 && (n % 4 !== 0 || (spec.cols !== undefined && spec.cols % 4 !== 0))) {
    throw new RangeError(`${spec.label}: vec4 map needs n and cols to be multiples of 4`);
  }
  const type = width === 4 ? "vec4<f32>" : "f32";
  const bound = bindOperands(spec.label, spec.operands.map((o) => ({ ...o, type })));
  const header = `alias T = ${type};
${bound.decls}
${spec.prelude ?? ""}
@compute @workgroup_size(${MAP_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {`;
  const bindings = [...bound.bindings, ...(spec.extra ?? [])];
  const body = spec.body(bound.names);
  if (spec.cols === undefined) {
    const count = n / width;
    const grid = grid2d(Math.ceil(count / MAP_WORKGROUP));
    const code = `${header}
  let i = gid.x + gid.y * ${grid[0] * MAP_WORKGROUP}u;
  if (i >= ${count}u) { return; }
  let e = i * ${width}u;
${body}
}
`;
    return { code, bindings, grid };
  }
  // Column-blocked: invocation j takes column vector c = j % CV (neighbours
  // read neighbouring addresses) and rows [rb·R, rb·R + R) with rb = j / CV.
  const cv = spec.cols / width;
  const rows = n / spec.cols;
  const want = spec.rowsPerInvocation ?? 1;
  // The row loop must stay far below llvmpipe's 65535-iteration loop limiter.
  if (!Number.isInteger(want) || want < 1 || want > 4096) {
    throw new RangeError(
      `${spec.label}: rowsPerInvocation must be an integer in [1, 4096], got ${want}`,
    );
  }
  const R = Math.min(want, rows);
  const blocks = Math.ceil(rows / R);
  const count = cv * blocks;
  const grid = grid2d(Math.ceil(count / MAP_WORKGROUP));
  const code = `${header}
  let j = gid.x + gid.y * ${grid[0] * MAP_WORKGROUP}u;
  if (j >= ${count}u) { return; }
  let c = j % ${cv}u;
${spec.colPrelude?.(bound.names) ?? ""}
${
    R === 1
      ? `  let i = (j / ${cv}u) * ${cv}u + c;
  let e = i * ${width}u;
${body}`
      : `  let r0 = (j / ${cv}u) * ${R}u;
  for (var r = r0; r < min(r0 + ${R}u, ${rows}u); r++) {
    let i = r * ${cv}u + c;
    let e = i * ${width}u;
${body}
  }`
  }
}
`;
  return { code, bindings, grid };
}

/**
 * Rows per invocation for column-blocked maps: on llvmpipe every storage load
 * costs the same whatever it is, so reusing per-column values across 16 rows
 * removes most loads; GPUs cache those values and prefer more threads.
 */
export function defaultRowsPerInvocation(gpu: Gpu): number {
  return gpu.adapter.isFallbackAdapter ? 16 : 1;
}

/** The binding index the first of `spec.extra` will get (distinct operand storages). */
export function mapFirstExtraBinding(label: string, operands: readonly Operand[]): number {
  return bindOperands(label, operands).bindings.length;
}

/** Builds a map kernel's single dispatch command. */
export function mapKernel(gpu: Gpu, spec: MapSpec): Command[] {
  const k = mapWgsl(
    spec.cols !== undefined && spec.rowsPerInvocation === undefined
      ? { ...spec, rowsPerInvocation: defaultRowsPerInvocation(gpu) }
      : spec,
  );
  return [dispatch(gpu, spec.label, k.code, k.bindings, k.grid)];
}

/** Forced vector width, or undefined to choose automatically. */
export type WidthChoice = "scalar" | "vec4" | undefined;

/**
 * Picks the vector width: vec4 when every length in `lengths` is a multiple
 * of 4, unless `choice` forces one (forcing vec4 on other lengths throws).
 */
export function pickWidth(
  label: string,
  lengths: readonly number[],
  choice: WidthChoice,
): MapWidth {
  const vec4Ok = lengths.every((n) => n % 4 === 0);
  if (choice === "scalar") return 1;
  if (choice === "vec4") {
    if (!vec4Ok) {
      throw new RangeError(
        `${label}: variant "vec4" needs lengths divisible by 4, got ${lengths.join(", ")}`,
      );
    }
    return 4;
  }
  return vec4Ok ? 4 : 1;
}
