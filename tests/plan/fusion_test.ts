/**
 * Plan-level fusion: a ReLU run inside the op before it (batch norm, max
 * pooling, residual add) and the head's bias gradient written by the loss
 * kernel give the results of the separate ops; a ReLU fuses only where
 * nothing else reads the op's output.
 */
import { buildGraph, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildPlan, type Plan } from "../../lib/plan/plan.ts";
import { encode } from "../../lib/gpu/commands.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import { stagesAt } from "../../lib/gpu/stage.ts";
import { adamw, sgd } from "../../lib/optim/first_order.ts";
import { clipGradNormRef } from "../ref/optim.ts";
import { assert, assertEquals } from "../assert.ts";
import { assertClose, f32, gpuTest, randn, testGpu } from "../util.ts";

const conv = (out: number, extra: Record<string, unknown> = {}) => ({
  out,
  kernel: [3, 3],
  stride: [1, 1],
  padding: [1, 1],
  dilation: [1, 1],
  groups: 1,
  bias: false,
  ...extra,
});
const bn = { eps: 1e-5, momentum: 0.1 };
const pool = { kernel: [2, 2], stride: [2, 2], padding: [0, 0] };

/**
 * bn → relu (fused), relu → maxpool (reordered, then fused into the pool),
 * a residual add → relu (fused), a relu whose producer also feeds a
 * shortcut (not fused), and a relu straight after the input (not fused).
 */
const LAYERS: LayerSpec[] = [
  { type: "relu", name: "first" },
  { type: "conv2d", name: "c1", config: conv(4) },
  { type: "batchnorm2d", name: "bn1", config: bn },
  { type: "relu", name: "r1" },
  {
    type: "residual",
    name: "res",
    layers: [
      { type: "conv2d", name: "c2", config: conv(4) },
      { type: "batchnorm2d", name: "bn2", config: bn },
    ],
  },
  { type: "relu", name: "r2" },
  {
    type: "residual",
    name: "res2",
    layers: [{ type: "relu", name: "inner" }, { type: "conv2d", name: "c3", config: conv(4) }],
  },
  { type: "relu", name: "r3" },
  { type: "maxpool2d", name: "pool", config: pool },
  { type: "flatten" },
  { type: "linear", name: "fc", config: { out: 3, bias: true } },
];

function count(plan: Plan, dispatchesOnly: boolean): number {
  return plan.stages.flatMap((s) => s.commands).filter((c) =>
    !dispatchesOnly || c.kind === "dispatch"
  ).length;
}

async function runSteps(plan: Plan, x: Float64Array, labels: number[], steps: number) {
  const gpu = plan.gpu;
  writeTensor(gpu, plan.input, x);
  writeTensor(gpu, plan.labels, labels);
  const enc = gpu.device.createCommandEncoder();
  encode(enc, plan.init);
  gpu.device.queue.submit([enc.finish()]);
  for (let k = 0; k < steps; k++) {
    plan.optimizer!.prepareStep(k, 1e-2);
    const e = gpu.device.createCommandEncoder();
    encode(e, stagesAt(plan.stages, k).flatMap((s) => s.commands));
    gpu.device.queue.submit([e.finish()]);
  }
  const tensors = [
    ...plan.params.map((p) => p.value),
    ...plan.params.map((p) => p.grad),
    ...plan.state.map((s) => s.tensor),
    plan.metrics.lossSum,
    plan.metrics.correct,
  ];
  return await readTensors(gpu, tensors);
}

Deno.test(
  "fused ReLUs (batch norm, max pool, residual add) and bias gradient match the separate ops",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const batch = 5;
    const graph = buildGraph([6, 6, 2], LAYERS);
    const opts = { batch, seed: 4, optimizer: adamw({ lr: 1e-2 }) };
    const fused = buildPlan(gpu, graph, opts);
    const separate = buildPlan(gpu, graph, { ...opts, fuse: false });
    // r1, r2 (into the add) and r3 (into the pool, after the reorder) fuse;
    // "first" (graph input) and "inner" (its producer feeds the shortcut too)
    // do not. Each saves the ReLU's two dispatches, less the add's masked
    // gradient kernel, which replaces its two gradient copies; the loss
    // kernel writes fc.bias's gradient (one column sum of 5 rows fewer).
    // bn2 also absorbs the add (tests/plan/bn_add_fusion_test.ts): its
    // forward and masked gradient kernels go.
    const dispatches = 2 + 2 + 1 + 1 + 2;
    assertEquals(count(separate, true) - count(fused, true), dispatches, "dispatches saved");
    assertEquals(count(separate, false) - count(fused, false), 2 + 2 + 3 + 1 + 2, "commands saved");
    const labels = [0, 2, 1, 1, 0];
    const x = f32(randn(3, batch * 72));
    const a = await runSteps(fused, x, labels, 3);
    const b = await runSteps(separate, x, labels, 3);
    // Same f32 operations in the same order: the results agree to rounding
    // (allowing one rounding per op of difference if a compiler contracts a
    // multiply-add differently in the fused kernel).
    const scale = (v: Float32Array) => v.reduce((m, e) => Math.max(m, Math.abs(e)), 0);
    a.forEach((got, i) => {
      assert(got.every(Number.isFinite), `tensor ${i} is not finite`);
      assertClose(got, b[i], { atol: 1e-6 * (1 + scale(b[i])), rtol: 1e-5 }, `tensor ${i}`);
    });
    fused.arena.dispose();
    separate.arena.dispose();
  },
);

Deno.test(
  "gradient clipping works on the packed gradients as a whole, like clip_grad_norm_",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const batch = 5;
    const graph = buildGraph([6, 6, 2], LAYERS);
    const labels = [0, 2, 1, 1, 0];
    const x = f32(randn(3, batch * 72));
    // lr 0: the parameters stay put and the gradients are left as the step made them.
    const opts = { batch, seed: 4, optimizer: sgd({ lr: 0 }) };
    const plain = buildPlan(gpu, graph, opts);
    const grads = async (plan: Plan) => {
      await runSteps(plan, x, labels, 1);
      return (await readTensors(gpu, plan.params.map((p) => p.grad))).map((g) => f32(g));
    };
    const unclipped = await grads(plain);
    const norm = Math.sqrt(unclipped.reduce((s, g) => s + g.reduce((a, v) => a + v * v, 0), 0));
    const clipped = buildPlan(gpu, graph, { ...opts, clipGradNorm: 0.25 * norm });
    const clip = clipped.stages.find((s) => s.name === "clip")!;
    // One gradient buffer: its norm (one or two passes) and one scale, for 7 tensors.
    assert(clip.commands.length <= 4, `${clip.commands.length} clip commands`);
    const got = await grads(clipped);
    const want = clipGradNormRef(unclipped, 0.25 * norm);
    // As in clip_test.ts: an f32 sum of squares, a root and a scale (rtol 1e-5).
    got.forEach((g, i) => assertClose(g, want[i], { atol: 0, rtol: 1e-5 }, plain.params[i].name));
    plain.arena.dispose();
    clipped.arena.dispose();
  },
);
