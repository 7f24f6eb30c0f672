/**
 * Host times of GPU events from timestamp queries.
 *
 * A buffer map resolves whenever Deno next polls the device, often in bursts
 * long after the work finished, so `performance.now()` at resolution time
 * quantises progress curves to seconds. The GPU's own end-of-step timestamp
 * is exact; this maps it onto the host clock with an offset that is an upper
 * bound of the true one (work is always observed after it ended) and that
 * tightens with every observation.
 * @module
 */

import type { Gpu } from "./device.ts";

/** Maps GPU timestamps (ns) to host times (`performance.now()` ms). */
export class GpuClock {
  #offsetMs = Infinity;
  #lastMs = -Infinity;

  /**
   * A clock calibrated with one timestamped empty pass (one readback, so
   * call it outside the step loop), or undefined without timestamp queries.
   */
  static async calibrated(gpu: Gpu): Promise<GpuClock | undefined> {
    if (!gpu.hasTimestamps) return undefined;
    const device = gpu.device;
    const querySet = device.createQuerySet({ type: "timestamp", count: 2 });
    const resolve = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const staging = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const enc = device.createCommandEncoder({ label: "clock.calibrate" });
      enc.beginComputePass({
        timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
      }).end();
      enc.resolveQuerySet(querySet, 0, 2, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, staging, 0, 16);
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const observedAt = performance.now();
      const stamps = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      const clock = new GpuClock();
      if (stamps[1] > 0n) clock.hostTime(Number(stamps[1]), observedAt);
      return clock;
    } finally {
      staging.destroy();
      resolve.destroy();
      querySet.destroy();
    }
  }

  /**
   * The host time (ms) at which work that ended at GPU time `gpuNs` finished,
   * given that its result was seen at host time `observedAt`. Results are
   * non-decreasing over successive calls, and never later than `observedAt`.
   */
  hostTime(gpuNs: number, observedAt: number): number {
    const gpuMs = gpuNs / 1e6;
    this.#offsetMs = Math.min(this.#offsetMs, observedAt - gpuMs);
    const t = Math.min(observedAt, Math.max(this.#lastMs, gpuMs + this.#offsetMs));
    this.#lastMs = t;
    return t;
  }
}

/** The latest end-of-pass timestamp (ns) among `passes` resolved pairs read back as f32 words. */
export function lastTimestampNs(passes: number, raw: Float32Array): number {
  const ts = new BigUint64Array(raw.buffer, raw.byteOffset, passes * 2);
  let last = 0n;
  for (let i = 0; i < passes; i++) if (ts[2 * i + 1] > last) last = ts[2 * i + 1];
  return Number(last);
}
