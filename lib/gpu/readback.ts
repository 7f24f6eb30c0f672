/**
 * A ring of staging buffers for reading small results (metrics) a step or
 * more late, so the step loop never waits for the GPU.
 *
 * `capture` records copies into a free slot inside the step's own encoder;
 * after the submit, `launch` starts mapping it and calls back when the data
 * arrive. A slot still in flight is never reused: if all are busy, the capture
 * is skipped (a missed progress update, never a stall).
 * @module
 */

import type { Gpu } from "./device.ts";
import type { Tensor } from "./tensor.ts";

interface Slot {
  buffer: GPUBuffer;
  busy: boolean;
  sizes: number[];
  done?: Promise<void>;
}

/** Ring of `slots` staging buffers of `bytes` each. */
export class ReadbackRing {
  readonly #slots: Slot[];
  readonly #pending = new Set<Promise<void>>();
  #next = 0;
  #maps = 0;

  /** Creates the ring (allocation happens here, once). */
  constructor(gpu: Gpu, bytes: number, slots = 4) {
    this.#slots = Array.from({ length: slots }, (_, i) => ({
      buffer: gpu.device.createBuffer({
        label: `readback.${i}`,
        size: Math.max(16, Math.ceil(bytes / 16) * 16),
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      }),
      busy: false,
      sizes: [],
    }));
  }

  /** Number of map operations started so far (readbacks). */
  get readbacks(): number {
    return this.#maps;
  }

  /**
   * Resolves when the next slot to be used is free. Awaiting this before a
   * capture bounds how far the CPU runs ahead of the GPU (backpressure)
   * without ever waiting on the work just submitted.
   */
  async nextFree(): Promise<void> {
    const slot = this.#slots[this.#next];
    if (slot.busy && slot.done) await slot.done;
  }

  /**
   * Records copies of `tensors` into the next free slot; returns its index,
   * or undefined when every slot is still in flight.
   */
  capture(enc: GPUCommandEncoder, tensors: readonly Tensor[]): number | undefined {
    const i = this.#next;
    const slot = this.#slots[i];
    if (slot.busy) return undefined;
    let offset = 0;
    slot.sizes = [];
    for (const t of tensors) {
      const bytes = t.size * 4;
      if (offset + bytes > slot.buffer.size) throw new RangeError("readback ring slot too small");
      enc.copyBufferToBuffer(t.buffer, t.offset, slot.buffer, offset, bytes);
      slot.sizes.push(t.size);
      offset += Math.ceil(bytes / 16) * 16;
    }
    slot.busy = true;
    this.#next = (i + 1) % this.#slots.length;
    return i;
  }

  /** Starts mapping slot `i` (call after the submit); `onData` gets one array per tensor. */
  launch(i: number, onData: (values: Float32Array[]) => void): void {
    const slot = this.#slots[i];
    this.#maps++;
    const p = slot.buffer.mapAsync(GPUMapMode.READ).then(() => {
      const range = slot.buffer.getMappedRange();
      let offset = 0;
      const out = slot.sizes.map((n) => {
        const a = new Float32Array(range.slice(offset, offset + n * 4));
        offset += Math.ceil((n * 4) / 16) * 16;
        return a;
      });
      slot.buffer.unmap();
      slot.busy = false;
      onData(out);
    });
    slot.done = p;
    this.#pending.add(p);
    p.finally(() => this.#pending.delete(p));
  }

  /** Waits for every launched read to deliver. */
  async drain(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  /** Frees the staging buffers (after `drain`). */
  dispose(): void {
    for (const s of this.#slots) s.buffer.destroy();
  }
}
