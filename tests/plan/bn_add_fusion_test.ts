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
import { dispatchCount } from "../../lib/gpu/commands.ts";
import { buildGraph, type LayerSpec } from "../../lib/graph/graph.ts";
import type { Plan } from "../../lib/plan/plan.ts";
import { sgd } from "../../lib/optim/first_order.ts";
import { assert, assertEquals } from "../assert.ts";
import { f32, gpuTest, randn } from "../util.ts";
import {
  BN_CONFIG,
  checkpointsInterchange,
  conv,
  fusedMatchesSeparate,
  fusionOf,
  hosts,
  stage,
} from "./fusion_harness.ts";

const bn = BN_CONFIG;
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

/** The absorptions planFusion decides for `layers`, as "absorber → consumer". */
function absorptions(spec: LayerSpec[]): string[] {
  const { graph, fusion } = fusionOf(INPUT, spec);
  return [...fusion.absorbed].map(([id, q]) => `${graph.nodes[id].name} → ${q.name}`);
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

/** The fused nodes of `layers(true, C)` and their hosts (without the ReLUs after the adds: the others). */
const HOSTS = [
  "b0.add → b0.bn",
  "relu1 → b0.bn", // fused into b0.add, which b0.bn runs
  "b1.relu2 → b1.bn1", // a ReLU fused into its producer
  "b1.add → b1.shortcut.bn",
  "relu3 → b1.shortcut.bn",
  "b2.add → b2.bn",
  "relu5 → b2.bn",
];

Deno.test("fusion hosts: a ReLU fused into an absorbed add runs in the batch norm that absorbs the add", () => {
  assertEquals(hosts(INPUT, layers(true, 5)), HOSTS);
  assertEquals(hosts(INPUT, layers(false, 5)).filter((h) => h.startsWith("relu")), []);
});

/**
 * Fused against unfused (fusion_harness.ts), every value to 1e-6 of the
 * tensor's largest entry (at least 1) plus 1e-5 relative: both run the same
 * f32 operations in the same order (the normalised value is rounded before
 * the add, the gradient sums read the same masked dy), so they differ at most
 * where a compiler contracts a multiply-add differently, a rounding (6e-8)
 * that later ops inherit. A skip gradient left unwritten, or a mask ignored,
 * is off by O(1).
 */
const BOUND = { atol: 1e-6, rtol: 1e-5 };

for (const [relu, C] of [[true, 5], [false, 5], [true, 4]] as const) {
  const name =
    `batch norm + residual add fused = separate (ReLU after the add ${relu}, ${C} channels)`;
  Deno.test(name, gpuTest, async () => {
    // Which batch norm absorbs each add: the later one of the two feeding it.
    assertEquals(absorptions(layers(relu, C)), [
      "b0.bn → b0.add",
      "b1.shortcut.bn → b1.add",
      "b2.bn → b2.add",
    ]);
    await fusedMatchesSeparate({
      name,
      input: INPUT,
      layers: layers(relu, C),
      hosts: HOSTS.filter((h) => relu || !h.startsWith("relu")),
      batch: BATCH,
      seed: 3,
      optimizer: sgd({ lr: 0.05 }),
      xs: [f32(randn(11, BATCH * INPUT[0] * INPUT[1] * INPUT[2]))],
      labels: LABELS,
      // β around -0.2 with spread: the ReLUs after the adds cut a good share.
      shift: 0.2,
      bound: BOUND,
      kernels: (fused, separate) => {
        assert(!stage(fused, "forward").some((c) => c.label.startsWith("add")), "no add kernel");
        // Each ReLU fused saves its dispatch each way (R of them: b1's inner
        // one, and one per add); each add absorbed saves its forward kernel
        // and the separate add's gradient copies (1 for b0, whose skip is the
        // input, 2 each for b1 and b2); the loss kernel writes fc.bias's
        // gradient.
        const R = 1 + (relu ? 3 : 0);
        const saved = (name: string, all = false) => {
          const count = (p: Plan) => all ? stage(p, name).length : dispatchCount(stage(p, name));
          return count(separate) - count(fused);
        };
        assertEquals(saved("forward"), R + 3, "forward dispatches saved");
        assertEquals(saved("eval_forward"), R + 3, "evaluation dispatches saved");
        assertEquals(saved("backward"), R + 1, "backward dispatches saved");
        assertEquals(saved("backward", true), R + 5 + 1, "backward commands saved");
      },
    });
  });
}

Deno.test(
  "checkpoints of plans with and without the add absorbed hold the same tensors and interchange",
  gpuTest,
  () =>
    checkpointsInterchange(
      buildGraph(INPUT, layers(true, 5)),
      f32(randn(12, BATCH * INPUT[0] * INPUT[1] * INPUT[2])),
      LABELS,
      ["loss sum", "fc.weight: input", "b2.c.weight: input"],
      0.2,
    ),
);
