/**
 * Tensors: typed views of f32 storage buffers, and the arena that owns them.
 *
 * Every buffer a plan needs is allocated once, up front, by a
 * {@link BufferArena}; a {@link Tensor} is a shape laid row-major over a
 * byte range of one of those buffers.
 * @module
 */

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
 * Owns every buffer of a plan. Allocation happens while a plan is built;
 * `bytes` reports the total for memory summaries.
 */
export class BufferArena {
  readonly #device: GPUDevice;
  readonly #buffers: GPUBuffer[] = [];
  #bytes = 0;

  /** Creates an empty arena on `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
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
    const buffer = this.raw(name, roundUp(size * 4, 16), TENSOR_USAGE);
    return { buffer, offset: 0, shape: [...shape], size, name };
  }

  /** Allocates a raw buffer with explicit usage (uniforms, staging, queries). */
  raw(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const buffer = this.#device.createBuffer({ label, size: Math.max(16, bytes), usage });
    this.#buffers.push(buffer);
    this.#bytes += buffer.size;
    return buffer;
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

/** A tensor with the same storage but a different shape of equal size. */
export function reshape(t: Tensor, shape: readonly number[], name = t.name): Tensor {
  if (numel(shape) !== t.size) {
    throw new RangeError(
      `cannot reshape "${t.name}" ${shapeStr(t.shape)} to ${shapeStr(shape)}: sizes differ`,
    );
  }
  return { ...t, shape: [...shape], name };
}
