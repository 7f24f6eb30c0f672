/**
 * End to end: the compiled plan and trainer against a float64 reference MLP
 * with identical initialisation, data order and SGD-momentum updates.
 */
import { buildGraph } from "../../lib/graph/graph.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { sgd } from "../../lib/optim/first_order.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import { GpuSplit } from "../../lib/train/gpu_split.ts";
import type { TrainEvent } from "../../lib/train/events.ts";
import { Trainer } from "../../lib/train/trainer.ts";
import { Rng } from "../../lib/util/rng.ts";
import { assert } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";
import { type MlpParams, mlpStep } from "../ref/mlp.ts";
import { sgdStep } from "../ref/optim.ts";

const IN = 12, HIDDEN = 24, CLASSES = 5, COUNT = 320, BATCH = 32, EPOCHS = 20;

/** Gaussian blobs: class c centred on a fixed random point, unit noise. */
function blobs(seed: number): { images: Float32Array; labels: Uint8Array } {
  const r = new Rng(seed);
  const centres = Array.from(
    { length: CLASSES },
    () => Array.from({ length: IN }, () => 2 * r.normal()),
  );
  const images = new Float32Array(COUNT * IN);
  const labels = new Uint8Array(COUNT);
  for (let i = 0; i < COUNT; i++) {
    const c = r.int(CLASSES);
    labels[i] = c;
    for (let j = 0; j < IN; j++) images[i * IN + j] = centres[c][j] + r.normal();
  }
  return { images, labels };
}

/** A seeded permutation per epoch (Fisher–Yates on the counter RNG). */
function order(epoch: number): Uint32Array {
  const r = new Rng(99, epoch);
  const o = Uint32Array.from({ length: COUNT }, (_, i) => i);
  for (let i = COUNT - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [o[i], o[j]] = [o[j], o[i]];
  }
  return o;
}

Deno.test(
  "trained MLP follows the float64 reference step for step (200 steps)",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const graph = buildGraph([IN], [
      { type: "linear", name: "fc1", config: { out: HIDDEN, bias: true } },
      { type: "relu" },
      { type: "linear", name: "fc2", config: { out: CLASSES, bias: true } },
    ]);
    const lr = 0.05, momentum = 0.9;
    const plan = buildPlan(gpu, graph, { batch: BATCH, seed: 3, optimizer: sgd({ lr, momentum }) });
    const data = blobs(1);
    const norm = { scale: 1, mean: [0], std: [1] };
    const train = new GpuSplit(
      gpu,
      "train",
      { ...data, count: COUNT },
      { size: IN, channels: 1 },
      norm,
      plan,
    );
    const events: TrainEvent[] = [];
    const trainer = new Trainer({
      plan,
      train,
      epochs: EPOCHS,
      order,
      lr: () => lr,
      seed: 0,
      logEvery: 1,
      evalEvery: 1,
      onEvent: (e) => e.kind === "train" && events.push(e),
    });

    // Reference starts from the GPU's own initial values (read before training).
    const init = await readTensors(gpu, plan.params.map((p) => p.value));
    const ref: MlpParams = {
      w1: Float64Array.from(init[0]),
      b1: Float64Array.from(init[1]),
      w2: Float64Array.from(init[2]),
      b2: Float64Array.from(init[3]),
    };
    const states = (["w1", "b1", "w2", "b2"] as const).map((k) => ({ p: ref[k], t: 0 }));
    const refRunning: number[] = []; // running mean loss per global step, as the trainer reports it
    for (let epoch = 0; epoch < EPOCHS; epoch++) {
      const o = order(epoch);
      let sum = 0;
      for (let s = 0; s < COUNT / BATCH; s++) {
        const idx = o.subarray(s * BATCH, (s + 1) * BATCH);
        const x = new Float64Array(BATCH * IN);
        idx.forEach((src, b) => x.set(data.images.subarray(src * IN, (src + 1) * IN), b * IN));
        const { loss, grads } = mlpStep(
          ref,
          { inF: IN, hidden: HIDDEN, classes: CLASSES },
          x,
          Array.from(idx, (i) => data.labels[i]),
        );
        sum += loss;
        refRunning.push(sum / (s + 1));
        (["w1", "b1", "w2", "b2"] as const).forEach((k, i) =>
          sgdStep(states[i], grads[k], {
            lr,
            momentum,
            dampening: 0,
            nesterov: false,
            weightDecay: 0,
          })
        );
      }
    }

    const summary = await trainer.run();
    assert(summary.steps === EPOCHS * COUNT / BATCH, `ran ${summary.steps} steps`);
    assert(summary.submitsPerStep === 1, `submits per step: ${summary.submitsPerStep}`);
    assert(events.length >= EPOCHS, `only ${events.length} progress events arrived`);
    // Tolerance: f32 vs f64 over 200 momentum-SGD steps on a well-conditioned
    // problem; rounding (~1e-7 relative per op) grows slowly, so the running
    // mean loss agrees to 1e-3 relative (+1e-4 absolute near zero loss).
    for (const e of events) {
      const want = refRunning[e.globalStep - 1];
      const err = Math.abs(e.loss - want);
      assert(
        err <= 1e-4 + 1e-3 * Math.abs(want),
        `step ${e.globalStep}: loss ${e.loss} vs reference ${want}`,
      );
    }
    const first = refRunning[0], last = refRunning[refRunning.length - 1];
    assert(
      last < 0.5 * first,
      `reference did not learn (${first} → ${last}): the test would be vacuous`,
    );
    train.dispose();
    plan.arena.dispose();
  },
);
