/**
 * Elementwise kernels (activations and their gradients, add, axpy, scale,
 * fill, per-column bias) and the map-kernel machinery they share with batch
 * norm and dropout.
 *
 * One invocation handles one element, or one `vec4` of elements when every
 * operand's length is a multiple of 4: on llvmpipe a vec4 store costs about as
 * much as a scalar one (measured 0.87 vs 0.26 G floats/s for store-only
 * kernels), and real GPUs like wide accesses too. Loads cost the same per
 * float either way there, so these kernels stay memory-bound at roughly
 * 0.2 G elements/s on llvmpipe.
 *
 * Operands that share storage are bound once: `out` may be `x` for every
 * builder here (each invocation reads its own elements before writing them),
 * and partially overlapping operands are rejected with a RangeError.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Binding, type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import { shapeStr, type Tensor } from "../../gpu/tensor.ts";

// ---------------------------------------------------------------------------
// Shared building blocks
// ---------------------------------------------------------------------------

/**
 * A finite JS number as an exact WGSL f32 literal (rounded to f32 first), in
 * parentheses so it can follow a unary minus or an operator.
 */
export function f32Lit(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`cannot bake ${v} into WGSL as an f32 constant`);
  const f = Math.fround(v);
  if (!Number.isFinite(f)) throw new RangeError(`${v} overflows f32`);
  // String() of an f32-representable double is the shortest decimal that parses
  // back to it exactly; WGSL rounds the literal to the same f32.
  return `(${String(f)}f)`;
}

/** A storage-buffer operand of a generated kernel. */
export interface Operand {
  /** WGSL variable name (and the name used in error messages). */
  name: string;
  /** The tensor bound. */
  tensor: Tensor;
  /** True when the kernel writes it (bound read_write). */
  write?: boolean;
  /** Element type of the WGSL array. Default "f32". */
  type?: "f32" | "vec2<f32>" | "vec4<f32>";
}

/** Declarations, resolved names and bindings for a list of operands. */
export interface BoundOperands {
  /** WGSL `@group(0) @binding(i) var<storage, ...>` lines. */
  decls: string;
  /** Operand name → the WGSL variable that holds it (aliases share one). */
  names: Record<string, string>;
  /** Bindings in @binding order. */
  bindings: Binding[];
}

function byteRange(t: Tensor): [number, number] {
  return [t.offset, t.offset + t.size * 4];
}

/**
 * Assigns bindings 0..k−1 to `operands`, binding tensors with identical
 * storage once (writes win: the shared variable is read_write).
 *
 * Throws a RangeError when two operands overlap only partially. Operands in
 * the same GPU buffer at disjoint ranges are all bound read_write when one of
 * them is written, because wgpu tracks usage per buffer and rejects a buffer
 * used as read-only and writable storage in one dispatch.
 */
export function bindOperands(label: string, operands: readonly Operand[]): BoundOperands {
  interface Slot {
    name: string;
    tensor: Tensor;
    write: boolean;
    type: string;
  }
  const slots: Slot[] = [];
  const names: Record<string, string> = {};
  for (const op of operands) {
    const type = op.type ?? "f32";
    const [a0, a1] = byteRange(op.tensor);
    let alias: Slot | undefined;
    for (const s of slots) {
      if (s.tensor.buffer !== op.tensor.buffer) continue;
      const [b0, b1] = byteRange(s.tensor);
      if (a0 === b0 && a1 === b1 && s.type === type) {
        alias = s;
        break;
      }
      if (a0 < b1 && b0 < a1) {
        throw new RangeError(
          `${label}: "${op.name}" ("${op.tensor.name}" ${shapeStr(op.tensor.shape)}) and ` +
            `"${s.name}" ("${s.tensor.name}" ${shapeStr(s.tensor.shape)}) overlap partially`,
        );
      }
    }
    if (alias) {
      alias.write ||= op.write ?? false;
      names[op.name] = alias.name;
    } else {
      slots.push({ name: op.name, tensor: op.tensor, write: op.write ?? false, type });
      names[op.name] = op.name;
    }
  }
  for (const s of slots) {
    if (s.write) {
      for (const o of slots) if (o.tensor.buffer === s.tensor.buffer) o.write = true;
    }
  }
  const decls = slots.map((s, i) =>
    `@group(0) @binding(${i}) var<storage, ${
      s.write ? "read_write" : "read"
    }> ${s.name}: array<${s.type}>;`
  ).join("\n");
  return { decls, names, bindings: slots.map((s) => s.tensor) };
}

/** Throws a RangeError unless `t` holds `size` values. */
export function checkSize(label: string, what: string, t: Tensor, size: number, why = ""): void {
  if (t.size !== size) {
    throw new RangeError(
      `${label}: ${what} "${t.name}" ${shapeStr(t.shape)} has ${t.size} values, expected ${size}${
        why ? ` (${why})` : ""
      }`,
    );
  }
}

/** `x "name" [shape]`, for size-mismatch messages. */
export function like(what: string, t: Tensor): string {
  return `the size of ${what} "${t.name}" ${shapeStr(t.shape)}`;
}

/** Throws a RangeError if `a` and `b` share any bytes. */
export function checkDisjoint(label: string, a: [string, Tensor], b: [string, Tensor]): void {
  const [a0, a1] = byteRange(a[1]);
  const [b0, b1] = byteRange(b[1]);
  if (a[1].buffer === b[1].buffer && a0 < b1 && b0 < a1) {
    throw new RangeError(
      `${label}: ${a[0]} "${a[1].name}" ${shapeStr(a[1].shape)} and ${b[0]} "${b[1].name}" ` +
        `${shapeStr(b[1].shape)} must not share storage`,
    );
  }
}

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

// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

/**
 * Pointwise activation. `gelu` is the tanh approximation
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (PyTorch's `approximate="tanh"`).
 */
export type UnaryOp = "relu" | "gelu" | "tanh" | "sigmoid" | "identity";

const UNARY_OPS: readonly UnaryOp[] = ["relu", "gelu", "tanh", "sigmoid", "identity"];

/**
 * WGSL helpers for the activations, on `T` (f32 or vec4<f32>).
 *
 * tanh's argument is clamped to ±10: f32 tanh is exactly ±1 beyond ±9.01, and
 * some backends evaluate tanh as a ratio of exponentials that turns into
 * inf/inf = NaN for large inputs. The sigmoid uses exp(−|x|) so it never
 * overflows.
 */
export const WGSL_ACTIVATIONS = `const GELU_K0: f32 = 0.7978845608028654;
const GELU_K1: f32 = 0.044715;
fn act_tanh(v: T) -> T {
  return tanh(clamp(v, T(-10.0), T(10.0)));
}
fn act_sigmoid(v: T) -> T {
  let z = exp(-abs(v));
  let r = T(1.0) / (T(1.0) + z);
  return select(z * r, r, v >= T(0.0));
}
fn act_gelu(v: T) -> T {
  let t = act_tanh(GELU_K0 * (v + GELU_K1 * v * v * v));
  return 0.5 * v * (T(1.0) + t);
}
fn act_gelu_grad(v: T) -> T {
  let t = act_tanh(GELU_K0 * (v + GELU_K1 * v * v * v));
  // Beyond |x| = 10, 1 − t² is exactly 0; clamping keeps x² finite there.
  let vc = clamp(v, T(-10.0), T(10.0));
  return 0.5 * (T(1.0) + t) + 0.5 * vc * (T(1.0) - t * t) * GELU_K0 * (T(1.0) + 3.0 * GELU_K1 * vc * vc);
}
`;

function checkOp(label: string, op: UnaryOp): void {
  if (!UNARY_OPS.includes(op)) {
    throw new RangeError(`${label}: unknown activation "${op}" (expected ${UNARY_OPS.join(", ")})`);
  }
}

/** WGSL expression of op(v). */
function forwardExpr(op: UnaryOp, v: string): string {
  switch (op) {
    case "relu":
      return `max(${v}, T(0.0))`;
    case "gelu":
      return `act_gelu(${v})`;
    case "tanh":
      return `act_tanh(${v})`;
    case "sigmoid":
      return `act_sigmoid(${v})`;
    case "identity":
      return v;
  }
}

/** WGSL expression of op'(v)·g (relu'(0) = 0, as in PyTorch). */
function backwardExpr(op: UnaryOp, v: string, g: string): string {
  switch (op) {
    case "relu":
      return `select(T(0.0), ${g}, ${v} > T(0.0))`;
    case "gelu":
      return `act_gelu_grad(${v}) * ${g}`;
    case "tanh":
      return `(T(1.0) - act_tanh(${v}) * act_tanh(${v})) * ${g}`;
    case "sigmoid":
      return `act_sigmoid(${v}) * (T(1.0) - act_sigmoid(${v})) * ${g}`;
    case "identity":
      return g;
  }
}

/** Arguments of {@link unary}. */
export interface UnaryArgs {
  /** Activation. */
  op: UnaryOp;
  /** Input. */
  x: Tensor;
  /** Output, same size as x (may be x itself). */
  y: Tensor;
  /** Force the scalar or vec4 kernel (tests, benchmarks). */
  variant?: WidthChoice;
}

/** y = op(x), elementwise. */
export function unary(gpu: Gpu, a: UnaryArgs): Command[] {
  const label = `unary_${a.op}`;
  checkOp(label, a.op);
  checkSize(label, "y", a.y, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  return mapKernel(gpu, {
    label: `${label}_w${width}`,
    n: a.x.size,
    width,
    operands: [{ name: "x", tensor: a.x }, { name: "y", tensor: a.y, write: true }],
    prelude: WGSL_ACTIVATIONS,
    body: (n) => `  ${n.y}[i] = ${forwardExpr(a.op, `${n.x}[i]`)};`,
  });
}

/** Arguments of {@link unaryBackward}. */
export interface UnaryBackwardArgs {
  /** Activation. */
  op: UnaryOp;
  /** The forward input (the gradient is recomputed from it). */
  x: Tensor;
  /** Gradient w.r.t. the output. */
  dy: Tensor;
  /** Gradient w.r.t. the input (may be dy itself). */
  dx: Tensor;
  /** dx += instead of dx =. */
  accumulate?: boolean;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/** dx (+)= op'(x)·dy, elementwise. */
export function unaryBackward(gpu: Gpu, a: UnaryBackwardArgs): Command[] {
  const label = `unary_${a.op}_backward`;
  checkOp(label, a.op);
  checkSize(label, "dy", a.dy, a.x.size, like("x", a.x));
  checkSize(label, "dx", a.dx, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  const acc = a.accumulate ?? false;
  return mapKernel(gpu, {
    label: `${label}_w${width}${acc ? "_acc" : ""}`,
    n: a.x.size,
    width,
    operands: [
      { name: "x", tensor: a.x },
      { name: "dy", tensor: a.dy },
      { name: "dx", tensor: a.dx, write: true },
    ],
    prelude: WGSL_ACTIVATIONS,
    body: (n) => {
      const g = backwardExpr(a.op, "v", "g");
      return `  let v = ${n.x}[i];\n  let g = ${n.dy}[i];\n  ${n.dx}[i] ${acc ? "+=" : "="} ${g};`;
    },
  });
}

// ---------------------------------------------------------------------------
// Arithmetic
// ---------------------------------------------------------------------------

/** Arguments of {@link add}. */
export interface AddArgs {
  /** First summand. */
  x: Tensor;
  /** Second summand, same size. */
  y: Tensor;
  /** Sum, same size (may be x or y). */
  out: Tensor;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/** out = x + y. */
export function add(gpu: Gpu, a: AddArgs): Command[] {
  const label = "add";
  checkSize(label, "y", a.y, a.x.size, like("x", a.x));
  checkSize(label, "out", a.out, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  return mapKernel(gpu, {
    label: `add_w${width}`,
    n: a.x.size,
    width,
    operands: [
      { name: "x", tensor: a.x },
      { name: "y", tensor: a.y },
      { name: "out", tensor: a.out, write: true },
    ],
    body: (n) => `  ${n.out}[i] = ${n.x}[i] + ${n.y}[i];`,
  });
}

/** Arguments of {@link axpy}. */
export interface AxpyArgs {
  /** Scale of x (baked into the kernel). */
  alpha: number;
  /** Added tensor. */
  x: Tensor;
  /** Accumulator, same size (may be x). */
  y: Tensor;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/** y += alpha·x. */
export function axpy(gpu: Gpu, a: AxpyArgs): Command[] {
  const label = "axpy";
  checkSize(label, "y", a.y, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  const alpha = f32Lit(a.alpha);
  return mapKernel(gpu, {
    label: `axpy_w${width}`,
    n: a.x.size,
    width,
    operands: [{ name: "x", tensor: a.x }, { name: "y", tensor: a.y, write: true }],
    body: (n) => `  ${n.y}[i] = fma(T(${alpha}), ${n.x}[i], ${n.y}[i]);`,
  });
}

/** Arguments of {@link scale}. */
export interface ScaleArgs {
  /** Factor (baked into the kernel). */
  alpha: number;
  /** Input. */
  x: Tensor;
  /** Output, same size (may be x). */
  out: Tensor;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/** out = alpha·x. */
export function scale(gpu: Gpu, a: ScaleArgs): Command[] {
  const label = "scale";
  checkSize(label, "out", a.out, a.x.size, like("x", a.x));
  const width = pickWidth(label, [a.x.size], a.variant);
  const alpha = f32Lit(a.alpha);
  return mapKernel(gpu, {
    label: `scale_w${width}`,
    n: a.x.size,
    width,
    operands: [{ name: "x", tensor: a.x }, { name: "out", tensor: a.out, write: true }],
    body: (n) => `  ${n.out}[i] = ${alpha} * ${n.x}[i];`,
  });
}

/** Arguments of {@link fill}. */
export interface FillArgs {
  /** Value (finite; rounded to f32). */
  value: number;
  /** Tensor to fill. */
  out: Tensor;
  /** Force the scalar or vec4 kernel (zero always uses a buffer clear). */
  variant?: WidthChoice;
}

/** out[:] = value. Zero (+0) is a buffer clear, anything else a kernel. */
export function fill(gpu: Gpu, a: FillArgs): Command[] {
  const value = f32Lit(a.value);
  if (Object.is(Math.fround(a.value), 0)) {
    return [{ kind: "clear", label: `fill_${a.out.name}`, dst: a.out }];
  }
  const width = pickWidth("fill", [a.out.size], a.variant);
  return mapKernel(gpu, {
    label: `fill_w${width}`,
    n: a.out.size,
    width,
    operands: [{ name: "out", tensor: a.out, write: true }],
    body: (n) => `  ${n.out}[i] = T(${value});`,
  });
}

/** Arguments of {@link addBias}. */
export interface AddBiasArgs {
  /** Input [rows, cols] (row-major). */
  x: Tensor;
  /** Bias [cols]. */
  bias: Tensor;
  /** Rows of x. */
  rows: number;
  /** Columns of x (= bias length). */
  cols: number;
  /** Output [rows, cols] (may be x). */
  out: Tensor;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
  /** Rows per invocation (default by adapter: 16 on llvmpipe, 1 on GPUs). */
  rowsPerInvocation?: number;
}

/** out[r, c] = x[r, c] + bias[c]. */
export function addBias(gpu: Gpu, a: AddBiasArgs): Command[] {
  const label = "add_bias";
  checkDims(label, a.rows, a.cols);
  checkSize(label, "x", a.x, a.rows * a.cols, `rows ${a.rows} × cols ${a.cols}`);
  checkSize(label, "bias", a.bias, a.cols, `cols`);
  checkSize(label, "out", a.out, a.rows * a.cols, `rows ${a.rows} × cols ${a.cols}`);
  const width = pickWidth(label, [a.cols], a.variant);
  return mapKernel(gpu, {
    label: `add_bias_w${width}`,
    n: a.rows * a.cols,
    width,
    cols: a.cols,
    operands: [
      { name: "x", tensor: a.x },
      { name: "bias", tensor: a.bias },
      { name: "out", tensor: a.out, write: true },
    ],
    rowsPerInvocation: a.rowsPerInvocation,
    colPrelude: (n) => `  let b = ${n.bias}[c];`,
    body: (n) => `  ${n.out}[i] = ${n.x}[i] + b;`,
  });
}

/** Throws a RangeError unless rows and cols are positive integers. */
export function checkDims(label: string, rows: number, cols: number): void {
  for (const [k, v] of [["rows", rows], ["cols", cols]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${label}: ${k} must be a positive integer, got ${v}`);
    }
  }
}
