/**
 * Tensors: typed views of f32 storage buffers, and the arena that owns them.
 *
 * Every buffer a plan needs is allocated once, up front, by a
 * {@link BufferArena}; a {@link Tensor} is a shape laid row-major over a
 * byte range of one of those buffers.
 * @module
 */

import { AllocationError, formatBytes } from "./errors.ts";
import { releaseTextures } from "./texture_cache.ts";

/** A row-major f32 tensor stored in a GPU storage buffer. */
export interface Tensor {
  /** Buffer holding the data. */
  readonly buffer: GPUBuffer;
  /** Byte offset of element 0 (a multiple of 256 for arena tensors). */
  readonly offset: number;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Number of elements (product of shape). */
  readonly size: number;
  /** Name for errors, debugging and checkpoints. */
  readonly name: string;
}

/** Product of the dimensions (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Formats a shape as `[2, 3, 4]` for messages. */
export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Rounds `n` up to a multiple of `m`. */
export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/** Usage every arena buffer gets: storage, and copy in both directions. */
export const TENSOR_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/**
 * The most bytes one tensor may take on a device: every tensor is bound whole
 * as a storage buffer by some kernel, so both the buffer and the binding
 * limit apply.
 */
export function maxTensorBytes(limits: GPUSupportedLimits): number {
  return Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
}

/** The limits behind {@link maxTensorBytes}, in words for messages. */
export function tensorLimitText(limits: GPUSupportedLimits): string {
  return `this adapter allows ${
    formatBytes(limits.maxStorageBufferBindingSize)
  } per storage binding (maxStorageBufferBindingSize) and ${
    formatBytes(limits.maxBufferSize)
  } per buffer (maxBufferSize)`;
}

/** Bytes an arena tensor of `shape` takes (f32, rounded up to 16 bytes). */
export function tensorBytes(shape: readonly number[]): number {
  return roundUp(numel(shape) * 4, 16);
}

/** Reports a buffer the device could not allocate (out of memory). */
export type AllocationFailureHandler = (error: AllocationError) => void;

/**
 * Owns every buffer of a plan. Allocation happens while a plan is built;
 * `bytes` reports the total for memory summaries.
 *
 * A tensor past the device's per-buffer limits is refused before any
 * allocation ({@link AllocationError} naming it and the bytes). WebGPU
 * reports running out of memory asynchronously; given `onOutOfMemory`, each
 * buffer is created inside its own error scope so that such a failure is
 * reported with the buffer's name and size.
 */
export class BufferArena {
  readonly #device: GPUDevice;
  readonly #buffers: GPUBuffer[] = [];
  readonly #onOutOfMemory: AllocationFailureHandler | undefined;
  #pending: Promise<void>[] = [];
  #bytes = 0;

  /** Creates an empty arena on `device`. */
  constructor(device: GPUDevice, onOutOfMemory?: AllocationFailureHandler) {
    this.#device = device;
    this.#onOutOfMemory = onOutOfMemory;
  }

  /** Total bytes allocated. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Allocates a zero-filled tensor. The byte size is rounded up to 16 bytes so
   * the tensor can always be copied into an `rgba32float` texture whole.
   */
  tensor(name: string, shape: readonly number[]): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1) {
        throw new RangeError(`tensor "${name}": bad shape ${shapeStr(shape)}`);
      }
    }
    const size = numel(shape);
    const bytes = tensorBytes(shape);
    const limits = this.#device.limits;
    if (bytes > maxTensorBytes(limits)) {
      throw new AllocationError(
        name,
        bytes,
        `tensor "${name}" ${shapeStr(shape)} needs ${formatBytes(bytes)}; ${
          tensorLimitText(limits)
        }`,
      );
    }
    const buffer = this.raw(name, bytes, TENSOR_USAGE);
    return { buffer, offset: 0, shape: [...shape], size, name };
  }

  /** Allocates a raw buffer with explicit usage (uniforms, staging, queries). */
  raw(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = Math.max(16, bytes);
    const max = this.#device.limits.maxBufferSize;
    if (size > max) {
      throw new AllocationError(
        label,
        size,
        `buffer "${label}" needs ${formatBytes(size)}; this adapter allows ${
          formatBytes(max)
        } per buffer (maxBufferSize)`,
      );
    }
    const report = this.#onOutOfMemory;
    if (report) this.#device.pushErrorScope("out-of-memory");
    const buffer = this.#device.createBuffer({ label, size, usage });
    if (report) {
      const what = `out of GPU memory allocating "${label}" (${formatBytes(size)}, after ${
        formatBytes(this.#bytes)
      } for the buffers before it)`;
      this.#pending.push(
        this.#device.popErrorScope().then((e) => {
          if (e) report(new AllocationError(label, size, `${what}: ${e.message}`));
        }),
      );
    }
    this.#buffers.push(buffer);
    this.#bytes += buffer.size;
    return buffer;
  }

  /** Resolves once every allocation so far has been judged (failures reported to the handler). */
  async settled(): Promise<void> {
    const pending = this.#pending;
    this.#pending = [];
    await Promise.all(pending);
  }

  /** Destroys every buffer this arena allocated, and their cached textures. */
  dispose(): void {
    for (const b of this.#buffers) {
      releaseTextures(b);
      b.destroy();
    }
    this.#buffers.length = 0;
    this.#bytes = 0;
  }
}

/**
 * A tensor over part of `t`'s storage: `shape`, starting `floats` elements
 * into it (the caller keeps it inside `t`).
 */
export function view(t: Tensor, floats: number, shape: readonly number[], name: string): Tensor {
  return {
    buffer: t.buffer,
    offset: t.offset + floats * 4,
    shape: [...shape],
    size: numel(shape),
    name,
  };
}

/** A tensor with the same storage but a different shape of equal size. */
export function reshape(t: Tensor, shape: readonly number[], name = t.name): Tensor {
  if (numel(shape) !== t.size) {
    throw new RangeError(
      `cannot reshape "${t.name}" ${shapeStr(t.shape)} to ${shapeStr(shape)}: sizes differ`,
    );
  }
  return { ...t, shape: [...shape], name };
}
