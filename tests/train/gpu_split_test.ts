/**
 * The GPU gather: batches in permutation order, normalised, from a dataset
 * split over several storage bindings (as CIFAR-10 must be on llvmpipe);
 * padding rows past the end get label −1.
 */
import { GpuSplit } from "../../lib/train/gpu_split.ts";
import { BufferArena } from "../../lib/gpu/tensor.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import { Rng } from "../../lib/util/rng.ts";
import { assertEquals } from "../assert.ts";
import { assertClose, gpuTest, testGpu } from "../util.ts";

Deno.test(
  "gather over 8 pixel bindings returns the permuted, normalised samples",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const arena = new BufferArena(gpu.device);
    const count = 30, size = 12, batch = 8; // 12 bytes per sample; 4 samples per 48-byte binding → 8 bindings (the maximum)
    const r = new Rng(5);
    const images = Uint8Array.from({ length: count * size }, () => r.int(256));
    const labels = Uint8Array.from({ length: count }, (_, i) => i % 7);
    const input = arena.tensor("input", [batch, size]);
    const labelsOut = arena.tensor("labels", [batch]);
    const norm = { scale: 1 / 255, mean: [0.25, 0.5, 0.75], std: [0.5, 0.25, 2] };
    const split = new GpuSplit(
      gpu,
      "t",
      { images, labels, count },
      { size, channels: 3 },
      norm,
      { input, labels: labelsOut },
      undefined,
      48,
    );
    const order = Uint32Array.from({ length: count }, (_, i) => (i * 7) % count); // 7 ⟂ 30: a permutation
    split.setOrder(order);
    for (const start of [0, 24]) { // the second batch has 6 real rows and 2 padding rows
      split.setStart(start);
      submit(gpu, split.gather);
      const [x, y] = await readTensors(gpu, [input, labelsOut]);
      const wantX = new Float64Array(batch * size), wantY = new Float64Array(batch).fill(-1);
      for (let b = 0; b < batch && start + b < count; b++) {
        const src = order[start + b];
        wantY[b] = labels[src];
        for (let j = 0; j < size; j++) {
          const c = j % 3;
          wantX[b * size + j] = (images[src * size + j] / 255 - norm.mean[c]) / norm.std[c];
        }
      }
      // One f32 multiply-subtract-multiply per value: a few ulps.
      assertClose(x, wantX, { atol: 1e-6, rtol: 1e-6 }, `inputs from start ${start}`);
      assertEquals(Array.from(y), Array.from(wantY), `labels from start ${start}`);
    }
    split.dispose();
    arena.dispose();
  },
);
