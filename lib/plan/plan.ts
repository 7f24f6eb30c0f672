/**
 * The plan: every buffer of a training run allocated once, and the ordered,
 * cadenced stages that make up a training step and an evaluation step.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import { BufferArena, reshape, type Tensor } from "../gpu/tensor.ts";
import { writeTensor } from "../gpu/transfer.ts";
import { packBuffers, packLimit, packTensors } from "../gpu/pack.ts";
import { Uniforms } from "../gpu/uniforms.ts";
import { clipGradNorm } from "../kernels/reduce/clip.ts";
import { type Graph, GRAPH_INPUT, type GraphNode, stepFlops } from "../graph/graph.ts";
import { buildCrossEntropy } from "../ops/cross_entropy.ts";
import type { BuildContext, KroneckerTaps, OpInstance, Param, StateBuffer } from "../ops/types.ts";
import type { OptimizerFactory, OptimizerInstance } from "../optim/types.ts";
import { EVERY_STEP, type Stage } from "../gpu/stage.ts";
import { elideMirrorRefreshes } from "../gpu/mirror_elision.ts";
import { checkPlanSizes, initialParamValues } from "./memory.ts";
import { planFusion } from "./fusion.ts";
import { planGradients } from "./gradients.ts";

/** Options for {@link buildPlan}. */
export interface PlanOptions {
  /** Samples per step. */
  batch: number;
  /** Seed of parameter initialisation. */
  seed: number;
  /** The optimizer (omit for evaluation-only plans). */
  optimizer?: OptimizerFactory;
  /** Clip the global gradient norm to this before the optimizer runs. */
  clipGradNorm?: number;
  /** Label smoothing of the training loss. */
  labelSmoothing?: number;
  /**
   * Fuse across ops, with the results of the separate ops (fusion.ts): each
   * ReLU runs inside the op before it when that op supports it
   * (`OpKind.fusesRelu`) and nothing else reads that op's output, an op runs
   * the consumer that alone reads its output when it can (`OpKind.absorbs`:
   * batch norm a non-overlapping max pooling or a residual add), and the loss kernel writes
   * the bias gradient of a linear layer that produces the logits. Default true.
   */
  fuse?: boolean;
  /**
   * Drop texture-mirror refreshes that would copy what the mirror already
   * holds (lib/gpu/mirror_elision.ts). Default true.
   */
  elideMirrors?: boolean;
}

/** A compiled training run. */
export interface Plan {
  /** The device. */
  gpu: Gpu;
  /** Owner of every buffer. */
  arena: BufferArena;
  /** The graph it was built from. */
  graph: Graph;
  /** Batch size. */
  batch: number;
  /** Number of classes (logits width). */
  classes: number;
  /** Input batch [B, ...input], written by the data stage. */
  input: Tensor;
  /** Labels [B] as f32 class indices, written by the data stage. */
  labels: Tensor;
  /** Trainable parameters in graph order. */
  params: Param[];
  /** Non-trained state (running statistics) to checkpoint. */
  state: StateBuffer[];
  /** Kronecker taps of every Linear/Conv2d layer. */
  taps: KroneckerTaps[];
  /** Metric accumulators [1]: Σ loss and Σ correct since the last reset. */
  metrics: { lossSum: Tensor; correct: Tensor };
  /** Per-step uniforms (dropout seed). */
  step: Uniforms<"seed">;
  /** The optimizer, when training. */
  optimizer?: OptimizerInstance;
  /** Training stages in order (data stages are prepended by the caller). */
  stages: Stage[];
  /** Evaluation stages (forward in eval mode + loss). */
  evalStages: Stage[];
  /** One-time initialisation commands (state buffers, optimizer state). */
  init: Command[];
  /** Training FLOPs per step (layers only, fused or not: `stepFlops`), for `inspect`. */
  flopsPerStep: number;
  /** Per graph node: the node whose kernels run it when fused (fusion.ts), else undefined. */
  fusedInto: readonly (number | undefined)[];
}

/** Allocates and builds everything for `graph` at `opts.batch`. */
export function buildPlan(gpu: Gpu, graph: Graph, opts: PlanOptions): Plan {
  checkPlanSizes(graph, opts.batch, gpu.limits); // before anything is allocated
  const arena = new BufferArena(gpu.device, (e) => gpu.reportFailure(e));
  try {
    return recordPlan(gpu, graph, opts, arena);
  } catch (e) {
    // A plan that cannot be built gives back what it allocated so far.
    arena.dispose();
    throw e;
  }
}

/** Allocates the plan's tensors from `arena` and records its stages. */
function recordPlan(gpu: Gpu, graph: Graph, opts: PlanOptions, arena: BufferArena): Plan {
  const { batch } = opts;
  const step = new Uniforms(gpu, "step", [["seed", "u32"]] as const, arena);
  const ctx: BuildContext = { gpu, arena, batch, step };
  const nodes = graph.nodes;
  const classes = nodes[graph.output].shape[0];

  // Consumers of each value (node outputs; the graph input needs no gradient).
  const consumers = nodes.map(() => [] as { node: number; slot: number }[]);
  for (const n of nodes) {
    n.inputs.forEach((src, slot) => {
      if (src !== GRAPH_INPUT) consumers[src].push({ node: n.id, slot });
    });
  }

  // A fused ReLU records nothing: it aliases its producer, which applies it.
  // An absorbed consumer records nothing: the op before it runs it, and the
  // values between the two (hidden) exist in no buffer (fusion.ts).
  const fuse = opts.fuse ?? true;
  const fusion = planFusion(nodes, consumers, fuse);
  const { relus: fused, hidden, configOf } = fusion;
  const isAlias = (n: GraphNode) => n.kind.alias === true || fused.has(n.id);

  // Activations: one tensor per node output; aliases (flatten) reshape their input.
  const input = arena.tensor("input", [batch, ...graph.input]);
  const act: Tensor[] = [];
  const valueOf = (id: number) => (id === GRAPH_INPUT ? input : act[id]);
  for (const n of nodes) {
    if (hidden.has(n.id)) continue;
    act[n.id] = isAlias(n)
      ? reshape(valueOf(n.inputs[0]), [batch, ...n.shape], n.name)
      : arena.tensor(`${n.name}.out`, [batch, ...n.shape]);
  }

  // Gradients, from the last node backwards (gradients.ts).
  const { grad, parts, sums } = planGradients(gpu, arena, {
    nodes,
    consumers,
    hidden,
    isAlias,
    batch,
  });

  // Parameters with seeded initial values, all packed into one buffer and
  // their gradients into another, so the optimizer updates every parameter
  // with one dispatch per rule (lib/optim/multi_tensor.ts).
  const specs = nodes.flatMap((n) => n.params);
  const limit = packLimit(gpu.limits);
  const values = packTensors(arena, "parameters", specs, limit);
  const grads = packTensors(
    arena,
    "gradients",
    specs.map((s) => ({ name: `${s.name}.grad`, shape: s.shape })),
    limit,
  );
  let nextParam = 0;
  const params: Param[] = [];
  const built: OpInstance[] = [];
  const init: Command[] = [];
  for (const n of nodes) {
    const ps = n.params.map((spec) => {
      const value = values[nextParam];
      const grad = grads[nextParam++];
      writeTensor(gpu, value, initialParamValues(n, spec, value.size, opts.seed));
      const p: Param = { name: spec.name, value, grad, role: spec.role };
      params.push(p);
      return p;
    });
    const dxs = n.inputs.map((src, slot) => (src === GRAPH_INPUT ? undefined : parts[n.id][slot]));
    const aliasCopies: Command[] = [];
    if (isAlias(n)) {
      // Storage is shared with the input, unless the input has other readers:
      // then this op's share of the input gradient is a copy of its own.
      const part = dxs[0];
      if (part && part !== grad[n.inputs[0]]) {
        aliasCopies.push({
          kind: "copyTensor",
          label: `${n.name}.dx`,
          src: reshape(grad[n.id], part.shape),
          dst: part,
        });
      }
    }
    const absorption = fusion.absorbed.get(n.id);
    // An absorbed two-input consumer's other input: this op writes its gradient part.
    const absorbed = absorption && {
      ...absorption,
      others: nodes[absorption.id].inputs.flatMap((src, slot) =>
        slot === absorption.slot ? [] : [{
          x: valueOf(src),
          dx: src === GRAPH_INPUT ? undefined : parts[absorption.id][slot],
        }]
      ),
    };
    // A fused ReLU or an absorbed consumer runs in its host's kernels: it records nothing.
    const inst: OpInstance = fused.has(n.id) || fusion.absorbedNodes.has(n.id)
      ? { forward: [], evalForward: [], backward: [], state: [] }
      : n.kind.build(ctx, configOf(n), {
        name: n.name,
        xs: n.inputs.map(valueOf),
        y: act[absorbed?.id ?? n.id],
        dy: grad[absorbed?.id ?? n.id],
        dxs,
        params: ps,
        absorbed,
      });
    if (inst.init) init.push(...inst.init);
    // Column sums of the logits' gradient are left to the loss kernel.
    const colSums = inst.dyColumnSums && !(fuse && n.id === graph.output)
      ? inst.dyColumnSums.commands()
      : [];
    built.push({ ...inst, backward: [...aliasCopies, ...colSums, ...inst.backward] });
  }

  const metrics = {
    lossSum: arena.tensor("metrics.loss_sum", [1]),
    correct: arena.tensor("metrics.correct", [1]),
  };
  const labels = arena.tensor("labels", [batch]);
  const head = buildCrossEntropy(
    ctx,
    {
      logits: act[graph.output],
      labels,
      dLogits: grad[graph.output],
      ...metrics,
      dLogitsColSum: fuse ? built[graph.output].dyColumnSums?.out : undefined,
    },
    classes,
    opts.labelSmoothing ?? 0,
  );

  const backward: Command[] = [];
  for (let id = nodes.length - 1; id >= 0; id--) {
    backward.push(...sums[id], ...built[id].backward);
  }
  const stages: Stage[] = [
    { name: "forward", cadence: EVERY_STEP, commands: built.flatMap((b) => b.forward) },
    { name: "loss", cadence: EVERY_STEP, commands: head.train },
    { name: "backward", cadence: EVERY_STEP, commands: backward },
  ];
  const taps = built.flatMap((b) => (b.taps ? [b.taps] : []));
  if (opts.clipGradNorm !== undefined) {
    // Over the gradient pack as a whole: one norm and one scale, not one per tensor.
    const packs = packBuffers(params.map((p) => p.grad));
    const clip = clipGradNorm(gpu, arena, packs, opts.clipGradNorm);
    stages.push({ name: "clip", cadence: EVERY_STEP, commands: clip.commands });
  }
  let optimizer: OptimizerInstance | undefined;
  if (opts.optimizer) {
    const tapOf = new Map(taps.map((t) => [t.weight, t]));
    optimizer = opts.optimizer.build(
      gpu,
      arena,
      params.map((p) => ({
        name: p.name,
        value: p.value,
        grad: p.grad,
        role: p.role,
        taps: tapOf.get(p),
      })),
    );
    stages.push(...optimizer.stages);
    for (const s of optimizer.init) init.push(...s.commands);
  }
  const evalStages: Stage[] = [
    { name: "eval_forward", cadence: EVERY_STEP, commands: built.flatMap((b) => b.evalForward) },
    { name: "eval_loss", cadence: EVERY_STEP, commands: head.eval },
  ];
  const elide = (list: Stage[]) =>
    opts.elideMirrors === false ? list : elideMirrorRefreshes(list).stages;
  return {
    gpu,
    arena,
    graph,
    batch,
    classes,
    input,
    labels,
    params,
    state: built.flatMap((b) => b.state),
    taps,
    metrics,
    step,
    optimizer,
    stages: elide(stages),
    evalStages: elide(evalStages),
    init,
    flopsPerStep: stepFlops(graph, batch),
    fusedInto: fusion.hosts,
  };
}

/**
 * Waits until WebGPU has judged every buffer of `plan` and throws the first
 * failure (an `AllocationError` naming the buffer that did not fit in
 * the device's memory), so a plan is known to be whole before it is used.
 */
export async function checkAllocated(plan: Plan): Promise<void> {
  await plan.arena.settled();
  plan.gpu.checkAlive();
}
