/**
 * A dataset split resident on the GPU, and the per-step gather into a plan's
 * input batch. Each epoch uploads one permutation; each step writes one u32
 * (the batch's start in it). No per-step allocation, no readback.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { gather } from "../kernels/elementwise/gather.ts";
import { dataStream, STREAM_TAG } from "../data/streams.ts";

/** Pixels and labels of one split, as the data layer gives them. */
export interface HostSplit {
  /** count·sampleSize values (bytes, or floats for synthetic data). */
  images: Uint8Array | Float32Array;
  /** count class indices. */
  labels: Uint8Array;
  /** Number of samples. */
  count: number;
}

/** A split on the GPU with gather commands bound to one input batch. */
export class GpuSplit {
  /** Number of samples. */
  readonly count: number;
  /** Commands that fill the batch tensors for the current start index. */
  readonly gather: Command[];
  readonly #gpu: Gpu;
  readonly #perm: GPUBuffer;
  readonly #start: GPUBuffer;
  readonly #buffers: GPUBuffer[];
  readonly #startValue = new Uint32Array(4);

  /**
   * Uploads `split` and builds the gather into `input` [B, ...] and `labels` [B].
   * `normalization` maps stored values to network inputs per channel.
   */
  constructor(
    gpu: Gpu,
    name: string,
    split: HostSplit,
    sample: { size: number; channels: number },
    normalization: { scale: number; mean: readonly number[]; std: readonly number[] },
    batch: { input: Tensor; labels: Tensor },
    augment?: { seed: number; pad: number; flip: boolean; shape: readonly number[] },
    /** Bytes per storage binding (default: the adapter's limit; tests lower it). */
    maxBindingBytes?: number,
  ) {
    this.#gpu = gpu;
    this.count = split.count;
    const device = gpu.device;
    const isBytes = split.images instanceof Uint8Array;
    const bytesPerValue = isBytes ? 1 : 4;
    const sampleBytes = sample.size * bytesPerValue;
    // Split the pixels over as many storage bindings as needed; chunks hold a
    // multiple of 4 samples so u8 data stays word-aligned.
    const limit = maxBindingBytes ?? gpu.limits.maxStorageBufferBindingSize;
    const perBuffer = Math.max(4, Math.floor(limit / sampleBytes / 4) * 4);
    const chunks = Math.max(1, Math.ceil(split.count / perBuffer));
    if (chunks > 8) {
      throw new RangeError(
        `${name}: ${
          (split.count * sampleBytes / 2 ** 20).toFixed(0)
        } MiB of pixels need more than 8 ` +
          `storage bindings of ${(limit / 2 ** 20).toFixed(0)} MiB on this adapter`,
      );
    }
    const make = (label: string, bytes: number, usage: number) =>
      device.createBuffer({
        label: `${name}.${label}`,
        size: Math.max(16, Math.ceil(bytes / 16) * 16),
        usage,
      });
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const all = new Uint8Array(
      split.images.buffer,
      split.images.byteOffset,
      split.images.byteLength,
    );
    const pixels = Array.from({ length: chunks }, (_, c) => {
      const from = c * perBuffer * sampleBytes;
      const to = Math.min(all.length, (c + 1) * perBuffer * sampleBytes);
      const buffer = make(`pixels${c}`, to - from, storage);
      const padded = new Uint8Array(buffer.size);
      padded.set(all.subarray(from, to));
      device.queue.writeBuffer(buffer, 0, padded);
      return buffer;
    });
    const labels = make("labels", split.count * 4, storage);
    device.queue.writeBuffer(labels, 0, Uint32Array.from(split.labels));
    this.#perm = make("perm", split.count * 4, storage);
    this.#start = make("start", 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.#buffers = [...pixels, labels, this.#perm, this.#start];
    this.setOrder(identityOrder(split.count));
    this.gather = gather(gpu, {
      pixels: { buffers: pixels, format: isBytes ? "u8" : "f32", samplesPerBuffer: perBuffer },
      labels,
      perm: this.#perm,
      count: split.count,
      sampleSize: sample.size,
      channels: sample.channels,
      normalization,
      start: this.#start,
      input: batch.input,
      labelsOut: batch.labels,
      augment,
    });
  }

  /**
   * Uploads the sample order for `epoch` (a permutation of 0..count−1) and
   * selects that epoch's augmentation draws.
   */
  setOrder(order: Uint32Array, epoch = 0): void {
    if (order.length !== this.count) {
      throw new RangeError(`order has ${order.length} entries, need ${this.count}`);
    }
    this.#gpu.device.queue.writeBuffer(this.#perm, 0, order as Uint32Array<ArrayBuffer>);
    this.#startValue[1] = dataStream(STREAM_TAG.augment, epoch);
    this.#gpu.device.queue.writeBuffer(this.#start, 0, this.#startValue);
  }

  /** Selects the batch starting at position `start` of the order. */
  setStart(start: number): void {
    this.#startValue[0] = start;
    this.#gpu.device.queue.writeBuffer(this.#start, 0, this.#startValue);
  }

  /** Frees the GPU buffers. */
  dispose(): void {
    for (const b of this.#buffers) b.destroy();
  }
}

/** 0, 1, …, n−1. */
export function identityOrder(n: number): Uint32Array {
  const o = new Uint32Array(n);
  for (let i = 0; i < n; i++) o[i] = i;
  return o;
}
