/**
 * A plan with redundant texture-mirror refreshes dropped trains and
 * evaluates exactly as the plan that keeps them (same kernels, same values:
 * every number equal), with AdaBK's statistics and roots stages reading
 * mirrors refreshed by the forward pass. The harness runs every stage each
 * step; tests/train/mirror_elision_trainer_test.ts runs their cadences.
 */

import { assert, assertEquals } from "../assert.ts";
import { buildGraph, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildPlan, type Plan } from "../../lib/plan/plan.ts";
import { adamwBK } from "../../lib/optim/adabk.ts";
import { f32, gpuTest, randn, testGpu } from "../util.ts";
import { BN_CONFIG, compare, conv, evaluate, train } from "./fusion_harness.ts";

const LAYERS: LayerSpec[] = [
  { type: "conv2d", name: "conv1", config: conv(4) },
  { type: "batchnorm2d", name: "bn1", config: BN_CONFIG },
  { type: "relu" },
  { type: "maxpool2d", config: { kernel: [2, 2], stride: [2, 2], padding: [0, 0] } },
  { type: "conv2d", name: "conv2", config: conv(8) },
  { type: "batchnorm2d", name: "bn2", config: BN_CONFIG },
  { type: "relu" },
  { type: "maxpool2d", config: { kernel: [2, 2], stride: [2, 2], padding: [0, 0] } },
  { type: "flatten" },
  { type: "linear", name: "fc", config: { out: 3, bias: true } },
];

const refreshes = (p: Plan) =>
  [...p.stages, ...p.evalStages].flatMap((s) => s.commands).filter((c) =>
    c.kind === "copyToTexture"
  ).length;

Deno.test(
  "plans without redundant mirror refreshes compute every value exactly as before",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const graph = buildGraph([8, 8, 1], LAYERS);
    // Damping 0.1 keeps the tiny factors' roots tame.
    const optimizer = adamwBK({ lr: 0.01, statEvery: 2, rootEvery: 2, damping: 0.1 });
    const opts = { batch: 3, seed: 7, optimizer };
    const plans = [
      buildPlan(gpu, graph, opts),
      buildPlan(gpu, graph, { ...opts, elideMirrors: false }),
    ];
    try {
      const [elided, full] = plans.map(refreshes);
      if (gpu.adapter.isFallbackAdapter) {
        // Texture kernels on llvmpipe: the forward's refreshes serve the backward's readers.
        assert(elided < full, `refreshes ${elided} of ${full}`);
      } else assert(elided <= full);
      const xs = [f32(randn(1, 3 * 64)), f32(randn(2, 3 * 64)), f32(randn(3, 3 * 64))];
      const labels = [0, 1, 2];
      const runs = async (p: Plan) => [...await train(p, xs, labels), await evaluate(p, xs[0])];
      const [a, b] = [await runs(plans[0]), await runs(plans[1])];
      assertEquals(a.length, b.length);
      a.forEach((s, i) => compare(s, b[i], `snapshot ${i}:`, { atol: 0, rtol: 0 }));
    } finally {
      for (const p of plans) p.arena.dispose();
    }
  },
);
