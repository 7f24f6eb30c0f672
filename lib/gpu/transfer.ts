/**
 * Moving data between the CPU and tensors, outside the step loop.
 *
 * A readback costs about 11 ms in Deno whatever its size (it polls the device
 * with 10 ms sleeps), so these helpers are for setup, tests and checkpoints;
 * the trainer reads metrics through a ring a step or more late.
 * @module
 */

import type { Gpu } from "./device.ts";
import type { Tensor } from "./tensor.ts";

/** Writes `data` into `t` (lengths must match). */
export function writeTensor(gpu: Gpu, t: Tensor, data: ArrayLike<number>): void {
  if (data.length !== t.size) {
    throw new RangeError(`writeTensor "${t.name}": got ${data.length} values, need ${t.size}`);
  }
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
  gpu.device.queue.writeBuffer(t.buffer, t.offset, f32 as Float32Array<ArrayBuffer>);
}

/** Reads the whole of `t` back to the CPU (waits for all submitted work). */
export async function readTensor(gpu: Gpu, t: Tensor): Promise<Float32Array> {
  const [out] = await readTensors(gpu, [t]);
  return out;
}

/** Reads several tensors with a single map/wait (one ~11 ms round-trip). */
export async function readTensors(gpu: Gpu, ts: readonly Tensor[]): Promise<Float32Array[]> {
  gpu.checkAlive();
  const sizes = ts.map((t) => Math.ceil((t.size * 4) / 4) * 4);
  let total = 0;
  const offsets = sizes.map((s) => {
    const o = total;
    total += Math.ceil(s / 16) * 16;
    return o;
  });
  const staging = gpu.device.createBuffer({
    label: "readback",
    size: Math.max(16, total),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = gpu.device.createCommandEncoder({ label: "readback" });
  ts.forEach((t, i) => enc.copyBufferToBuffer(t.buffer, t.offset, staging, offsets[i], sizes[i]));
  gpu.device.queue.submit([enc.finish()]);
  try {
    await staging.mapAsync(GPUMapMode.READ);
  } catch (e) {
    gpu.checkAlive();
    throw e;
  }
  // Errors of earlier commands arrive as events before the map resolves.
  gpu.checkAlive();
  const mapped = staging.getMappedRange();
  const out = ts.map((t, i) => new Float32Array(mapped.slice(offsets[i], offsets[i] + t.size * 4)));
  staging.unmap();
  staging.destroy();
  return out;
}
