/**
 * GPU-side timing of compute passes through timestamp queries.
 *
 * Available only when the device has `timestamp-query`; otherwise
 * {@link GpuTimer.create} returns undefined and callers fall back to wall time.
 * @module
 */

import type { Gpu } from "./device.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Milliseconds per label from timestamps read back as raw f32 words (as a
 * readback ring delivers them): labels repeated over several passes add up.
 */
export function stageDurations(
  labels: readonly string[],
  raw: Float32Array,
): Record<string, number> {
  const ts = new BigUint64Array(raw.buffer, raw.byteOffset, labels.length * 2);
  const out: Record<string, number> = {};
  labels.forEach((l, i) => {
    const ns = ts[2 * i + 1] > ts[2 * i] ? Number(ts[2 * i + 1] - ts[2 * i]) : 0;
    out[l] = (out[l] ?? 0) + ns / 1e6;
  });
  return out;
}

/** Collects begin/end timestamps for up to `capacity` passes per submit. */
export class GpuTimer {
  readonly #gpu: Gpu;
  readonly #querySet: GPUQuerySet;
  readonly #resolve: GPUBuffer;
  readonly #capacity: number;
  #labels: string[] = [];

  private constructor(gpu: Gpu, capacity: number) {
    this.#gpu = gpu;
    this.#capacity = capacity;
    this.#querySet = gpu.device.createQuerySet({ type: "timestamp", count: capacity * 2 });
    this.#resolve = gpu.device.createBuffer({
      label: "timer.resolve",
      size: capacity * 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** A timer for `capacity` passes, or undefined without timestamp queries. */
  static create(gpu: Gpu, capacity = 64): GpuTimer | undefined {
    return gpu.hasTimestamps ? new GpuTimer(gpu, capacity) : undefined;
  }

  /** Timestamp writes for the next pass; pass to `encode`'s option. */
  next(label: string): GPUComputePassTimestampWrites | undefined {
    const i = this.#labels.length;
    if (i >= this.#capacity) return undefined;
    this.#labels.push(label);
    return {
      querySet: this.#querySet,
      beginningOfPassWriteIndex: 2 * i,
      endOfPassWriteIndex: 2 * i + 1,
    };
  }

  /**
   * Records the resolution of the passes timed so far into `enc` and resets
   * the timer; returns their labels and a tensor view of the resolved
   * timestamps (two u64 per pass) to read back with the caller's own
   * readback (see {@link stageDurations}), so timing adds no extra sync.
   */
  resolveInto(enc: GPUCommandEncoder): { labels: string[]; timestamps: Tensor } | undefined {
    const n = this.#labels.length;
    const labels = this.#labels;
    this.#labels = [];
    if (n === 0) return undefined;
    enc.resolveQuerySet(this.#querySet, 0, 2 * n, this.#resolve, 0);
    return {
      labels,
      timestamps: {
        buffer: this.#resolve,
        offset: 0,
        shape: [4 * n],
        size: 4 * n,
        name: "timer.resolve",
      },
    };
  }

  /**
   * Resolves the recorded passes (after the caller's work was submitted in the
   * same queue) and returns [label, milliseconds] pairs; resets the timer.
   */
  async read(): Promise<[string, number][]> {
    const n = this.#labels.length;
    const labels = this.#labels;
    this.#labels = [];
    if (n === 0) return [];
    const device = this.#gpu.device;
    const staging = device.createBuffer({
      size: n * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = device.createCommandEncoder();
    enc.resolveQuerySet(this.#querySet, 0, 2 * n, this.#resolve, 0);
    enc.copyBufferToBuffer(this.#resolve, 0, staging, 0, n * 16);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const ts = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    return labels.map((l, i) => [l, Number(ts[2 * i + 1] - ts[2 * i]) / 1e6]);
  }
}
