/**
 * FLOPs per training step: each op counts its own work (OpKind.flops) and
 * the plan sums every graph node, so a fused plan (batch norm running a
 * ReLU, a max pooling, a residual add and its ReLU) reports the unfused
 * plan's count. The expected counts are written out here from the textbook
 * formulas, independently of lib/ops: 2·m·n·k per matrix product (forward,
 * weight gradient, and input gradient unless the input is the graph input),
 * and the per-element counts `inspect` uses for the cheaper ops.
 */
import { buildGraph, type LayerSpec, nodeFlops, stepFlops } from "../../lib/graph/graph.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { loadRunSpecFile } from "../../dsl/yaml.ts";
import { compileGraph } from "../../dsl/compile.ts";
import { assertEquals } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";
import { BN_CONFIG, conv, hosts } from "./fusion_harness.ts";

const B = 3;
/** Per-sample input [4, 4, 2]. */
const INPUT = [4, 4, 2];
const bn = { type: "batchnorm2d", name: "bn", config: BN_CONFIG };
const pool2 = { kernel: [2, 2], stride: [2, 2], padding: [0, 0] };
const head = (features: number): [LayerSpec[], [string, number][]] => [
  [{ type: "flatten", name: "flat" }, {
    type: "linear",
    name: "fc",
    config: { out: 3, bias: true },
  }],
  // Three products (its input has a gradient): 2·B·features·3 each.
  [["flat", 0], ["fc", 3 * 2 * B * features * 3]],
];
/** A 3×3 conv from 2 to 4 channels on 4×4 reading the graph input: two products. */
const STEM: [string, number] = ["c", 2 * (2 * B * 16 * (2 * 9) * 4)];
/** Batch norm counts 20 FLOPs a value, ReLU 2 (forward and backward). */
const BN_4x4x4: [string, number] = ["bn", 20 * B * 64];
const RELU_4x4x4 = 2 * B * 64;

interface Case {
  name: string;
  layers: LayerSpec[];
  /** The fusions the fused plan must make (so the case tests what it says). */
  hosts: string[];
  /** Every node's own count, in node order. */
  counts: [string, number][];
}

function cases(): Case[] {
  const [fc64, head64] = head(64);
  const [fc16, head16] = head(16);
  return [{
    name: "BN+ReLU",
    layers: [{ type: "conv2d", name: "c", config: conv(4) }, bn, { type: "relu" }, ...fc64],
    hosts: ["relu2 → bn"],
    counts: [STEM, BN_4x4x4, ["relu2", RELU_4x4x4], ...head64],
  }, {
    // Max pooling counts 2 per value of each window read: 2·B·(2·2·4)·2·2.
    name: "BN+pool",
    layers: [
      { type: "conv2d", name: "c", config: conv(4) },
      bn,
      { type: "maxpool2d", name: "p", config: pool2 },
      ...fc16,
    ],
    hosts: ["p → bn"],
    counts: [STEM, BN_4x4x4, ["p", 2 * B * 16 * 4], ...head16],
  }, {
    // The ReLU before the pooling runs after it (graph.ts), on a quarter of the values.
    name: "BN+ReLU+pool",
    layers: [
      { type: "conv2d", name: "c", config: conv(4) },
      bn,
      { type: "relu", name: "r" },
      { type: "maxpool2d", name: "p", config: pool2 },
      ...fc16,
    ],
    hosts: ["p → bn", "r → bn"],
    counts: [STEM, BN_4x4x4, ["p", 2 * B * 16 * 4], ["r", 2 * B * 16], ...head16],
  }, {
    // A stem conv, then a block whose conv has an input gradient (three products)
    // and whose batch norm runs the add (1 FLOP a value) and the ReLU after it.
    name: "BN+add+ReLU",
    layers: [
      { type: "conv2d", name: "c", config: conv(4) },
      {
        type: "residual",
        name: "b",
        layers: [{ type: "conv2d", name: "c", config: conv(4) }, bn],
      },
      { type: "relu", name: "r" },
      ...fc64,
    ],
    hosts: ["b.add → b.bn", "r → b.bn"],
    counts: [
      STEM,
      ["b.c", 3 * (2 * B * 16 * (4 * 9) * 4)],
      ["b.bn", 20 * B * 64],
      ["b.add", B * 64],
      ["r", RELU_4x4x4],
      ...head64,
    ],
  }];
}

Deno.test(
  "a fused plan counts the FLOPs of the unfused one: every op's own count, summed",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    for (const c of cases()) {
      assertEquals(hosts(INPUT, c.layers), c.hosts, `${c.name}: fusions`);
      const graph = buildGraph(INPUT, c.layers);
      assertEquals(
        graph.nodes.map((n): [string, number] => [n.name, nodeFlops(n, B)]),
        c.counts,
        `${c.name}: per-op counts`,
      );
      const total = c.counts.reduce((s, [, f]) => s + f, 0);
      assertEquals(stepFlops(graph, B), total, `${c.name}: step`);
      for (const fuse of [true, false]) {
        const plan = buildPlan(gpu, graph, { batch: B, seed: 1, fuse });
        try {
          const fusedNodes = plan.fusedInto.filter((h) => h !== undefined).length;
          assertEquals(fusedNodes, fuse ? c.hosts.length : 0, `${c.name}: fused nodes`);
          assertEquals(plan.flopsPerStep, total, `${c.name}: plan (fuse ${fuse})`);
        } finally {
          plan.arena.dispose();
        }
      }
    }
  },
);

Deno.test("the example models' FLOPs per step are the counts `inspect` has reported", async () => {
  // Measured before per-op counts moved to OpKind.flops (fused and unfused plans alike).
  const expected: Record<string, number> = {
    fashion_mlp: 129_073_152,
    fashion_cnn: 817_668_096,
    fashion_resnet: 28_851_781_632,
  };
  for (const [name, flops] of Object.entries(expected)) {
    const spec = await loadRunSpecFile(new URL(`../../examples/${name}.yaml`, import.meta.url));
    assertEquals(stepFlops(compileGraph(spec), spec.data.batch_size), flops, name);
  }
});
