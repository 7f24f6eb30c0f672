/**
 * `evaluate(plan, data)` against a float64 reference: the plan's evaluation
 * stages over every batch (the last one partial), sums read once, and the
 * sums cleared between calls.
 */
import { buildGraph } from "../../lib/graph/graph.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import { GpuSplit } from "../../lib/train/gpu_split.ts";
import { evaluate } from "../../lib/train/evaluate.ts";
import { Rng } from "../../lib/util/rng.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";
import { mlpStep } from "../ref/mlp.ts";

const IN = 6, HIDDEN = 10, CLASSES = 4, COUNT = 70, BATCH = 32;

Deno.test(
  "evaluate matches the float64 loss and accuracy over a partial last batch",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const graph = buildGraph([IN], [
      { type: "linear", name: "fc1", config: { out: HIDDEN, bias: true } },
      { type: "relu" },
      { type: "linear", name: "fc2", config: { out: CLASSES, bias: true } },
    ]);
    const plan = buildPlan(gpu, graph, { batch: BATCH, seed: 5 }); // no optimizer: evaluation only
    const r = new Rng(7);
    const images = Float32Array.from({ length: COUNT * IN }, () => 2 * r.normal());
    const labels = Uint8Array.from({ length: COUNT }, () => r.int(CLASSES));
    const data = new GpuSplit(
      gpu,
      "test",
      { images, labels, count: COUNT },
      { size: IN, channels: 1 },
      { scale: 1, mean: [0], std: [1] },
      plan,
    );
    try {
      const [w1, b1, w2, b2] = (await readTensors(gpu, plan.params.map((p) => p.value)))
        .map((t) => Float64Array.from(t));
      const ref = mlpStep(
        { w1, b1, w2, b2 },
        { inF: IN, hidden: HIDDEN, classes: CLASSES },
        Float64Array.from(images),
        labels,
      );
      const first = await evaluate(plan, data);
      assertEquals(first.samples, COUNT);
      // f32 logits of a 6→10→4 network: the mean loss agrees to 1e-5 relative.
      assert(
        Math.abs(first.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss) + 1e-6,
        `loss ${first.loss} vs reference ${ref.loss}`,
      );
      assertEquals(first.accuracy, ref.correct / COUNT);
      // The sums start from zero on every call.
      assertEquals(await evaluate(plan, data), first);
    } finally {
      data.dispose();
      plan.arena.dispose();
    }
  },
);
