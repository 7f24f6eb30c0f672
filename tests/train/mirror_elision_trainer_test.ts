/**
 * Mirror-refresh elision through the trainer (lib/train/trainer.ts): every
 * writer between refreshes that is not a recorded command runs as in a real
 * run. The batch gather, the dropout seed and the optimizer's uniforms
 * before each step, steps whose statistics and staggered roots stages do not
 * fire (`stagesAt`), evaluations between epochs on the same buffers, and a
 * checkpoint restored into a fresh plan mid-epoch. A residual net with a
 * projection shortcut, label smoothing and gradient clipping, trained with
 * elision and resumed, must end bit-identical to the same run straight
 * through without elision: same parameters, optimizer state, running
 * statistics and evaluation results.
 */
import { buildGraph, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildPlan, type Plan } from "../../lib/plan/plan.ts";
import { sgdmBK } from "../../lib/optim/adabk.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import { GpuSplit } from "../../lib/train/gpu_split.ts";
import type { EvalEvent, TrainerEvent } from "../../lib/train/events.ts";
import { Trainer } from "../../lib/train/trainer.ts";
import {
  checkpointTensors,
  readLatestCheckpoint,
  restoreCheckpoint,
  writeCheckpoint,
} from "../../lib/train/checkpoint.ts";
import { epochPermutation } from "../../lib/data/loader.ts";
import { syntheticDataset } from "../../lib/data/synthetic.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";
import { BN_CONFIG, conv } from "../plan/fusion_harness.ts";

const SHAPE = [6, 6, 2];
const data = syntheticDataset({
  inputShape: SHAPE,
  classes: 3,
  trainCount: 72,
  testCount: 20,
  seed: 8,
});
const BATCH = 12; // 6 steps per epoch, 2 epochs
const bn = (name: string): LayerSpec => ({ type: "batchnorm2d", name, config: BN_CONFIG });
const LAYERS: LayerSpec[] = [
  { type: "conv2d", name: "stem", config: conv(4) },
  bn("stem.bn"),
  { type: "relu" },
  {
    type: "residual",
    name: "r1",
    layers: [{ type: "conv2d", name: "c", config: conv(4) }, bn("bn"), { type: "relu" }, {
      type: "conv2d",
      name: "c2",
      config: conv(4),
    }, bn("bn2")],
  },
  { type: "relu" },
  { type: "maxpool2d", config: { kernel: [2, 2], stride: [2, 2], padding: [0, 0] } },
  {
    type: "residual",
    name: "r2",
    layers: [{ type: "conv2d", name: "c", config: conv(6) }, bn("bn")],
    shortcut: [{ type: "conv2d", name: "proj", config: conv(6, 1) }],
  },
  { type: "relu" },
  { type: "flatten" },
  { type: "dropout", name: "drop", config: { p: 0.25 } },
  { type: "linear", name: "fc", config: { out: 3, bias: true } },
];

function setup(gpu: Gpu, elideMirrors: boolean, events: EvalEvent[]) {
  const plan = buildPlan(gpu, buildGraph(SHAPE, LAYERS), {
    batch: BATCH,
    seed: 4,
    labelSmoothing: 0.1,
    clipGradNorm: 2,
    // Statistics every 2nd step, roots every 3rd staggered over the layers: most
    // steps run some of the Kronecker stages and skip others.
    optimizer: sgdmBK({ lr: 0.05, momentum: 0.9, statEvery: 2, rootEvery: 3, stagger: true }),
    elideMirrors,
  });
  const norm = { scale: 1, mean: [0, 0], std: [1, 1] };
  const sample = { size: 72, channels: 2 };
  const augment = { seed: 2, pad: 1, flip: true, shape: SHAPE };
  const train = new GpuSplit(gpu, "train", data.train, sample, norm, plan, augment);
  const test = new GpuSplit(gpu, "test", data.test, sample, norm, plan);
  const trainer = new Trainer({
    plan,
    train,
    test,
    epochs: 2,
    order: (e) => epochPermutation(data.train.count, 2, e),
    lr: (k) => 0.05 * (1 - k / 20),
    seed: 2,
    logEvery: 4,
    evalEvery: 1,
    onEvent: (e: TrainerEvent) => e.kind === "eval" && events.push(e),
  });
  return { plan, splits: [train, test], trainer };
}

const state = async (gpu: Gpu, plan: Plan) => {
  const named = [...checkpointTensors(plan)];
  const values = await readTensors(gpu, named.map(([, t]) => t));
  return new Map(named.map(([name], i) => [name, values[i]]));
};

Deno.test(
  "trainer: elided mirror refreshes, resumed from a checkpoint, end bit-identical to a full run",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const dir = `.cache/test-elision-${crypto.randomUUID()}`;
    const runs: ReturnType<typeof setup>[] = [];
    try {
      const fullEvents: EvalEvent[] = [];
      const full = setup(gpu, false, fullEvents);
      runs.push(full);
      await full.trainer.run(12);
      const want = await state(gpu, full.plan);

      const elidedEvents: EvalEvent[] = [];
      const first = setup(gpu, true, elidedEvents);
      runs.push(first);
      const copies = (p: Plan) =>
        p.stages.flatMap((s) => s.commands).filter((c) => c.kind === "copyToTexture").length;
      if (gpu.adapter.isFallbackAdapter) {
        assert(copies(first.plan) < copies(full.plan), "texture kernels: refreshes are dropped");
      }
      await first.trainer.run(8); // after an evaluation, mid-epoch 1, between two statistics steps
      await writeCheckpoint(dir, first.plan, { step: 8, epoch: 1 });
      const second = setup(gpu, true, elidedEvents);
      runs.push(second);
      restoreCheckpoint(second.plan, await readLatestCheckpoint(dir));
      second.trainer.resumeAt(8);
      await second.trainer.run(12);
      const got = await state(gpu, second.plan);

      assert([...want.keys()].some((n) => n.includes("kron.R_root")), "roots are compared");
      assertEquals([...got.keys()], [...want.keys()]);
      for (const [name, w] of want) assertEquals(got.get(name), w, `${name} differs`);
      const evals = (es: EvalEvent[]) => es.map((e) => [e.epoch, e.globalStep, e.loss, e.accuracy]);
      assertEquals(evals(elidedEvents), evals(fullEvents));
      assertEquals(fullEvents.length, 2);
    } finally {
      for (const r of runs) {
        for (const s of r.splits) s.dispose();
        r.plan.arena.dispose();
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
