/**
 * Packed tensors: many small tensors laid out in one GPU buffer, so a single
 * dispatch can bind all of them (multi-tensor optimizer updates, one gradient
 * clear, one norm).
 *
 * Each tensor starts at a multiple of {@link PACK_ALIGN} bytes (any
 * adapter's `minStorageBufferOffsetAlignment`), so every tensor can still be
 * bound on its own; the gaps stay zero because nothing binds them. A pack
 * opens a new buffer before it would pass `maxBytes` (the storage binding
 * limit), so one buffer can always be bound whole.
 * @module
 */

import {
  type BufferArena,
  maxTensorBytes,
  numel,
  roundUp,
  shapeStr,
  type Tensor,
  TENSOR_USAGE,
} from "./tensor.ts";

/** Byte alignment of every packed tensor (the largest storage offset alignment WebGPU allows). */
export const PACK_ALIGN = 256;

/** A tensor to place in a pack. */
export interface PackSpec {
  /** Name (checkpoint key, errors). */
  name: string;
  /** Shape. */
  shape: readonly number[];
}

/** Where each tensor of a pack goes: buffer index and byte offset. */
export interface PackLayout {
  /** Per spec: which buffer of the pack, and its byte offset there. */
  slots: { buffer: number; offset: number }[];
  /** Byte size of each buffer. */
  bytes: number[];
}

/** Lays out `specs` in order, opening a new buffer before one would pass `maxBytes`. */
export function packLayout(specs: readonly PackSpec[], maxBytes: number): PackLayout {
  const slots: PackLayout["slots"] = [];
  const bytes: number[] = [];
  let at = 0;
  for (const s of specs) {
    for (const d of s.shape) {
      if (!Number.isInteger(d) || d < 1) {
        throw new RangeError(`tensor "${s.name}": bad shape ${shapeStr(s.shape)}`);
      }
    }
    // 16-byte sizes keep whole-tensor copies into rgba32float textures valid.
    const size = roundUp(numel(s.shape) * 4, 16);
    if (size > maxBytes) {
      throw new RangeError(
        `tensor "${s.name}" ${
          shapeStr(s.shape)
        } (${size} bytes) exceeds the ${maxBytes}-byte binding limit`,
      );
    }
    let offset = roundUp(at, PACK_ALIGN);
    if (bytes.length === 0 || offset + size > maxBytes) {
      bytes.push(0);
      offset = 0;
    }
    slots.push({ buffer: bytes.length - 1, offset });
    at = offset + size;
    bytes[bytes.length - 1] = at;
  }
  return { slots, bytes };
}

/**
 * Allocates `specs` packed into as few buffers as `maxBytes` allows (zero
 * filled) and returns one tensor view per spec, in order.
 */
export function packTensors(
  arena: BufferArena,
  label: string,
  specs: readonly PackSpec[],
  maxBytes: number,
): Tensor[] {
  const layout = packLayout(specs, maxBytes);
  const buffers = layout.bytes.map((b, i) =>
    arena.raw(layout.bytes.length > 1 ? `${label}.${i}` : label, b, TENSOR_USAGE)
  );
  return specs.map((s, i) => {
    const { buffer, offset } = layout.slots[i];
    return {
      buffer: buffers[buffer],
      offset,
      shape: [...s.shape],
      size: numel(s.shape),
      name: s.name,
    };
  });
}

/**
 * The byte limit a pack may use on `limits`: one buffer must be bindable whole
 * and allocatable.
 */
export function packLimit(limits: GPUSupportedLimits): number {
  const bytes = maxTensorBytes(limits);
  return bytes - (bytes % PACK_ALIGN);
}

/**
 * One view per distinct buffer of `tensors` (in order of first use), each
 * spanning its whole buffer: for work over every tensor of a pack at once
 * (a norm, a scale), which the zero gaps between packed tensors do not
 * change. Only for buffers that hold nothing but such tensors.
 */
export function packBuffers(tensors: readonly Tensor[]): Tensor[] {
  const seen = new Set<GPUBuffer>();
  const out: Tensor[] = [];
  for (const t of tensors) {
    if (seen.has(t.buffer)) continue;
    seen.add(t.buffer);
    const size = Math.floor(t.buffer.size / 4);
    out.push({ buffer: t.buffer, offset: 0, shape: [size], size, name: t.buffer.label || t.name });
  }
  return out;
}
