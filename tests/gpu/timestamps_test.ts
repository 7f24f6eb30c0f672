/**
 * TimestampLog: pairs and single timestamps over several query sets (past
 * the 4,096-query limit of one set), read back with one wait.
 */
import { assert, assertEquals } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";
import { dispatch, encode } from "../../lib/gpu/commands.ts";
import { BufferArena } from "../../lib/gpu/tensor.ts";
import { spanMs, TimestampLog } from "../../lib/gpu/timestamps.ts";

Deno.test(
  "TimestampLog times 2,100 passes across two query sets in one readback",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const log = TimestampLog.create(gpu);
    assert(log, "llvmpipe offers timestamp queries");
    const arena = new BufferArena(gpu.device);
    try {
      const t = arena.tensor("ts.x", [64]);
      const code = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { x[g.x] += 1.0; }`;
      const cmd = dispatch(gpu, "ts_add", code, [t], [1]);
      const enc = gpu.device.createCommandEncoder();
      const begin = log.single("begin");
      encode(enc, [cmd], { timestampWrites: () => begin.writes });
      const pairs: number[] = [];
      for (let i = 0; i < 2100; i++) {
        encode(enc, [cmd], {
          timestampWrites: () => {
            const p = log.pair();
            pairs.push(p.id);
            return p.writes;
          },
        });
      }
      const end = log.single("end");
      encode(enc, [cmd], { timestampWrites: () => end.writes });
      assert(log.count > 4096, `${log.count} slots span two sets`);
      gpu.device.queue.submit([enc.finish()]);
      const ts = await log.read();
      const ms = pairs.map((id) => spanMs(ts, id, id + 1));
      assert(ms.every((x) => Number.isFinite(x) && x >= 0), "every pass measured");
      const whole = spanMs(ts, begin.id, end.id);
      const sum = ms.reduce((a, b) => a + b, 0);
      assert(whole >= sum, `the span ${whole} ms covers its ${pairs.length} passes (${sum} ms)`);
      assertEquals(log.count, 0, "read() resets the log");
      assert(Number.isNaN(spanMs(new BigUint64Array([5n, 3n]), 0, 1)), "end before begin");
    } finally {
      arena.dispose();
    }
  },
);
