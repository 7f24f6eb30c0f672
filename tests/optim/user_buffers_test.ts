/**
 * The vec4 multi-tensor update through the public `Optimizer` (lib/optim/mod.ts)
 * on user buffers: many tiny tensors at aligned offsets of one buffer, the
 * last ending exactly at the buffer's end (4·k elements: the vec4 kernel; not
 * a multiple of 4: it may not read past the end, so the scalar one), against
 * the float64 references: SGD with Nesterov momentum and no weight decay, and
 * RAdam for 8 steps with β₂ = 0.99, so that its rectified branch (ρₜ > 5 from
 * step 7; a second masked store) runs too. The bytes between tensors stay
 * untouched.
 */
import { Optimizer, type OptimizerFactory, radam, sgd } from "../../lib/optim/mod.ts";
import { readTensor, writeTensor } from "../../lib/gpu/transfer.ts";
import type { Tensor } from "../../lib/gpu/tensor.ts";
import { radamStep, type RefState, sgdStep } from "../ref/optim.ts";
import { assertClose, f32, gpuTest, randn, withArena } from "../util.ts";
import { assertEquals } from "../assert.ts";

const GAP = 7;

const sgdOptions = { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0 };
const radamOptions = { lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 };
const rules: [string, OptimizerFactory, (s: RefState, g: Float64Array) => void, number][] = [
  ["Nesterov SGD", sgd(sgdOptions), (s, g) => sgdStep(s, g, sgdOptions), 3],
  [
    "RAdam",
    radam({ lr: 0.05, betas: [0.9, 0.99], weightDecay: 0.01 }),
    (s, g) => radamStep(s, g, radamOptions),
    8,
  ],
];

for (const last of [8, 7]) {
  for (const [rule, factory, refStep, steps] of rules) {
    Deno.test(
      `Optimizer on user buffers, ${rule}: tiny tensors, the last (${last} values) ends the buffer`,
      gpuTest,
      () =>
        withArena(async (gpu, arena) => {
          const align = gpu.device.limits.minStorageBufferOffsetAlignment;
          const sizes = [5, 3, 1, 4, 2, 9, last];
          // Each at the next allowed offset (32 bytes on llvmpipe, 256 on many GPUs).
          const offsets: number[] = [];
          sizes.reduce((at, n) => {
            offsets.push(at);
            return Math.ceil((at + n * 4) / align) * align;
          }, 0);
          const bytes = offsets[sizes.length - 1] + last * 4;
          const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST |
            GPUBufferUsage.COPY_SRC;
          const whole = (name: string): Tensor => {
            const buffer = arena.raw(name, bytes, usage);
            return { buffer, offset: 0, shape: [bytes / 4], size: bytes / 4, name };
          };
          const [values, grads] = [whole("values"), whole("grads")];
          for (const t of [values, grads]) writeTensor(gpu, t, new Float64Array(t.size).fill(GAP));
          const view = (t: Tensor, i: number): Tensor => ({
            buffer: t.buffer,
            offset: offsets[i],
            shape: [sizes[i]],
            size: sizes[i],
            name: `${t.name}${i}`,
          });
          const refs: RefState[] = sizes.map((n, i) => ({ p: f32(randn(3 + i, n)), t: 0 }));
          refs.forEach((r, i) => writeTensor(gpu, view(values, i), r.p));
          const opt = new Optimizer(
            gpu.device,
            factory,
            sizes.map((n, i) => ({
              name: `p${i}`,
              value: values.buffer,
              grad: grads.buffer,
              shape: [n],
              valueOffset: offsets[i],
              gradOffset: offsets[i],
            })),
          );
          for (let k = 0; k < steps; k++) {
            refs.forEach((r, i) => {
              const g = f32(randn(50 + 10 * k + i, sizes[i]));
              writeTensor(gpu, view(grads, i), g);
              refStep(r, g);
            });
            const enc = gpu.device.createCommandEncoder();
            opt.record(enc);
            gpu.device.queue.submit([enc.finish()]);
          }
          const got = await readTensor(gpu, values);
          refs.forEach((r, i) => {
            const part = Float64Array.from(got.subarray(offsets[i] / 4, offsets[i] / 4 + sizes[i]));
            assertClose(part, r.p, { atol: 1e-6, rtol: 1e-6 }, `p${i}`);
          });
          const inside = new Uint8Array(got.length);
          sizes.forEach((n, i) => inside.fill(1, offsets[i] / 4, offsets[i] / 4 + n));
          const touched = [...got].flatMap((v, j) => (inside[j] || v === GAP ? [] : [j]));
          assertEquals(touched, [], "gap elements written");
          opt.dispose();
        }),
    );
  }
}
