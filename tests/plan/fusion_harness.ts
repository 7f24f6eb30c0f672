/**
 * Fused against unfused plans of one model (tests/plan/fusion_topologies_test.ts):
 * the fusions planned, and the results of two training steps and an
 * evaluation.
 * @module
 */
import { buildGraph, GRAPH_INPUT, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildPlan, type Plan } from "../../lib/plan/plan.ts";
import { planFusion } from "../../lib/plan/fusion.ts";
import { type Command, encode } from "../../lib/gpu/commands.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import { sgd } from "../../lib/optim/first_order.ts";
import type { OptimizerFactory } from "../../lib/optim/types.ts";
import { assert, assertEquals } from "../assert.ts";
import { assertClose, f32, maxAbs, randn, testGpu } from "../util.ts";

/** "node → host" for every fused node of `spec` on `input`. */
function hosts(input: number[], spec: LayerSpec[]): string[] {
  const graph = buildGraph(input, spec);
  const consumers = graph.nodes.map(() => [] as { node: number; slot: number }[]);
  for (const n of graph.nodes) {
    n.inputs.forEach((s, slot) => s !== GRAPH_INPUT && consumers[s].push({ node: n.id, slot }));
  }
  const fusion = planFusion(graph.nodes, consumers, true);
  return graph.nodes.flatMap((n) => {
    const host = fusion.hosts[n.id];
    return host === undefined ? [] : [`${n.name} → ${graph.nodes[host].name}`];
  });
}

/** Every value the comparison reads, by name. */
async function snapshot(plan: Plan): Promise<Map<string, Float32Array>> {
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

function submit(plan: Plan, commands: Command[]): void {
  const enc = plan.gpu.device.createCommandEncoder();
  encode(enc, commands);
  plan.gpu.device.queue.submit([enc.finish()]);
}

/** Random γ, β; two training steps on two batches; then an evaluation of the first. */
async function run(plan: Plan, xs: Float64Array[], labels: number[]) {
  submit(plan, plan.init);
  plan.params.forEach((p, i) => {
    if (p.role === "scale") writeTensor(plan.gpu, p.value, randn(20 + i, p.value.size, 1.2));
    if (p.role === "shift") {
      writeTensor(plan.gpu, p.value, randn(40 + i, p.value.size, 0.5).map((v) => v - 0.2));
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
  writeTensor(plan.gpu, plan.input, xs[0]);
  submit(plan, plan.evalStages.flatMap((s) => s.commands));
  out.push(await snapshot(plan));
  return out;
}

/**
 * To 1e-5 of the tensor's largest entry (at least 1) plus 1e-4 relative:
 * five times bn_pool_fusion_test.ts's bound, because the last-bit
 * differences of the fused reductions' order pass through two steps of
 * momentum (and, for the Kronecker optimizers, the inverse roots). A
 * gradient sent to the wrong element or not masked is off by O(1).
 */
function compare(a: Map<string, Float32Array>, b: Map<string, Float32Array>, what: string) {
  assertEquals([...a.keys()], [...b.keys()]);
  for (const [name, got] of a) {
    const want = b.get(name)!;
    assert(got.every(Number.isFinite), `${what} ${name}: not finite`);
    const atol = 1e-5 * Math.max(1, maxAbs(want));
    assertClose(got, want, { atol, rtol: 1e-4 }, `${what} ${name}`);
  }
}

/** A model to build fused and unfused. */
export interface Case {
  /** Test name. */
  name: string;
  /** Per-sample input shape. */
  input: number[];
  /** The model. */
  layers: LayerSpec[];
  /** Batch size (default 2). */
  batch?: number;
  /** Every fused node and its host, as "node → host". */
  hosts: string[];
  /** Default: SGD with momentum. */
  optimizer?: OptimizerFactory;
}

/** Fused = separate for `c`, and the fusions are the ones listed. */
export async function fusedMatchesSeparate(c: Case): Promise<void> {
  assertEquals(hosts(c.input, c.layers), c.hosts, `${c.name}: fusions`);
  const gpu = await testGpu();
  const batch = c.batch ?? 2;
  const graph = buildGraph(c.input, c.layers);
  const classes = graph.nodes[graph.output].shape[0];
  const opts = { batch, seed: 5, optimizer: c.optimizer ?? sgd({ lr: 0.05, momentum: 0.9 }) };
  const plans = [buildPlan(gpu, graph, opts), buildPlan(gpu, graph, { ...opts, fuse: false })];
  const per = c.input.reduce((a, b) => a * b, 1);
  const xs = [f32(randn(11, batch * per)), f32(randn(12, batch * per))];
  const labels = Array.from({ length: batch }, (_, i) => i % classes);
  try {
    // Fusion moves work between kernels; the FLOPs `inspect` reports stay.
    assertEquals(plans[0].flopsPerStep, plans[1].flopsPerStep, `${c.name}: FLOPs per step`);
    const [fused, separate] = [await run(plans[0], xs, labels), await run(plans[1], xs, labels)];
    fused.forEach((s, i) => compare(s, separate[i], `${c.name} stage ${i}:`));
  } finally {
    for (const p of plans) p.arena.dispose();
  }
}
