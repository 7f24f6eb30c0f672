/**
 * Every op's backward pass, in place in a compiled plan, against central
 * finite differences of an independent float64 forward of the same graph.
 */
import { buildGraph, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { netLoss } from "../ref/net.ts";
import { assert } from "../assert.ts";
import { f32, gpuTest, randn, testGpu } from "../util.ts";
import { Rng } from "../../lib/util/rng.ts";
import { assertFiniteDifferences, stepGradients } from "./grad_check.ts";

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
    const seed = 12345;
    plan.step.set({ seed });
    const step = await stepGradients(plan, x, labels);
    const loss = () => netLoss(graph, step.params, x, labels, batch, seed);
    assert(Number.isFinite(loss()), "reference loss is not finite");
    // Up to 6 entries per parameter, chosen at random.
    const rng = new Rng(3);
    const checked = assertFiniteDifferences(
      plan,
      step,
      loss,
      (n) => Array.from({ length: Math.min(6, n) }, () => rng.int(n)),
    );
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
    const step = await stepGradients(plan, x, labels);
    // The reference runs the layers in the written order (relu, then pool).
    const loss = () => netLoss(asWritten, step.params, x, labels, batch, 0);
    assertFiniteDifferences(plan, step, loss, (n) => [0, Math.floor(n / 2), n - 1]);
    plan.arena.dispose();
  },
);
