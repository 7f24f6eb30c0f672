/**
 * GPU-side timing of compute passes through timestamp queries.
 *
 * Available only when the device has `timestamp-query`; otherwise
 * {@link GpuTimer.create} returns undefined and callers fall back to wall time.
 * @module
 */

import type { Gpu } from "./device.ts";

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
