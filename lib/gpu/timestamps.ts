/**
 * Timestamp queries for any number of compute passes, read back once.
 *
 * A query set holds at most 4,096 queries, so a profile of many steps of a
 * large plan spans several sets; {@link TimestampLog} allocates them as
 * needed and resolves them all into one staging buffer, so a whole batch of
 * timed work costs a single wait (Deno's queue poll, ~10 ms) however many
 * passes it timed.
 * @module
 */

import type { Gpu } from "./device.ts";

/** Queries per query set (the WebGPU maximum). */
const SET_SIZE = 4096;

/** One query slot: its set and index there. */
interface Slot {
  readonly set: number;
  readonly index: number;
}

/** Allocates timestamp query slots over several query sets; one readback for all. */
export class TimestampLog {
  readonly #device: GPUDevice;
  readonly #sets: GPUQuerySet[] = [];
  #used = 0; // slots used in the last set

  private constructor(gpu: Gpu) {
    this.#device = gpu.device;
  }

  /** A log on `gpu`, or undefined when the device has no timestamp queries. */
  static create(gpu: Gpu): TimestampLog | undefined {
    return gpu.hasTimestamps ? new TimestampLog(gpu) : undefined;
  }

  /** Query slots allocated so far (ids run from 0). */
  get count(): number {
    return this.#sets.length === 0 ? 0 : (this.#sets.length - 1) * SET_SIZE + this.#used;
  }

  #slot(id: number): Slot {
    return { set: Math.floor(id / SET_SIZE), index: id % SET_SIZE };
  }

  /** Reserves `n` (≤ 2) consecutive slots in one set; returns the first id. */
  #reserve(n: number): number {
    if (this.#sets.length === 0 || this.#used + n > SET_SIZE) {
      // Pad the rest of a full set so that ids map to (set, index) by division.
      this.#sets.push(this.#device.createQuerySet({ type: "timestamp", count: SET_SIZE }));
      this.#used = 0;
    }
    const id = (this.#sets.length - 1) * SET_SIZE + this.#used;
    this.#used += n;
    return id;
  }

  /**
   * Writes for a pass timed at both ends: the begin timestamp gets the
   * returned `id`, the end timestamp `id + 1`.
   */
  pair(): { id: number; writes: GPUComputePassTimestampWrites } {
    const id = this.#reserve(2);
    const { set, index } = this.#slot(id);
    return {
      id,
      writes: {
        querySet: this.#sets[set],
        beginningOfPassWriteIndex: index,
        endOfPassWriteIndex: index + 1,
      },
    };
  }

  /** Writes for a pass timed at its beginning or its end only. */
  single(at: "begin" | "end"): { id: number; writes: GPUComputePassTimestampWrites } {
    const id = this.#reserve(1);
    const { set, index } = this.#slot(id);
    const querySet = this.#sets[set];
    return {
      id,
      writes: at === "begin"
        ? { querySet, beginningOfPassWriteIndex: index }
        : { querySet, endOfPassWriteIndex: index },
    };
  }

  /**
   * Resolves every slot (after the timed work was submitted on the same
   * queue), reads them back with one wait, and frees the sets. Returns the
   * timestamps in nanoseconds by id (padding slots read as 0).
   */
  async read(): Promise<BigUint64Array> {
    const sets = this.#sets.splice(0);
    const used = this.#used;
    this.#used = 0;
    if (sets.length === 0) return new BigUint64Array(0);
    const bytes = sets.length * SET_SIZE * 8;
    const device = this.#device;
    const resolve = device.createBuffer({
      label: "timestamps.resolve",
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const staging = device.createBuffer({
      label: "timestamps.staging",
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const enc = device.createCommandEncoder({ label: "timestamps.read" });
      sets.forEach((qs, i) => {
        const count = i === sets.length - 1 ? used : SET_SIZE;
        if (count > 0) enc.resolveQuerySet(qs, 0, count, resolve, i * SET_SIZE * 8);
      });
      enc.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const out = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
      resolve.destroy();
      for (const qs of sets) qs.destroy();
    }
  }
}

/**
 * Milliseconds between two timestamps (ns) of a {@link TimestampLog.read}
 * result; NaN when the end is before the begin or a slot was never written
 * (a backend that reports zeros).
 */
export function spanMs(ts: BigUint64Array, begin: number, end: number): number {
  const a = ts[begin];
  const b = ts[end];
  return b >= a && a > 0n ? Number(b - a) / 1e6 : NaN;
}
