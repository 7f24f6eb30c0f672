/**
 * Storage operands of generated kernels: binding them (tensors with identical
 * storage bound once, partial overlaps rejected) and the size checks every
 * kernel family runs on its arguments.
 * @module
 */

import type { Binding } from "../../gpu/commands.ts";
import { shapeStr, type Tensor } from "../../gpu/tensor.ts";

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

/** Throws a RangeError unless rows and cols are positive integers. */
export function checkDims(label: string, rows: number, cols: number): void {
  for (const [k, v] of [["rows", rows], ["cols", cols]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${label}: ${k} must be a positive integer, got ${v}`);
    }
  }
}
