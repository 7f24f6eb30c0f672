/**
 * Batch norm absorbing the max pooling after it (OpKind.absorbs,
 * lib/kernels/reduce/batchnorm_pool.ts): the fused plan gives the unfused
 * plan's results (forward outputs, loss, every gradient, the batch norms'
 * input gradients, running statistics, evaluation), checkpoints move between
 * the two, and its gradients match finite differences of a float64 forward.
 * The unfused ops are checked against float64 references in
 * tests/kernels/batchnorm_test.ts, pool_test.ts and graph_grad_test.ts.
 */
import { buildGraph, type Graph, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildPlan, type Plan } from "../../lib/plan/plan.ts";
import { type Command, encode } from "../../lib/gpu/commands.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import { sgd } from "../../lib/optim/first_order.ts";
import {
  checkpointTensors,
  readLatestCheckpoint,
  restoreCheckpoint,
  writeCheckpoint,
} from "../../lib/train/checkpoint.ts";
import { netLoss } from "../ref/net.ts";
import { withTempDir } from "../data/tmp.ts";
import { assert, assertEquals } from "../assert.ts";
import { assertClose, f32, gpuTest, maxAbs, randn, testGpu } from "../util.ts";

const conv = (out: number) => ({
  out,
  kernel: [3, 3],
  stride: [1, 1],
  padding: [1, 1],
  dilation: [1, 1],
  groups: 1,
  bias: true,
});
const bn = { eps: 1e-5, momentum: 0.1 };
const pool = (k: number) => ({ kernel: [k, k], stride: [k, k], padding: [0, 0] });

/**
 * Input [6, 10, 2]: conv (3 channels, scalar kernels) → bn → relu → 2×2
 * pool → [3, 5, 3]; conv (8 channels, vec4 kernels) → bn (→ relu) → 3×3
 * pool: 5 columns leave a partial window (floor mode) → [1, 1, 8]; head.
 */
function layers(relu2: boolean): LayerSpec[] {
  return [
    { type: "conv2d", name: "c1", config: conv(3) },
    { type: "batchnorm2d", name: "bn1", config: bn },
    { type: "relu", name: "r1" },
    { type: "maxpool2d", name: "p1", config: pool(2) },
    { type: "conv2d", name: "c2", config: conv(8) },
    { type: "batchnorm2d", name: "bn2", config: bn },
    ...(relu2 ? [{ type: "relu", name: "r2" }] : []),
    { type: "maxpool2d", name: "p2", config: pool(3) },
    { type: "flatten" },
    { type: "linear", name: "fc", config: { out: 3, bias: true } },
  ];
}

const BATCH = 3;
const LABELS = [0, 2, 1];

/**
 * The input: normal values, but sample 0's upper half is constant, so the
 * conv outputs there tie inside pooling windows (the first in scan order
 * must win, and take the gradient).
 */
function input(): Float64Array {
  const x = f32(randn(11, BATCH * 120));
  for (let i = 0; i < 3 * 10 * 2; i++) x[i] = 0.5;
  return x;
}

const dispatchCount = (cmds: Command[]) => cmds.filter((c) => c.kind === "dispatch").length;

/** Every value the comparison reads, by a name for messages. */
async function snapshot(plan: Plan): Promise<Map<string, Float32Array>> {
  const tensors = [
    ...plan.params.map((p) => [p.name, p.value] as const),
    ...plan.params.map((p) => [`${p.name}.grad`, p.grad] as const),
    ...plan.state.map((s) => [s.name, s.tensor] as const),
    // The fused ops' outputs are the next layers' inputs, their input
    // gradients the convs' output gradients: the Kronecker taps show both.
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

/** Initialises `plan`, gives both batch norms the same random γ and β, runs one step. */
async function trainStep(plan: Plan, x: Float64Array): Promise<Map<string, Float32Array>> {
  writeTensor(plan.gpu, plan.input, x);
  writeTensor(plan.gpu, plan.labels, LABELS);
  submit(plan, plan.init);
  plan.params.forEach((p, i) => {
    // γ around 1 with some negative (the max of the normalised values is then
    // not the max of x), β around -0.3 (a ReLU zeroes many whole windows).
    if (p.role === "scale") writeTensor(plan.gpu, p.value, randn(20 + i, p.value.size, 1.2));
    if (p.role === "shift") {
      writeTensor(plan.gpu, p.value, randn(40 + i, p.value.size, 0.5).map((v) => v - 0.3));
    }
  });
  plan.optimizer!.prepareStep(0, 0.05);
  submit(plan, plan.stages.flatMap((s) => s.commands));
  return await snapshot(plan);
}

/**
 * Fused against unfused, every value to 2e-6 of the tensor's largest entry
 * (at least 1) plus 1e-5 relative. The same nonzero terms meet in the same
 * f32 operations, except that the batch-norm gradient sums add them in
 * another order (pooled rows, not every row; at most 45 terms here), a few
 * roundings (2⁻²⁴ ≈ 6e-8 each) of the largest partial sums, which dx, the
 * conv gradients and the updated parameters inherit. Measured: at most
 * 2.1e-7 of the largest entry. A gradient routed to another element of its
 * window, or not cut by the ReLU, is off by O(1).
 */
function compare(a: Map<string, Float32Array>, b: Map<string, Float32Array>, what: string) {
  assertEquals([...a.keys()], [...b.keys()]);
  for (const [name, got] of a) {
    const want = b.get(name)!;
    assert(got.every(Number.isFinite), `${what} ${name}: not finite`);
    const atol = 2e-6 * Math.max(1, maxAbs(want));
    assertClose(got, want, { atol, rtol: 1e-5 }, `${what} ${name}`);
  }
}

for (
  const [relu2, reorder] of [[false, true], [true, true], [true, false]] as const
) {
  Deno.test(
    `batch norm + max pool fused = separate (2nd ReLU ${relu2}, ReLU/pool reorder ${reorder})`,
    gpuTest,
    async () => {
      const gpu = await testGpu();
      const graph = buildGraph([6, 10, 2], layers(relu2), { reorderReluPool: reorder });
      const opts = { batch: BATCH, seed: 3, optimizer: sgd({ lr: 0.05 }) };
      const fused = buildPlan(gpu, graph, opts);
      const separate = buildPlan(gpu, graph, { ...opts, fuse: false });
      // Per block, normalisation and pooling become one kernel each way
      // (forward, evaluation, backward); the separate plan also runs each
      // ReLU on its own and the head's bias gradient as a column sum.
      const count = (p: Plan, stage: string) =>
        dispatchCount(
          [...p.stages, ...p.evalStages].filter((s) => s.name === stage).flatMap((s) => s.commands),
        );
      const relus = relu2 ? 2 : 1;
      assertEquals(count(separate, "forward") - count(fused, "forward"), 2 + relus);
      assertEquals(count(separate, "backward") - count(fused, "backward"), 2 + relus + 1);
      assertEquals(count(separate, "eval_forward") - count(fused, "eval_forward"), 2 + relus);
      const labels = fused.stages.flatMap((s) => s.commands).map((c) => c.label);
      assert(!labels.some((l) => l.startsWith("maxpool")), `no pooling kernel left: ${labels}`);
      assert(!labels.some((l) => l.includes("normalise")), "no normalisation kernel left");

      const x = input();
      const a = await trainStep(fused, x);
      const b = await trainStep(separate, x);
      compare(a, b, "training step:");
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
  "checkpoints of fused and unfused plans hold the same tensors and load into each other",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const graph = buildGraph([6, 10, 2], layers(true));
    const opts = { batch: BATCH, seed: 3, optimizer: sgd({ lr: 0.05 }) };
    const plans = [buildPlan(gpu, graph, opts), buildPlan(gpu, graph, { ...opts, fuse: false })];
    const shapes = (p: Plan) => [...checkpointTensors(p)].map(([n, t]) => `${n} ${t.shape}`);
    assertEquals(shapes(plans[0]), shapes(plans[1]));
    const x = input();
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
      for (const name of ["loss sum", "fc.weight: input", "c2.weight: input"]) {
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

/** Two fused blocks: vec4 channels with a ReLU, partial windows both ways; odd channels without. */
const FD_LAYERS: LayerSpec[] = [
  { type: "conv2d", name: "c1", config: conv(4) },
  { type: "batchnorm2d", name: "bn1", config: bn },
  { type: "relu" },
  { type: "maxpool2d", name: "p1", config: pool(3) },
  { type: "conv2d", name: "c2", config: conv(3) },
  { type: "batchnorm2d", name: "bn2", config: bn },
  { type: "maxpool2d", name: "p2", config: pool(2) },
  { type: "flatten" },
  { type: "linear", name: "fc", config: { out: 3, bias: true } },
];

Deno.test(
  "fused batch norm + max pool gradients match finite differences of a float64 forward",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const graph: Graph = buildGraph([7, 8, 2], FD_LAYERS);
    const plan = buildPlan(gpu, graph, { batch: BATCH, seed: 8 });
    const kernels = plan.stages.flatMap((s) => s.commands).map((c) => c.label);
    // Per block: the fused forward, the gradient sums (one pass here) and dx.
    assertEquals(kernels.filter((l) => l.startsWith("batchnorm_maxpool")).length, 2 * 3);
    const x = f32(randn(5, BATCH * 7 * 8 * 2));
    writeTensor(gpu, plan.input, x);
    writeTensor(gpu, plan.labels, LABELS);
    submit(plan, [...plan.init, ...plan.stages.flatMap((s) => s.commands)]);
    const values = await readTensors(gpu, plan.params.map((p) => p.value));
    const grads = await readTensors(gpu, plan.params.map((p) => p.grad));
    const params = new Map(plan.params.map((p, i) => [p.name, Float64Array.from(values[i])]));
    const loss = () => netLoss(graph, params, x, LABELS, BATCH, 0);
    let checked = 0;
    plan.params.forEach((p, i) => {
      const v = params.get(p.name)!;
      for (const j of new Set([0, Math.floor(v.length / 2), v.length - 1])) {
        const old = v[j];
        v[j] = old + 1e-4;
        const up = loss();
        v[j] = old - 1e-4;
        const down = loss();
        v[j] = old;
        const numeric = (up - down) / 2e-4;
        // As in graph_grad_test.ts: f32 rounding through ~15 ops against an
        // f64 central difference (truncation ~1e-8; pooling and ReLU kinks
        // avoided by random data with probability ≈ 1).
        assert(
          Math.abs(grads[i][j] - numeric) <= 2e-5 + 2e-3 * Math.abs(numeric),
          `${p.name}[${j}]: GPU ${grads[i][j]} vs finite difference ${numeric}`,
        );
        checked++;
      }
    });
    assert(checked >= 20, `checked only ${checked} entries`);
    plan.arena.dispose();
  },
);
