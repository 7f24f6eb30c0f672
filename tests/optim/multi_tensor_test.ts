import { adam, adamFamily, adamw, sgd } from "../../lib/optim/first_order.ts";
import { adabelief, adagrad, radam } from "../../lib/optim/adaptive.ts";
import { MAX_ENTRIES } from "../../lib/optim/multi_tensor.ts";
import type { OptimizerFactory, ParamSlot } from "../../lib/optim/types.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { packTensors } from "../../lib/gpu/pack.ts";
import type { BufferArena, Tensor } from "../../lib/gpu/tensor.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import { readTensor, writeTensor } from "../../lib/gpu/transfer.ts";
import {
  adabeliefStep,
  adagradStep,
  adamStep,
  adamwBkStep,
  radamStep,
  type RefState,
  sgdStep,
} from "../ref/optim.ts";
import { assertClose, f32, gpuTest, randn, withArena } from "../util.ts";
import { assertEquals, assertThrows } from "../assert.ts";
import { Optimizer } from "../../lib/optim/mod.ts";

const STEPS = 5;
const lrAt = (k: number) => 0.05 * (1 + 0.1 * k);

// Odd lengths: single elements, around the 256-thread workgroup, around the
// 1,024-element chunk of one workgroup, and several chunks.
const SHAPES: number[][] = [
  [1],
  [3],
  [7, 37],
  [255],
  [257],
  [1023],
  [1025],
  [3, 683],
  [2, 2, 3, 3],
  [17],
  [4099],
  [1],
  [5, 5],
  [2048],
  [31, 33],
];

/** Slots in four layouts: packed values + packed grads, and three odd cases. */
function makeSlots(gpu: Gpu, arena: BufferArena, limit: number): ParamSlot[] {
  const packed = SHAPES.map((shape, i) => ({ name: `packed${i}`, shape }));
  const values = packTensors(arena, "values", packed, limit);
  const grads = packTensors(
    arena,
    "grads",
    packed.map((s) => ({ name: `${s.name}.grad`, shape: s.shape })),
    limit,
  );
  const slots: ParamSlot[] = packed.map((s, i) => ({
    name: s.name,
    value: values[i],
    grad: grads[i],
    role: "weight",
  }));
  // Tensors in buffers of their own (user code's layout).
  for (const [i, shape] of [[3], [1029], [64]].entries()) {
    slots.push({
      name: `own${i}`,
      value: arena.tensor(`own${i}`, shape),
      grad: arena.tensor(`own${i}.grad`, shape),
      role: "bias",
    });
  }
  // Interleaved with the packed ones in slot order: packed values, own gradients.
  const mixed = packTensors(arena, "mixed", [{ name: "mixed0", shape: [513] }, {
    name: "mixed1",
    shape: [9],
  }], limit);
  mixed.forEach((value, i) =>
    slots.splice(2 + 5 * i, 0, {
      name: value.name,
      value,
      grad: arena.tensor(`${value.name}.grad`, value.shape),
      role: "weight",
    })
  );
  // A tensor 4 bytes into its buffers: not on a 16-byte boundary, so its
  // group is updated by the scalar kernel (every other group by the vec4 one).
  const raw = (label: string) =>
    arena.raw(
      label,
      4 + 37 * 4,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    );
  const shifted = (buffer: GPUBuffer, name: string): Tensor => ({
    buffer,
    offset: 4,
    shape: [37],
    size: 37,
    name,
  });
  slots.push({
    name: "shifted",
    value: shifted(raw("shifted"), "shifted"),
    grad: shifted(raw("shifted.grad"), "shifted.grad"),
    role: "weight",
  });
  for (const s of slots) {
    const p0 = f32(randn(11 + s.value.size, s.value.size));
    writeTensor(gpu, s.value, p0);
  }
  return slots;
}

/** Gap filler: what a kernel that touched a gap would change. */
const GAP = 7;

/**
 * The distinct buffers of the `pick` tensors, each as a whole-buffer view
 * with a mask of the elements inside some tensor.
 */
function wholeBuffers(
  slots: readonly ParamSlot[],
  pick: (s: ParamSlot) => Tensor,
): { whole: Tensor; inside: Uint8Array }[] {
  const out = new Map<GPUBuffer, { whole: Tensor; inside: Uint8Array }>();
  for (const s of slots) {
    const t = pick(s);
    let entry = out.get(t.buffer);
    if (!entry) {
      const size = t.buffer.size / 4;
      const whole = { buffer: t.buffer, offset: 0, shape: [size], size, name: "whole" };
      entry = { whole, inside: new Uint8Array(size) };
      out.set(t.buffer, entry);
    }
    entry.inside.fill(1, t.offset / 4, t.offset / 4 + t.size);
  }
  return [...out.values()];
}

/** Writes {@link GAP} into every element of the value and gradient buffers outside the tensors. */
async function fillGaps(gpu: Gpu, slots: readonly ParamSlot[]) {
  for (const pick of [(s: ParamSlot) => s.value, (s: ParamSlot) => s.grad]) {
    for (const { whole, inside } of wholeBuffers(slots, pick)) {
      const all = await readTensor(gpu, whole);
      inside.forEach((t, i) => (all[i] = t ? all[i] : GAP));
      writeTensor(gpu, whole, all);
    }
  }
}

/**
 * Runs `STEPS` steps over every slot at once and compares each tensor with
 * the float64 reference run on that tensor alone. Tolerance as in
 * first_order_test.ts: a handful of f32 operations per element and step,
 * 2e-5 absolute + 2e-5 relative over 5 steps. Also checks that the gaps
 * between packed tensors keep their values (the kernel touches nothing
 * else, not even the lanes of a tensor's last vec4 past its end).
 */
async function compareMulti(
  factory: OptimizerFactory,
  reference: (s: RefState, g: Float64Array, k: number) => void,
) {
  await withArena(async (gpu, arena) => {
    const slots = makeSlots(gpu, arena, gpu.limits.maxStorageBufferBindingSize);
    const refs: RefState[] = [];
    for (const s of slots) {
      refs.push({ p: Float64Array.from(await readTensor(gpu, s.value)), t: 0 });
    }
    // Gaps hold a non-zero value, so an update that touched them would change them.
    await fillGaps(gpu, slots);
    const inst = factory.build(gpu, arena, slots);
    submit(gpu, inst.init.flatMap((s) => s.commands));
    const dispatches = inst.stages.flatMap((s) => s.commands).filter((c) => c.kind === "dispatch");
    // One for the 15 packed tensors, one per own buffer, one per mixed tensor, the shifted one.
    assertEquals(dispatches.length, 1 + 3 + 2 + 1, `${factory.name}: dispatches`);
    assertEquals(
      dispatches.map((d) => d.label.includes("_v4")),
      [...dispatches.map(() => true).slice(1), false],
      `${factory.name}: vec4 everywhere but the shifted tensor (${dispatches.map((d) => d.label)})`,
    );
    for (let k = 0; k < STEPS; k++) {
      slots.forEach((s, i) => {
        const g = f32(randn(1000 * k + i, s.grad.size, 0.5));
        writeTensor(gpu, s.grad, g);
        reference(refs[i], g, k);
      });
      inst.prepareStep(k, lrAt(k));
      submit(gpu, inst.stages.flatMap((s) => s.commands));
    }
    for (const [i, s] of slots.entries()) {
      const got = Float64Array.from(await readTensor(gpu, s.value));
      assertClose(got, refs[i].p, { atol: 2e-5, rtol: 2e-5 }, `${factory.name} ${s.name}`);
    }
    for (const { whole, inside } of wholeBuffers(slots, (s) => s.value)) {
      const all = await readTensor(gpu, whole);
      all.forEach((v, i) => {
        if (!inside[i] && v !== GAP) {
          throw new Error(`${factory.name}: gap element ${i} became ${v}`);
        }
      });
    }
  });
}

const adamLike = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

Deno.test(
  "multi-tensor SGD (Nesterov, decay) over packed and separate buffers",
  gpuTest,
  () =>
    compareMulti(
      sgd({ lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
      (s, g, k) =>
        sgdStep(s, g, {
          lr: lrAt(k),
          momentum: 0.9,
          dampening: 0,
          nesterov: true,
          weightDecay: 0.01,
        }),
    ),
);

Deno.test("multi-tensor SGD without momentum (no state)", gpuTest, () =>
  compareMulti(
    sgd({ lr: 0.05 }),
    (s, g, k) =>
      sgdStep(s, g, { lr: lrAt(k), momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 }),
  ));

Deno.test("multi-tensor Adam and AdamW", gpuTest, async () => {
  await compareMulti(
    adam({ lr: 0.05, weightDecay: 0.1 }),
    (s, g, k) => adamStep(s, g, { lr: lrAt(k), ...adamLike, weightDecay: 0.1 }, false),
  );
  await compareMulti(
    adamw({ lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.3 }),
    (s, g, k) =>
      adamStep(s, g, { lr: lrAt(k), beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.3 }, true),
  );
});

Deno.test("multi-tensor AdamW_BK base update", gpuTest, () =>
  compareMulti(
    adamFamily({ lr: 0.05, weightDecay: 0.3 }, "bk", "adamw_bk"),
    (s, g, k) => adamwBkStep(s, g, { lr: lrAt(k), ...adamLike, weightDecay: 0.3 }),
  ));

Deno.test("multi-tensor Adagrad, RAdam and AdaBelief", gpuTest, async () => {
  await compareMulti(
    adagrad({ lr: 0.05, lrDecay: 0.01, weightDecay: 0.02 }),
    (s, g, k) => adagradStep(s, g, { lr: lrAt(k), lrDecay: 0.01, eps: 1e-10, weightDecay: 0.02 }),
  );
  await compareMulti(
    radam({ lr: 0.05, betas: [0.9, 0.9], weightDecay: 0.01 }),
    (s, g, k) =>
      radamStep(s, g, { lr: lrAt(k), beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0.01 }),
  );
  await compareMulti(
    adabelief({ lr: 0.05, weightDecay: 0.1, eps: 1e-8 }),
    (s, g, k) =>
      adabeliefStep(s, g, { lr: lrAt(k), beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 }),
  );
});

Deno.test(
  "multi-tensor state keeps per-parameter checkpoint names in slot order",
  gpuTest,
  () =>
    withArena((gpu, arena) => {
      const slots = makeSlots(gpu, arena, gpu.limits.maxStorageBufferBindingSize);
      const inst = adamw({ lr: 1e-3 }).build(gpu, arena, slots);
      assertEquals(
        inst.state.map((s) => s.name),
        slots.flatMap((s) => [`${s.name}.exp_avg`, `${s.name}.exp_avg_sq`]),
      );
      for (const [i, st] of inst.state.entries()) {
        assertEquals([...st.tensor.shape], [...slots[Math.floor(i / 2)].value.shape]);
      }
      return Promise.resolve();
    }),
);

Deno.test(
  "more tensors than one table holds, and packs split by the binding limit",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const n = MAX_ENTRIES + 37;
      const specs = Array.from({ length: n }, (_, i) => ({ name: `t${i}`, shape: [1 + (i % 5)] }));
      // A 64 KiB limit splits the values over several buffers (256-byte slots).
      const limit = 64 * 1024;
      const values = packTensors(arena, "v", specs, limit);
      const grads = packTensors(arena, "g", specs, limit);
      const buffers = new Set(values.map((v) => v.buffer)).size;
      assertEquals(buffers, Math.ceil(n / (limit / 256)));
      const slots: ParamSlot[] = specs.map((s, i) => ({
        name: s.name,
        value: values[i],
        grad: grads[i],
        role: "weight",
      }));
      const refs = slots.map((s, i) => {
        const p = f32(randn(i, s.value.size));
        writeTensor(gpu, s.value, p);
        return { p, t: 0 } as RefState;
      });
      const opt = { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 };
      const inst = sgd(opt).build(gpu, arena, slots);
      const dispatches = inst.stages[0].commands.length;
      if (dispatches < Math.max(buffers, Math.ceil(n / MAX_ENTRIES))) {
        throw new Error(`${dispatches} dispatches for ${buffers} buffers and ${n} tensors`);
      }
      for (let k = 0; k < 2; k++) {
        slots.forEach((s, i) => {
          const g = f32(randn(7 * k + i + 5000, s.value.size));
          writeTensor(gpu, s.grad, g);
          sgdStep(refs[i], g, opt);
        });
        inst.prepareStep(k, opt.lr);
        submit(gpu, inst.stages[0].commands);
      }
      const sample = [0, 1, 255, 256, MAX_ENTRIES - 1, MAX_ENTRIES, n - 1];
      for (const i of sample) {
        const got = Float64Array.from(await readTensor(gpu, slots[i].value));
        assertClose(got, refs[i].p, { atol: 1e-6, rtol: 1e-6 }, slots[i].name);
      }
    }),
);

Deno.test(
  "Optimizer over user buffers: parameters packed at offsets share one update dispatch",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const align = gpu.device.limits.minStorageBufferOffsetAlignment;
      const shapes = [[3, 5], [7], [300]];
      const offsets: number[] = [];
      let at = 0;
      for (const s of shapes) {
        offsets.push(at);
        at += Math.ceil((s.reduce((a, b) => a * b) * 4) / align) * align;
      }
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
      const values = arena.raw("user.values", at, usage);
      const grads = arena.raw("user.grads", at, usage);
      const own = arena.tensor("own", [9]);
      const ownGrad = arena.tensor("own.grad", [9]);
      const view = (buffer: GPUBuffer, i: number): Tensor => {
        const size = shapes[i].reduce((a, b) => a * b);
        return { buffer, offset: offsets[i], shape: shapes[i], size, name: `p${i}` };
      };
      const tensors = shapes.map((_, i) => ({ value: view(values, i), grad: view(grads, i) }));
      tensors.push({ value: own, grad: ownGrad });
      const refs = tensors.map((t, i) => {
        const p = f32(randn(70 + i, t.value.size));
        writeTensor(gpu, t.value, p);
        return { p, t: 0 } as RefState;
      });
      const opt = new Optimizer(gpu.device, adamw({ lr: 0.05, weightDecay: 0.1 }), [
        ...shapes.map((shape, i) => ({
          name: `p${i}`,
          value: values,
          grad: grads,
          shape,
          valueOffset: offsets[i],
          gradOffset: offsets[i],
        })),
        { name: "own", value: own.buffer, grad: ownGrad.buffer, shape: [9] },
      ]);
      let dispatches = 0;
      for (let k = 0; k < 3; k++) {
        tensors.forEach((t, i) => {
          const g = f32(randn(90 + 10 * k + i, t.value.size, 0.5));
          writeTensor(gpu, t.grad, g);
          adamStep(refs[i], g, { lr: 0.05, ...adamLike, weightDecay: 0.1 }, true);
        });
        const enc = gpu.device.createCommandEncoder();
        // Counts the dispatches the optimizer records.
        const counting = new Proxy(enc, {
          get(target, prop) {
            if (prop !== "beginComputePass") return Reflect.get(target, prop).bind(target);
            return (d?: GPUComputePassDescriptor) => {
              const pass = target.beginComputePass(d);
              return new Proxy(pass, {
                get(p, q) {
                  if (q === "dispatchWorkgroups") dispatches++;
                  return Reflect.get(p, q).bind(p);
                },
              });
            };
          },
        });
        opt.record(counting);
        gpu.device.queue.submit([enc.finish()]);
      }
      assertEquals(dispatches, 3 * 2, "one dispatch for the packed three, one for the other");
      for (const [i, t] of tensors.entries()) {
        const got = Float64Array.from(await readTensor(gpu, t.value));
        assertClose(got, refs[i].p, { atol: 2e-5, rtol: 2e-5 }, `user param ${i}`);
      }
      assertThrows(
        () =>
          new Optimizer(gpu.device, adamw({ lr: 0.05 }), [
            { name: "bad", value: values, grad: grads, shape: [4], valueOffset: 2 },
          ]),
        RangeError,
        "offset 2",
      );
      opt.dispose();
    }),
);
