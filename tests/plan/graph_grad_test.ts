/**
 * Every op's backward pass, in place in a compiled plan, against central
 * finite differences of an independent float64 forward of the same graph.
 */
import { buildGraph, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { encode } from "../../lib/gpu/commands.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import { netLoss } from "../ref/net.ts";
import { assert } from "../assert.ts";
import { f32, gpuTest, randn, testGpu } from "../util.ts";
import { Rng } from "../../lib/util/rng.ts";

const conv = (out: number, k: number, extra: Record<string, unknown> = {}) => ({
  out,
  kernel: [k, k],
  stride: [1, 1],
  padding: [0, 0],
  dilation: [1, 1],
  groups: 1,
  bias: true,
  ...extra,
});

/** Every layer kind at least once, residual fan-out included. */
const LAYERS: LayerSpec[] = [
  { type: "conv2d", name: "c1", config: conv(4, 3, { padding: [1, 1] }) },
  { type: "batchnorm2d", name: "bn", config: { eps: 1e-5, momentum: 0.1 } },
  { type: "relu" },
  {
    type: "residual",
    name: "res",
    layers: [
      { type: "conv2d", name: "c2", config: conv(4, 3, { padding: [1, 1], bias: false }) },
      { type: "tanh" },
    ],
  },
  { type: "maxpool2d", config: { kernel: [2, 2], stride: [2, 2], padding: [0, 0] } },
  { type: "conv2d", name: "c3", config: conv(6, 2, { dilation: [2, 2], groups: 2 }) },
  { type: "sigmoid" },
  { type: "avgpool2d", config: { kernel: [2, 2], stride: [1, 1], padding: [1, 1] } },
  { type: "global_avg_pool" },
  { type: "dropout", name: "drop", config: { p: 0.25 } },
  { type: "linear", name: "fc1", config: { out: 5, bias: true } },
  { type: "gelu" },
  { type: "linear", name: "fc2", config: { out: 3, bias: true } },
];

Deno.test(
  "plan backward of every op kind matches finite differences of a float64 forward",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const batch = 3;
    const graph = buildGraph([8, 8, 2], LAYERS);
    const plan = buildPlan(gpu, graph, { batch, seed: 5 });
    const x = f32(randn(1, batch * 128));
    const labels = [0, 2, 1];
    writeTensor(gpu, plan.input, x);
    writeTensor(gpu, plan.labels, labels);
    const seed = 12345;
    plan.step.set({ seed });
    const enc = gpu.device.createCommandEncoder();
    encode(enc, [...plan.init, ...plan.stages.flatMap((s) => s.commands)]);
    gpu.device.queue.submit([enc.finish()]);
    const values = await readTensors(gpu, plan.params.map((p) => p.value));
    const grads = await readTensors(gpu, plan.params.map((p) => p.grad));
    const params = new Map(plan.params.map((p, i) => [p.name, Float64Array.from(values[i])]));
    const loss = (pm: Map<string, Float64Array>) => netLoss(graph, pm, x, labels, batch, seed);
    assert(Number.isFinite(loss(params)), "reference loss is not finite");

    const rng = new Rng(3);
    let checked = 0;
    plan.params.forEach((p, i) => {
      const v = params.get(p.name)!;
      // Up to 6 entries per parameter, chosen at random.
      for (let t = 0; t < Math.min(6, v.length); t++) {
        const j = rng.int(v.length);
        const h = 1e-4;
        const old = v[j];
        v[j] = old + h;
        const up = loss(params);
        v[j] = old - h;
        const down = loss(params);
        v[j] = old;
        const numeric = (up - down) / (2 * h);
        const got = grads[i][j];
        // GPU gradients carry f32 rounding (~1e-6 relative per op through ~15
        // ops) on values of order 1e-3..1; the f64 central difference with
        // h = 1e-4 has truncation error ~h²·f''' ≈ 1e-8 (max pooling and ReLU
        // kinks are avoided by the random data with probability ≈ 1).
        assert(
          Math.abs(got - numeric) <= 2e-5 + 2e-3 * Math.abs(numeric),
          `${p.name}[${j}]: GPU ${got} vs finite difference ${numeric}`,
        );
        checked++;
      }
    });
    assert(checked >= 40, `checked only ${checked} entries`);
    plan.arena.dispose();
  },
);

Deno.test(
  "ReLU before max pooling is run after it, with identical loss and gradients",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const batch = 4;
    const layers: LayerSpec[] = [
      { type: "conv2d", name: "c", config: conv(3, 3, { padding: [1, 1] }) },
      { type: "relu", name: "act" },
      {
        type: "maxpool2d",
        name: "pool",
        config: { kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
      },
      { type: "flatten" },
      { type: "linear", name: "fc", config: { out: 3, bias: true } },
    ];
    const graph = buildGraph([6, 6, 1], layers);
    assert(
      graph.nodes[1].name === "pool" && graph.nodes[2].name === "act",
      "pool runs first, names kept",
    );
    const asWritten = buildGraph([6, 6, 1], layers, { reorderReluPool: false });
    const plan = buildPlan(gpu, graph, { batch, seed: 2 });
    const x = f32(randn(9, batch * 36));
    const labels = [0, 1, 2, 1];
    writeTensor(gpu, plan.input, x);
    writeTensor(gpu, plan.labels, labels);
    const enc = gpu.device.createCommandEncoder();
    encode(enc, [...plan.init, ...plan.stages.flatMap((s) => s.commands)]);
    gpu.device.queue.submit([enc.finish()]);
    const values = await readTensors(gpu, plan.params.map((p) => p.value));
    const grads = await readTensors(gpu, plan.params.map((p) => p.grad));
    const params = new Map(plan.params.map((p, i) => [p.name, Float64Array.from(values[i])]));
    // The reference runs the layers in the written order (relu, then pool).
    const loss = () => netLoss(asWritten, params, x, labels, batch, 0);
    plan.params.forEach((p, i) => {
      const v = params.get(p.name)!;
      for (const j of [0, Math.floor(v.length / 2), v.length - 1]) {
        const old = v[j];
        v[j] = old + 1e-4;
        const up = loss();
        v[j] = old - 1e-4;
        const down = loss();
        v[j] = old;
        const numeric = (up - down) / 2e-4;
        // As in the test above.
        assert(
          Math.abs(grads[i][j] - numeric) <= 2e-5 + 2e-3 * Math.abs(numeric),
          `${p.name}[${j}]: ${grads[i][j]} vs ${numeric}`,
        );
      }
    });
    plan.arena.dispose();
  },
);
