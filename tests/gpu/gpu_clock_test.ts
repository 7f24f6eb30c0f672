import { assert } from "../assert.ts";
import { GpuClock, lastTimestampNs } from "../../lib/gpu/gpu_clock.ts";
import { GpuTimer } from "../../lib/gpu/timing.ts";
import { gpuTest, testGpu } from "../util.ts";

Deno.test("host times never precede earlier ones nor follow their observation", () => {
  const clock = new GpuClock();
  // GPU clock 1e9 ms ahead of the host; the first result is seen 500 ms late.
  const a = clock.hostTime((1e9 + 1000) * 1e6, 1500);
  assert(a === 1500, `first observation bounds the offset: ${a}`);
  // A later step seen promptly tightens the offset to the true one.
  const b = clock.hostTime((1e9 + 2000) * 1e6, 2001);
  assert(b === 2001, `${b}`);
  // A step seen in a burst long after it ended gets its true end time.
  const c = clock.hostTime((1e9 + 2100) * 1e6, 5000);
  assert(c === 2101, `burst-read step mapped to ${c}, not 5000`);
  // Monotone even if a stamp were out of order.
  const d = clock.hostTime((1e9 + 2050) * 1e6, 5000);
  assert(d === 2101, `${d}`);
});

Deno.test("lastTimestampNs picks the latest end stamp of the resolved pairs", () => {
  const ts = new BigUint64Array([5n, 9n, 10n, 30n, 12n, 20n]);
  assert(lastTimestampNs(3, new Float32Array(ts.buffer)) === 30);
  assert(lastTimestampNs(1, new Float32Array(ts.buffer)) === 9);
});

Deno.test(
  "a timed pass maps to a host time between its submit and its readback",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const clock = await GpuClock.calibrated(gpu);
    if (!clock) return; // no timestamp queries on this adapter: nothing to map
    const timer = GpuTimer.create(gpu)!;
    const enc = gpu.device.createCommandEncoder();
    enc.beginComputePass({ timestampWrites: timer.next("empty") }).end();
    const timed = timer.resolveInto(enc)!;
    const staging = gpu.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    enc.copyBufferToBuffer(timed.timestamps.buffer, 0, staging, 0, 16);
    const submittedAt = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const seenAt = performance.now();
    const raw = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    const t = clock.hostTime(lastTimestampNs(1, raw), seenAt);
    // The calibration's own readback bounds its offset to within one device
    // poll (~11 ms here), so allow 50 ms before the submit.
    assert(t <= seenAt && t >= submittedAt - 50, `${submittedAt} ≤ ${t} ≤ ${seenAt}`);
  },
);
