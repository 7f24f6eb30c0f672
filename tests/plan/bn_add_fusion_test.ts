/**
 * Batch norm absorbing the residual add after it (OpKind.absorbs with a
 * two-input consumer, lib/plan/fusion.ts): the fused plan gives the unfused
 * plan's results (forward outputs, loss, every gradient, the batch norms'
 * input gradients, running statistics, evaluation) for an identity skip from
 * the graph input, a projection skip whose batch norm comes after the
 * branch's (it absorbs the add, the branch's output is its skip), and an
 * identity skip that the branch reads too (its gradient is a sum of parts),
 * with and without a ReLU after each add; checkpoints move between the two.
 * The kernels are checked against float64 references in
 * tests/kernels/batchnorm_add_test.ts, the unfused ops in graph_grad_test.ts.
 */
import { buildGraph, GRAPH_INPUT, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildPlan, type Plan } from "../../lib/plan/plan.ts";
import { planFusion } from "../../lib/plan/fusion.ts";
import { type Command, encode } from "../../lib/gpu/commands.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import { sgd } from "../../lib/optim/first_order.ts";
import {
  checkpointTensors,
  readLatestCheckpoint,
  restoreCheckpoint,
  writeCheckpoint,
} from "../../lib/train/checkpoint.ts";
import { withTempDir } from "../data/tmp.ts";
import { assert, assertEquals } from "../assert.ts";
import { assertClose, f32, gpuTest, maxAbs, randn, testGpu } from "../util.ts";

const conv = (out: number, k = 3) => ({
  out,
  kernel: [k, k],
  stride: [1, 1],
  padding: [(k - 1) / 2, (k - 1) / 2],
  dilation: [1, 1],
  groups: 1,
  bias: false,
});
const bn = { eps: 1e-5, momentum: 0.1 };
const INPUT = [5, 7, 3];
const BATCH = 3;
const LABELS = [0, 2, 1];

/** Three residual blocks on 5×7 images (3 channels, then `C`), a ReLU after each add or none. */
function layers(relu: boolean, C: number): LayerSpec[] {
  const after: LayerSpec[] = relu ? [{ type: "relu" }] : [];
  return [
    // Identity skip from the graph input: no gradient is written for it.
    {
      type: "residual",
      name: "b0",
      layers: [{ type: "conv2d", name: "c", config: conv(3) }, {
        type: "batchnorm2d",
        name: "bn",
        config: bn,
      }],
    },
    ...after,
    // Projection: the shortcut's batch norm (after bn2 in node order) absorbs the add.
    {
      type: "residual",
      name: "b1",
      layers: [
        { type: "conv2d", name: "c1", config: conv(C) },
        { type: "batchnorm2d", name: "bn1", config: bn },
        { type: "relu" },
        { type: "conv2d", name: "c2", config: conv(C) },
        { type: "batchnorm2d", name: "bn2", config: bn },
      ],
      shortcut: [
        { type: "conv2d", name: "proj", config: conv(C, 1) },
        { type: "batchnorm2d", name: "bn", config: bn },
      ],
    },
    ...after,
    // Identity skip that the branch's conv reads too.
    {
      type: "residual",
      name: "b2",
      layers: [{ type: "conv2d", name: "c", config: conv(C) }, {
        type: "batchnorm2d",
        name: "bn",
        config: bn,
      }],
    },
    ...after,
    { type: "flatten" },
    { type: "linear", name: "fc", config: { out: 3, bias: true } },
  ];
}

/** The graph of `spec` and the fusion planFusion decides for it. */
function fusionOf(spec: LayerSpec[]) {
  const graph = buildGraph(INPUT, spec);
  const consumers = graph.nodes.map(() => [] as { node: number; slot: number }[]);
  for (const n of graph.nodes) {
    n.inputs.forEach((s, slot) => s !== GRAPH_INPUT && consumers[s].push({ node: n.id, slot }));
  }
  return { graph, fusion: planFusion(graph.nodes, consumers, true) };
}

/** The absorptions planFusion decides for `layers`, as "absorber → consumer". */
function absorptions(spec: LayerSpec[]): string[] {
  const { graph, fusion } = fusionOf(spec);
  return [...fusion.absorbed].map(([id, q]) => `${graph.nodes[id].name} → ${q.name}`);
}

/** Every fused node of `spec` and the op whose kernels run it, as "node → host". */
function hosts(spec: LayerSpec[]): string[] {
  const { graph, fusion } = fusionOf(spec);
  return graph.nodes.flatMap((n) => {
    const host = fusion.hosts[n.id];
    return host === undefined ? [] : [`${n.name} → ${graph.nodes[host].name}`];
  });
}

Deno.test("an add is absorbed by the later batch norm feeding it, and only when it reads it directly", () => {
  assertEquals(absorptions(layers(true, 5)), [
    "b0.bn → b0.add",
    "b1.shortcut.bn → b1.add",
    "b2.bn → b2.add",
  ]);
  // A ReLU between the batch norm and the add (fused into the batch norm):
  // not offered; nor is an add whose other input comes later (the branch's
  // batch norm when the shortcut is a bare conv).
  const blocks = (branch: LayerSpec[], shortcut?: LayerSpec[]): LayerSpec[] => [
    { type: "residual", name: "r", layers: branch, shortcut },
    { type: "flatten" },
    { type: "linear", name: "fc", config: { out: 3, bias: true } },
  ];
  const convBn: LayerSpec[] = [
    { type: "conv2d", name: "c", config: conv(3) },
    { type: "batchnorm2d", name: "bn", config: bn },
  ];
  assertEquals(absorptions(blocks([...convBn, { type: "relu" }])), []);
  assertEquals(
    absorptions(blocks(convBn, [{ type: "conv2d", name: "p", config: conv(3, 1) }])),
    [],
  );
  assertEquals(absorptions(blocks(convBn)), ["r.bn → r.add"]);
});

Deno.test("fusion hosts: a ReLU fused into an absorbed add runs in the batch norm that absorbs the add", () => {
  assertEquals(hosts(layers(true, 5)), [
    "b0.add → b0.bn",
    "relu1 → b0.bn", // fused into b0.add, which b0.bn runs
    "b1.relu2 → b1.bn1", // a ReLU fused into its producer
    "b1.add → b1.shortcut.bn",
    "relu3 → b1.shortcut.bn",
    "b2.add → b2.bn",
    "relu5 → b2.bn",
  ]);
  assertEquals(hosts(layers(false, 5)).filter((h) => h.startsWith("relu")), []);
});

const dispatches = (cmds: Command[]) => cmds.filter((c) => c.kind === "dispatch").length;
const stage = (p: Plan, name: string) =>
  [...p.stages, ...p.evalStages].filter((s) => s.name === name).flatMap((s) => s.commands);

/** Every value the comparison reads, by a name for messages. */
async function snapshot(plan: Plan): Promise<Map<string, Float32Array>> {
  const tensors = [
    ...plan.params.map((p) => [p.name, p.value] as const),
    ...plan.params.map((p) => [`${p.name}.grad`, p.grad] as const),
    ...plan.state.map((s) => [s.name, s.tensor] as const),
    // The adds' outputs are the next convs' (and fc's) inputs, the batch
    // norms' input gradients the convs' output gradients: the taps show both.
    ...plan.taps.map((t) => [`${t.weight.name}: input`, t.x] as const),
    ...plan.taps.map((t) => [`${t.weight.name}: output gradient`, t.d] as const),
    ["loss sum", plan.metrics.lossSum] as const,
    ["correct", plan.metrics.correct] as const,
  ];
  const values = await readTensors(plan.gpu, tensors.map(([, t]) => t));
  return new Map(tensors.map(([name], i) => [name, values[i]]));
}

function submit(plan: Plan, commands: Command[]): void {
  const enc = plan.gpu.device.createCommandEncoder();
  encode(enc, commands);
  plan.gpu.device.queue.submit([enc.finish()]);
}

/** Initialises `plan`, gives the batch norms random γ and β, runs one step. */
async function trainStep(plan: Plan, x: Float64Array): Promise<Map<string, Float32Array>> {
  writeTensor(plan.gpu, plan.input, x);
  writeTensor(plan.gpu, plan.labels, LABELS);
  submit(plan, plan.init);
  plan.params.forEach((p, i) => {
    // β around -0.2 with spread: the ReLUs after the adds cut a good share.
    if (p.role === "scale") writeTensor(plan.gpu, p.value, randn(20 + i, p.value.size, 1.2));
    if (p.role === "shift") {
      writeTensor(plan.gpu, p.value, randn(40 + i, p.value.size, 0.5).map((v) => v - 0.2));
    }
  });
  plan.optimizer!.prepareStep(0, 0.05);
  submit(plan, plan.stages.flatMap((s) => s.commands));
  return await snapshot(plan);
}

/**
 * Fused against unfused, every value to 1e-6 of the tensor's largest entry
 * (at least 1) plus 1e-5 relative: both run the same f32 operations in the
 * same order (the normalised value is rounded before the add, the gradient
 * sums read the same masked dy), so they differ at most where a compiler
 * contracts a multiply-add differently, a rounding (6e-8) that later ops
 * inherit. A skip gradient left unwritten, or a mask ignored, is off by O(1).
 */
function compare(a: Map<string, Float32Array>, b: Map<string, Float32Array>, what: string) {
  assertEquals([...a.keys()], [...b.keys()]);
  for (const [name, got] of a) {
    const want = b.get(name)!;
    assert(got.every(Number.isFinite), `${what} ${name}: not finite`);
    assertClose(
      got,
      want,
      { atol: 1e-6 * Math.max(1, maxAbs(want)), rtol: 1e-5 },
      `${what} ${name}`,
    );
  }
}

for (const [relu, C] of [[true, 5], [false, 5], [true, 4]] as const) {
  Deno.test(
    `batch norm + residual add fused = separate (ReLU after the add ${relu}, ${C} channels)`,
    gpuTest,
    async () => {
      const gpu = await testGpu();
      const graph = buildGraph(INPUT, layers(relu, C));
      // Which batch norm absorbs each add: the later one of the two feeding it.
      assertEquals(absorptions(layers(relu, C)), [
        "b0.bn → b0.add",
        "b1.shortcut.bn → b1.add",
        "b2.bn → b2.add",
      ]);

      const opts = { batch: BATCH, seed: 3, optimizer: sgd({ lr: 0.05 }) };
      const fused = buildPlan(gpu, graph, opts);
      const separate = buildPlan(gpu, graph, { ...opts, fuse: false });
      assert(!stage(fused, "forward").some((c) => c.label.startsWith("add")), "no add kernel");
      // Each ReLU fused saves its dispatch each way (R of them: b1's inner
      // one, and one per add); each add absorbed saves its forward kernel
      // and the separate add's gradient copies (1 for b0, whose skip is the
      // input, 2 each for b1 and b2); the loss kernel writes fc.bias's
      // gradient.
      const R = 1 + (relu ? 3 : 0);
      const saved = (name: string, all = false) => {
        const count = (p: Plan) => all ? stage(p, name).length : dispatches(stage(p, name));
        return count(separate) - count(fused);
      };
      assertEquals(saved("forward"), R + 3, "forward dispatches saved");
      assertEquals(saved("eval_forward"), R + 3, "evaluation dispatches saved");
      assertEquals(saved("backward"), R + 1, "backward dispatches saved");
      assertEquals(saved("backward", true), R + 5 + 1, "backward commands saved");

      const x = f32(randn(11, BATCH * INPUT[0] * INPUT[1] * INPUT[2]));
      compare(await trainStep(fused, x), await trainStep(separate, x), "training step:");
      // Evaluation with the updated parameters and running statistics.
      submit(fused, fused.evalStages.flatMap((s) => s.commands));
      submit(separate, separate.evalStages.flatMap((s) => s.commands));
      compare(await snapshot(fused), await snapshot(separate), "evaluation:");
      fused.arena.dispose();
      separate.arena.dispose();
    },
  );
}

Deno.test(
  "checkpoints of plans with and without the add absorbed hold the same tensors and interchange",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const graph = buildGraph(INPUT, layers(true, 5));
    const opts = { batch: BATCH, seed: 3, optimizer: sgd({ lr: 0.05 }) };
    const plans = [buildPlan(gpu, graph, opts), buildPlan(gpu, graph, { ...opts, fuse: false })];
    const shapes = (p: Plan) => [...checkpointTensors(p)].map(([n, t]) => `${n} ${t.shape}`);
    assertEquals(shapes(plans[0]), shapes(plans[1]));
    const x = f32(randn(12, BATCH * INPUT[0] * INPUT[1] * INPUT[2]));
    for (const [from, to] of [[0, 1], [1, 0]]) {
      await trainStep(plans[from], x);
      await withTempDir(async (dir) => {
        await writeCheckpoint(dir, plans[from], { step: 1, epoch: 0 });
        submit(plans[to], plans[to].init);
        restoreCheckpoint(plans[to], await readLatestCheckpoint(dir));
      });
      // Evaluation of the same batch from the same parameters and running statistics.
      for (const p of plans) {
        writeTensor(gpu, p.input, x);
        writeTensor(gpu, p.labels, LABELS);
        writeTensor(gpu, p.metrics.lossSum, [0]);
        submit(p, p.evalStages.flatMap((s) => s.commands));
      }
      const [a, b] = await Promise.all(plans.map(snapshot));
      for (const name of ["loss sum", "fc.weight: input", "b2.c.weight: input"]) {
        assertClose(
          a.get(name)!,
          b.get(name)!,
          { atol: 1e-6, rtol: 1e-5 },
          `${from}→${to} ${name}`,
        );
      }
    }
    for (const p of plans) p.arena.dispose();
  },
);
