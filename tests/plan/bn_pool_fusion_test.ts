/**
 * Batch norm absorbing the max pooling after it (OpKind.absorbs,
 * lib/kernels/reduce/batchnorm_pool.ts): the fused plan gives the unfused
 * plan's results (forward outputs, loss, every gradient, the batch norms'
 * input gradients, running statistics, evaluation), checkpoints move between
 * the two, and its gradients match finite differences of a float64 forward.
 * The unfused ops are checked against float64 references in
 * tests/kernels/batchnorm_test.ts, pool_test.ts and graph_grad_test.ts.
 */
import { dispatchCount } from "../../lib/gpu/commands.ts";
import { buildGraph, type Graph, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { sgd } from "../../lib/optim/first_order.ts";
import { netLoss } from "../ref/net.ts";
import { assert, assertEquals } from "../assert.ts";
import { f32, gpuTest, randn, testGpu } from "../util.ts";
import {
  BN_CONFIG,
  checkpointsInterchange,
  conv,
  fusedMatchesSeparate,
  stage,
} from "./fusion_harness.ts";
import { assertFiniteDifferences, stepGradients } from "./grad_check.ts";

const conv3 = (out: number) => conv(out, 3, 1, true);
const bn = BN_CONFIG;
const pool = (k: number) => ({ kernel: [k, k], stride: [k, k], padding: [0, 0] });

/**
 * Input [6, 10, 2]: conv (3 channels, scalar kernels) → bn → relu → 2×2
 * pool → [3, 5, 3]; conv (8 channels, vec4 kernels) → bn (→ relu) → 3×3
 * pool: 5 columns leave a partial window (floor mode) → [1, 1, 8]; head.
 */
function layers(relu2: boolean): LayerSpec[] {
  return [
    { type: "conv2d", name: "c1", config: conv3(3) },
    { type: "batchnorm2d", name: "bn1", config: bn },
    { type: "relu", name: "r1" },
    { type: "maxpool2d", name: "p1", config: pool(2) },
    { type: "conv2d", name: "c2", config: conv3(8) },
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

/**
 * Fused against unfused (fusion_harness.ts), every value to 2e-6 of the
 * tensor's largest entry (at least 1) plus 1e-5 relative. The same nonzero
 * terms meet in the same f32 operations, except that the batch-norm gradient
 * sums add them in another order (pooled rows, not every row; at most 45
 * terms here), a few roundings (2⁻²⁴ ≈ 6e-8 each) of the largest partial
 * sums, which dx, the conv gradients and the updated parameters inherit.
 * Measured: at most 2.1e-7 of the largest entry. A gradient routed to another
 * element of its window, or not cut by the ReLU, is off by O(1).
 */
const BOUND = { atol: 2e-6, rtol: 1e-5 };

// Each batch norm runs its ReLU and pooling, in the graph's order.
const CASES = [
  [false, true, ["p1 → bn1", "r1 → bn1", "p2 → bn2"]],
  [true, true, ["p1 → bn1", "r1 → bn1", "p2 → bn2", "r2 → bn2"]],
  [true, false, ["r1 → bn1", "p1 → bn1", "r2 → bn2", "p2 → bn2"]],
] as const;

for (const [relu2, reorder, hosts] of CASES) {
  const name =
    `batch norm + max pool fused = separate (2nd ReLU ${relu2}, ReLU/pool reorder ${reorder})`;
  Deno.test(name, gpuTest, () =>
    fusedMatchesSeparate({
      name,
      input: [6, 10, 2],
      layers: layers(relu2),
      graph: { reorderReluPool: reorder },
      hosts: [...hosts],
      batch: BATCH,
      seed: 3,
      optimizer: sgd({ lr: 0.05 }),
      xs: [input()],
      labels: LABELS,
      // γ around 1 with some negative (the max of the normalised values is then
      // not the max of x), β around -0.3 (a ReLU zeroes many whole windows).
      shift: 0.3,
      bound: BOUND,
      kernels: (fused, separate) => {
        // Per block, normalisation and pooling become one kernel each way
        // (forward, evaluation, backward); the separate plan also runs each
        // ReLU on its own and the head's bias gradient as a column sum.
        const saved = (name: string) =>
          dispatchCount(stage(separate, name)) - dispatchCount(stage(fused, name));
        const relus = relu2 ? 2 : 1;
        assertEquals(saved("forward"), 2 + relus);
        assertEquals(saved("backward"), 2 + relus + 1);
        assertEquals(saved("eval_forward"), 2 + relus);
        const labels = fused.stages.flatMap((s) => s.commands).map((c) => c.label);
        assert(!labels.some((l) => l.startsWith("maxpool")), `no pooling kernel left: ${labels}`);
        assert(!labels.some((l) => l.includes("normalise")), "no normalisation kernel left");
      },
    }));
}

Deno.test(
  "checkpoints of fused and unfused plans hold the same tensors and load into each other",
  gpuTest,
  () =>
    checkpointsInterchange(
      buildGraph([6, 10, 2], layers(true)),
      input(),
      LABELS,
      ["loss sum", "fc.weight: input", "c2.weight: input"],
      0.3,
    ),
);

/** Two fused blocks: vec4 channels with a ReLU, partial windows both ways; odd channels without. */
const FD_LAYERS: LayerSpec[] = [
  { type: "conv2d", name: "c1", config: conv3(4) },
  { type: "batchnorm2d", name: "bn1", config: bn },
  { type: "relu" },
  { type: "maxpool2d", name: "p1", config: pool(3) },
  { type: "conv2d", name: "c2", config: conv3(3) },
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
    const step = await stepGradients(plan, x, LABELS);
    const loss = () => netLoss(graph, step.params, x, LABELS, BATCH, 0);
    // Tolerance as in graph_grad_test.ts (grad_check.ts).
    const checked = assertFiniteDifferences(
      plan,
      step,
      loss,
      (n) => new Set([0, Math.floor(n / 2), n - 1]),
    );
    assert(checked >= 20, `checked only ${checked} entries`);
    plan.arena.dispose();
  },
);
