/**
 * Small uniform blocks for values that change between steps without
 * re-encoding (learning rate, step counter, seeds).
 * @module
 */

import type { Gpu } from "./device.ts";
import type { BufferArena } from "./tensor.ts";

/** Scalar types a uniform field may have. */
export type UniformType = "f32" | "u32";

/**
 * A uniform buffer of named scalar fields in declaration order. Writes go
 * through `queue.writeBuffer`, which is ordered before the next submit.
 */
export class Uniforms<K extends string> {
  /** The GPU buffer to bind as `var<uniform>`. */
  readonly buffer: GPUBuffer;
  readonly #gpu: Gpu;
  readonly #fields: readonly (readonly [K, UniformType])[];
  readonly #data: ArrayBuffer;
  readonly #f32: Float32Array;
  readonly #u32: Uint32Array;
  readonly #index: Map<K, number>;

  /**
   * Creates the block with every field zero. With `arena`, the buffer is the
   * arena's (destroyed with it, like the tensors the block's kernels bind).
   */
  constructor(
    gpu: Gpu,
    label: string,
    fields: readonly (readonly [K, UniformType])[],
    arena?: BufferArena,
  ) {
    this.#gpu = gpu;
    this.#fields = fields;
    const bytes = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
    this.#data = new ArrayBuffer(bytes);
    this.#f32 = new Float32Array(this.#data);
    this.#u32 = new Uint32Array(this.#data);
    this.#index = new Map(fields.map(([k], i) => [k, i]));
    const usage = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    this.buffer = arena
      ? arena.raw(label, bytes, usage)
      : gpu.device.createBuffer({ label, size: bytes, usage });
  }

  /** The binding to pass to `dispatch`. */
  get binding(): { uniform: GPUBuffer } {
    return { uniform: this.buffer };
  }

  /** Sets fields and uploads the whole block. */
  set(values: Partial<Record<K, number>>): void {
    for (const [k, v] of Object.entries(values) as [K, number][]) {
      const i = this.#index.get(k);
      if (i === undefined) throw new RangeError(`unknown uniform field "${k}"`);
      if (this.#fields[i][1] === "u32") this.#u32[i] = v >>> 0;
      else this.#f32[i] = v;
    }
    this.#gpu.device.queue.writeBuffer(this.buffer, 0, this.#data);
  }

  /** Current value of a field, as last set. */
  get(k: K): number {
    const i = this.#index.get(k)!;
    return this.#fields[i][1] === "u32" ? this.#u32[i] : this.#f32[i];
  }

  /** WGSL struct declaration `struct <name> { ... }` matching the layout. */
  wgslStruct(name: string): string {
    const body = this.#fields.map(([k, t]) => `  ${k}: ${t},`).join("\n");
    return `struct ${name} {\n${body}\n}\n`;
  }
}
