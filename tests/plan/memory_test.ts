/**
 * Memory a plan cannot have is refused before anything is allocated, naming
 * the layer (or tensor) and the bytes against the device's limits, not with
 * "Array buffer allocation failed"; a buffer WebGPU fails to allocate (out of
 * memory, reported asynchronously) is reported with its name and size; a
 * plan's arena owns all of its buffers, uniforms included, and a plan that
 * fails half-way gives them back.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { buildGraph } from "../../lib/graph/graph.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { checkPlanSizes, initialParamValues } from "../../lib/plan/memory.ts";
import { acquireGpu, AllocationError, BufferArena, formatBytes } from "../../lib/gpu/mod.ts";
import { sgd } from "../../lib/optim/first_order.ts";
import type { OptimizerFactory } from "../../lib/optim/types.ts";
import { ShapeError } from "../../lib/ops/types.ts";
import { gpuTest, testGpu, withArenaSpy } from "../util.ts";

const linear = (name: string, out: number) => ({
  type: "linear",
  name,
  config: { out, bias: true },
});

Deno.test(
  "a linear layer with 2^31 outputs is refused by name, with its bytes",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const graph = buildGraph([4], [linear("big", 2 ** 31), { type: "relu" }, linear("head", 3)]);
    const e = assertThrows(
      () => buildPlan(gpu, graph, { batch: 16, seed: 0, optimizer: sgd({ lr: 0.1 }) }),
      AllocationError,
    );
    assertEquals(e.tensor, "big.out");
    assertEquals(e.bytes, 16 * 2 ** 31 * 4);
    const limits = gpu.limits;
    assert(
      e.message.startsWith(
        'layer "big" (linear): its output for a batch [16, 2147483648] needs 128.00 GiB (137,438,953,472 bytes)',
      ),
      e.message,
    );
    assert(
      e.message.includes(
        `${
          formatBytes(limits.maxStorageBufferBindingSize)
        } per storage binding (maxStorageBufferBindingSize)`,
      ),
      e.message,
    );
    assert(
      e.message.includes(`${formatBytes(limits.maxBufferSize)} per buffer (maxBufferSize)`),
      e.message,
    );
  },
);

Deno.test("parameters and the input batch are checked as well (limits of a small device)", () => {
  const limits = {
    maxBufferSize: 2 ** 20,
    maxStorageBufferBindingSize: 2 ** 19,
  } as GPUSupportedLimits;
  // Weight [1024, 256]: 1 MiB, twice the binding limit; the activations are small.
  const e = assertThrows(
    () => checkPlanSizes(buildGraph([256], [linear("fc", 1024)]), 4, limits),
    AllocationError,
  );
  assertEquals([e.tensor, e.bytes], ["fc.weight", 2 ** 20]);
  assert(
    e.message.startsWith('layer "fc" (linear): its weight [1024, 256] needs 1.00 MiB'),
    e.message,
  );
  const input = assertThrows(
    () => checkPlanSizes(buildGraph([2 ** 16], [linear("fc", 2)]), 4, limits),
    AllocationError,
  );
  assert(
    input.message.startsWith("the model input: a batch [4, 65536] needs 1.00 MiB"),
    input.message,
  );
  assert(input.message.endsWith("lower data.batch_size"), input.message);
  checkPlanSizes(buildGraph([256], [linear("fc", 256)]), 4, limits); // 256 KiB: fits
});

Deno.test(
  "any arena tensor past the limits is refused by name before allocation",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const arena = new BufferArena(gpu.device);
    const n = gpu.limits.maxStorageBufferBindingSize / 4 + 4;
    const e = assertThrows(() => arena.tensor("huge.kron.L", [n]), AllocationError);
    assert(e.message.startsWith(`tensor "huge.kron.L" [${n}] needs`), e.message);
    assertEquals(arena.bytes, 0);
    arena.dispose();
  },
);

Deno.test("host memory for initial values that cannot be had names the parameter", () => {
  const graph = buildGraph([4], [linear("fc", 3)]);
  const node = graph.nodes[0];
  const e = assertThrows(
    () => initialParamValues(node, node.params[0], 2 ** 40, 0),
    AllocationError,
  );
  assert(
    e.message.startsWith(
      'layer "fc" (linear): cannot allocate 4.00 TiB (4,398,046,511,104 bytes) of host memory for the initial values of "fc.weight"',
    ),
    e.message,
  );
});

Deno.test("a buffer the device runs out of memory for is reported with its name and size", async () => {
  // A stand-in device whose error scope reports out-of-memory for one buffer.
  let scoped = "";
  const device = {
    limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 },
    pushErrorScope: () => {},
    popErrorScope: () =>
      Promise.resolve(scoped === "b.weight" ? { message: "Not enough memory left" } : null),
    createBuffer: (d: GPUBufferDescriptor) => {
      scoped = d.label ?? "";
      return { size: d.size, destroy: () => {} };
    },
  } as unknown as GPUDevice;
  const failures: AllocationError[] = [];
  const arena = new BufferArena(device, (e) => failures.push(e));
  arena.tensor("a.weight", [256]);
  arena.tensor("b.weight", [1024, 64]);
  await arena.settled(); // every allocation judged
  assertEquals(failures.length, 1);
  assertEquals([failures[0].tensor, failures[0].bytes], ["b.weight", 262144]);
  assertEquals(
    failures[0].message,
    'out of GPU memory allocating "b.weight" (256.00 KiB (262,144 bytes), after 1.00 KiB ' +
      "(1,024 bytes) for the buffers before it): Not enough memory left",
  );
});

Deno.test("a reported failure makes the device's next check throw it", async () => {
  const gpu = await acquireGpu(); // its own: the failure is sticky by design
  try {
    const failure = new AllocationError("x", 16, "out of GPU memory allocating x");
    gpu.reportFailure(failure);
    gpu.reportFailure(new AllocationError("y", 16, "later")); // the first one wins
    assertEquals(assertThrows(() => gpu.checkAlive(), AllocationError), failure);
  } finally {
    gpu.dispose();
  }
});

Deno.test(
  "disposing a plan's arena destroys every buffer it built, its uniforms included",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const graph = buildGraph([4], [linear("fc", 3)]);
    const plan = buildPlan(gpu, graph, { batch: 4, seed: 0, optimizer: sgd({ lr: 0.1 }) });
    // A plan discarded by tuning's rebuild must leave nothing behind: the
    // step seed and the optimizer's lr block are written through uniforms.
    const writeErrors = async () => {
      gpu.device.pushErrorScope("validation");
      plan.step.set({ seed: 1 });
      gpu.device.pushErrorScope("validation");
      plan.optimizer!.prepareStep(1, 0.1);
      const optimizer = await gpu.device.popErrorScope();
      const step = await gpu.device.popErrorScope();
      return [step !== null, optimizer !== null];
    };
    assertEquals(await writeErrors(), [false, false]);
    plan.arena.dispose();
    // Writing a destroyed buffer is a validation error.
    assertEquals(await writeErrors(), [true, true]);
  },
);

Deno.test("a plan that fails half-way gives back every buffer it allocated", gpuTest, async () => {
  const gpu = await testGpu();
  const graph = buildGraph([6], [linear("fc", 5), { type: "relu" }, linear("head", 3)]);
  // Fails after the activations, gradients and parameters exist.
  const broken: OptimizerFactory = {
    name: "broken",
    lr: 0.1,
    build() {
      throw new RangeError("broken optimizer");
    },
  };
  const arenas = await withArenaSpy((arenas) => {
    assertThrows(
      () => buildPlan(gpu, graph, { batch: 4, seed: 0, optimizer: broken }),
      RangeError,
      "broken optimizer",
    );
    return arenas;
  });
  assertEquals(arenas.size, 1);
  assertEquals([...arenas][0].bytes, 0, "bytes still held");
});

Deno.test(
  "a batch norm with one value per channel names its layer and the fix",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const graph = buildGraph([6], [
      linear("fc", 5),
      { type: "batchnorm2d", name: "bn", config: { eps: 1e-5, momentum: 0.1 } },
      linear("head", 3),
    ]);
    const e = assertThrows(
      () => buildPlan(gpu, graph, { batch: 1, seed: 0, optimizer: sgd({ lr: 0.1 }) }),
      ShapeError,
    );
    assertEquals(
      e.message,
      'layer "bn" (batchnorm2d): training needs at least 2 values per channel, and a batch of 1 gives 1: raise data.batch_size',
    );
    buildPlan(gpu, graph, { batch: 2, seed: 0, optimizer: sgd({ lr: 0.1 }) }).arena.dispose();
  },
);
