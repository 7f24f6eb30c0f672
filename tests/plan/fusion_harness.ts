/**
 * Fused against unfused plans of one model (fusion_topologies_test.ts,
 * bn_pool_fusion_test.ts, bn_add_fusion_test.ts): the fusions planned, the
 * FLOPs, and every value of training steps and an evaluation (parameters,
 * gradients, optimizer state and running statistics, the Kronecker taps'
 * inputs and output gradients, loss and accuracy sums); checkpoints moved
 * between the two.
 * @module
 */
import {
  buildGraph,
  type Graph,
  GRAPH_INPUT,
  type GraphOptions,
  type LayerSpec,
} from "../../lib/graph/graph.ts";
import { buildPlan, type Plan } from "../../lib/plan/plan.ts";
import { planFusion } from "../../lib/plan/fusion.ts";
import { type Command, encode } from "../../lib/gpu/commands.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import { sgd } from "../../lib/optim/first_order.ts";
import type { OptimizerFactory } from "../../lib/optim/types.ts";
import {
  checkpointTensors,
  readLatestCheckpoint,
  restoreCheckpoint,
  writeCheckpoint,
} from "../../lib/train/checkpoint.ts";
import { withTempDir } from "../data/tmp.ts";
import { assert, assertEquals } from "../assert.ts";
import { assertClose, f32, maxAbs, randn, testGpu, type Tolerance } from "../util.ts";

/** A k×k conv2d layer config with "same" padding for odd k (no bias unless asked). */
export function conv(out: number, k = 3, stride = 1, bias = false) {
  const pad = (k - 1) >> 1;
  return {
    out,
    kernel: [k, k],
    stride: [stride, stride],
    padding: [pad, pad],
    dilation: [1, 1],
    groups: 1,
    bias,
  };
}

/** The batch-norm config of these tests (PyTorch's defaults). */
export const BN_CONFIG = { eps: 1e-5, momentum: 0.1 };

/** The graph of `spec` on `input` and the fusion planFusion decides for it. */
export function fusionOf(input: number[], spec: LayerSpec[], options: GraphOptions = {}) {
  const graph = buildGraph(input, spec, options);
  const consumers = graph.nodes.map(() => [] as { node: number; slot: number }[]);
  for (const n of graph.nodes) {
    n.inputs.forEach((s, slot) => s !== GRAPH_INPUT && consumers[s].push({ node: n.id, slot }));
  }
  return { graph, fusion: planFusion(graph.nodes, consumers, true) };
}

/** "node → host" for every fused node of `spec` on `input`. */
export function hosts(input: number[], spec: LayerSpec[], options: GraphOptions = {}): string[] {
  const { graph, fusion } = fusionOf(input, spec, options);
  return graph.nodes.flatMap((n) => {
    const host = fusion.hosts[n.id];
    return host === undefined ? [] : [`${n.name} → ${graph.nodes[host].name}`];
  });
}

/** The commands of `plan`'s training or evaluation stages called `name`. */
export const stage = (plan: Plan, name: string) =>
  [...plan.stages, ...plan.evalStages].filter((s) => s.name === name).flatMap((s) => s.commands);

/**
 * Every value the comparison reads, by name. A fused op's output is the next
 * layer's input and its input gradient the conv's output gradient before it:
 * the Kronecker taps show both.
 */
export async function snapshot(plan: Plan): Promise<Map<string, Float32Array>> {
  const tensors = [
    ...plan.params.map((p) => [p.name, p.value] as const),
    ...plan.params.map((p) => [`${p.name}.grad`, p.grad] as const),
    ...plan.state.map((s) => [s.name, s.tensor] as const),
    ...plan.taps.map((t) => [`${t.weight.name}: input`, t.x] as const),
    ...plan.taps.map((t) => [`${t.weight.name}: output gradient`, t.d] as const),
    ["loss sum", plan.metrics.lossSum] as const,
    ["correct", plan.metrics.correct] as const,
  ];
  const values = await readTensors(plan.gpu, tensors.map(([, t]) => t));
  return new Map(tensors.map(([name], i) => [name, values[i]]));
}

/** Encodes `commands` and submits them to `plan`'s queue. */
export function submit(plan: Plan, commands: Command[]): void {
  const enc = plan.gpu.device.createCommandEncoder();
  encode(enc, commands);
  plan.gpu.device.queue.submit([enc.finish()]);
}

/**
 * Initialises `plan`, gives its batch norms random γ (around 0 with spread
 * 1.2, so some are negative) and β (mean -`shift`, spread 0.5, so ReLUs cut
 * a good share), then runs a training step on each of `xs`: a snapshot after
 * each.
 */
export async function train(
  plan: Plan,
  xs: Float64Array[],
  labels: number[],
  shift = 0.2,
): Promise<Map<string, Float32Array>[]> {
  submit(plan, plan.init);
  plan.params.forEach((p, i) => {
    if (p.role === "scale") writeTensor(plan.gpu, p.value, randn(20 + i, p.value.size, 1.2));
    if (p.role === "shift") {
      writeTensor(plan.gpu, p.value, randn(40 + i, p.value.size, 0.5).map((v) => v - shift));
    }
  });
  const out: Map<string, Float32Array>[] = [];
  for (const [k, x] of xs.entries()) {
    writeTensor(plan.gpu, plan.input, x);
    writeTensor(plan.gpu, plan.labels, labels);
    plan.optimizer!.prepareStep(k, 0.05);
    submit(plan, plan.stages.flatMap((s) => s.commands));
    out.push(await snapshot(plan));
  }
  return out;
}

/** Runs `plan`'s evaluation stages on `x`: the snapshot after. */
export async function evaluate(plan: Plan, x: Float64Array): Promise<Map<string, Float32Array>> {
  writeTensor(plan.gpu, plan.input, x);
  submit(plan, plan.evalStages.flatMap((s) => s.commands));
  return await snapshot(plan);
}

/**
 * The fusion audit's bound (fusion_topologies_test.ts): 1e-5 of the tensor's
 * largest entry (at least 1) plus 1e-4 relative, five times
 * bn_pool_fusion_test.ts's, because the last-bit differences of the fused
 * reductions' order pass through two steps of momentum (and, for the
 * Kronecker optimizers, the inverse roots). A gradient sent to the wrong
 * element or not masked is off by O(1).
 */
export const AUDIT_BOUND: Tolerance = { atol: 1e-5, rtol: 1e-4 };

/**
 * Every value of `a` against `b` (same names, finite): `bound.atol` scales
 * with the largest entry of the expected tensor (at least 1).
 */
export function compare(
  a: Map<string, Float32Array>,
  b: Map<string, Float32Array>,
  what: string,
  bound: Tolerance = AUDIT_BOUND,
): void {
  assertEquals([...a.keys()], [...b.keys()]);
  for (const [name, got] of a) {
    const want = b.get(name)!;
    assert(got.every(Number.isFinite), `${what} ${name}: not finite`);
    const atol = bound.atol * Math.max(1, maxAbs(want));
    assertClose(got, want, { atol, rtol: bound.rtol }, `${what} ${name}`);
  }
}

/** A model to build fused and unfused. */
export interface Case {
  /** Test name (for messages). */
  name: string;
  /** Per-sample input shape. */
  input: number[];
  /** The model. */
  layers: LayerSpec[];
  /** Graph options (default: buildGraph's). */
  graph?: GraphOptions;
  /** Batch size (default 2). */
  batch?: number;
  /** Every fused node and its host, as "node → host". */
  hosts: string[];
  /** Default: SGD with momentum. */
  optimizer?: OptimizerFactory;
  /** The plans' seed (default 5). */
  seed?: number;
  /** One training step on each; the evaluation reads the first (default: two random batches). */
  xs?: Float64Array[];
  /** Labels (default sample i has class i mod classes). */
  labels?: number[];
  /** β's mean is -shift (default 0.2). */
  shift?: number;
  /** Default AUDIT_BOUND. */
  bound?: Tolerance;
  /** Checks of the two plans' kernels (dispatch counts, kernels left) before they run. */
  kernels?: (fused: Plan, separate: Plan) => void;
}

/** Fused = separate for `c`, and the fusions are the ones listed. */
export async function fusedMatchesSeparate(c: Case): Promise<void> {
  assertEquals(hosts(c.input, c.layers, c.graph), c.hosts, `${c.name}: fusions`);
  const gpu = await testGpu();
  const batch = c.batch ?? 2;
  const graph = buildGraph(c.input, c.layers, c.graph);
  const classes = graph.nodes[graph.output].shape[0];
  const optimizer = c.optimizer ?? sgd({ lr: 0.05, momentum: 0.9 });
  const opts = { batch, seed: c.seed ?? 5, optimizer };
  const plans = [buildPlan(gpu, graph, opts), buildPlan(gpu, graph, { ...opts, fuse: false })];
  const per = c.input.reduce((a, b) => a * b, 1);
  const xs = c.xs ?? [f32(randn(11, batch * per)), f32(randn(12, batch * per))];
  const labels = c.labels ?? Array.from({ length: batch }, (_, i) => i % classes);
  try {
    // Fusion moves work between kernels; the FLOPs `inspect` reports stay.
    assertEquals(plans[0].flopsPerStep, plans[1].flopsPerStep, `${c.name}: FLOPs per step`);
    c.kernels?.(plans[0], plans[1]);
    // Training steps, then an evaluation with the updated parameters and running statistics.
    const runs = async (
      p: Plan,
    ) => [...await train(p, xs, labels, c.shift), await evaluate(p, xs[0])];
    const [fused, separate] = [await runs(plans[0]), await runs(plans[1])];
    fused.forEach((s, i) => compare(s, separate[i], `${c.name} stage ${i}:`, c.bound));
  } finally {
    for (const p of plans) p.arena.dispose();
  }
}

/**
 * Checkpoints of the fused and unfused plans of `graph` (batch 3, seed 3,
 * SGD) hold the same tensors, and one written after a training step on `x`
 * by either loads into the other: evaluating `x` from it gives the same
 * `names` (snapshot names) to 1e-6 plus 1e-5 relative.
 */
export async function checkpointsInterchange(
  graph: Graph,
  x: Float64Array,
  labels: number[],
  names: string[],
  shift?: number,
): Promise<void> {
  const gpu = await testGpu();
  const opts = { batch: labels.length, seed: 3, optimizer: sgd({ lr: 0.05 }) };
  const plans = [buildPlan(gpu, graph, opts), buildPlan(gpu, graph, { ...opts, fuse: false })];
  try {
    const shapes = (p: Plan) => [...checkpointTensors(p)].map(([n, t]) => `${n} ${t.shape}`);
    assertEquals(shapes(plans[0]), shapes(plans[1]));
    for (const [from, to] of [[0, 1], [1, 0]]) {
      await train(plans[from], [x], labels, shift);
      await withTempDir(async (dir) => {
        await writeCheckpoint(dir, plans[from], { step: 1, epoch: 0 });
        submit(plans[to], plans[to].init);
        restoreCheckpoint(plans[to], await readLatestCheckpoint(dir));
      });
      // Evaluation of the same batch from the same parameters and running statistics.
      for (const p of plans) {
        writeTensor(gpu, p.labels, labels);
        writeTensor(gpu, p.metrics.lossSum, [0]);
      }
      const [a, b] = await Promise.all(plans.map((p) => evaluate(p, x)));
      for (const name of names) {
        assertClose(
          a.get(name)!,
          b.get(name)!,
          { atol: 1e-6, rtol: 1e-5 },
          `${from}→${to} ${name}`,
        );
      }
    }
  } finally {
    for (const p of plans) p.arena.dispose();
  }
}
