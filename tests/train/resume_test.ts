/**
 * Exact resume: 2N steps straight give the same weights and optimizer state
 * as N steps, a checkpoint through disk, a fresh plan restored from it, and N
 * more steps.
 */
import { buildGraph } from "../../lib/graph/graph.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { adamwBK } from "../../lib/optim/adabk.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import { GpuSplit } from "../../lib/train/gpu_split.ts";
import type { TrainerEvent, TrainEvent } from "../../lib/train/events.ts";
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

const data = syntheticDataset({
  inputShape: [6, 6, 1],
  classes: 3,
  trainCount: 96,
  testCount: 16,
  seed: 4,
});
const BATCH = 16; // 6 steps per epoch
const layers = [
  {
    type: "conv2d",
    name: "conv",
    config: {
      out: 4,
      kernel: [3, 3] as [number, number],
      stride: [1, 1] as [number, number],
      padding: [1, 1] as [number, number],
      dilation: [1, 1] as [number, number],
      groups: 1,
      bias: true,
    },
  },
  { type: "batchnorm2d", name: "bn", config: { eps: 1e-5, momentum: 0.1 } },
  { type: "relu" },
  { type: "flatten" },
  { type: "dropout", name: "drop", config: { p: 0.2 } },
  { type: "linear", name: "fc", config: { out: 3, bias: true } },
];

function setup(gpu: Gpu, onEvent?: (e: TrainerEvent) => void) {
  const plan = buildPlan(gpu, buildGraph([6, 6, 1], layers), {
    batch: BATCH,
    seed: 9,
    optimizer: adamwBK({ lr: 1e-2, weightDecay: 0.1, statEvery: 2, rootEvery: 4 }),
  });
  const norm = { scale: 1, mean: [0], std: [1] };
  const train = new GpuSplit(gpu, "train", data.train, { size: 36, channels: 1 }, norm, plan, {
    seed: 9,
    pad: 1,
    flip: true,
    shape: [6, 6, 1],
  });
  const trainer = new Trainer({
    plan,
    train,
    epochs: 4,
    order: (e) => epochPermutation(data.train.count, 9, e),
    lr: (k) => 1e-2 * (1 - k / 40),
    seed: 9,
    logEvery: 3,
    evalEvery: 1,
    onEvent,
  });
  return { plan, train, trainer };
}

Deno.test(
  "resume is exact: 2N straight steps equal N + checkpoint + N (N = 9, mid-epoch)",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const dir = `.cache/test-resume-${crypto.randomUUID()}`;
    try {
      const straight = setup(gpu);
      await straight.trainer.run(18);
      const want = await readTensors(gpu, [...checkpointTensors(straight.plan).values()]);

      const first = setup(gpu);
      await first.trainer.run(9);
      await writeCheckpoint(dir, first.plan, { step: 9, epoch: 1 });
      const second = setup(gpu);
      const ckpt = await readLatestCheckpoint(dir);
      assertEquals(ckpt.meta.step, 9);
      restoreCheckpoint(second.plan, ckpt);
      second.trainer.resumeAt(9);
      await second.trainer.run(18);
      const got = await readTensors(gpu, [...checkpointTensors(second.plan).values()]);
      const names = [...checkpointTensors(second.plan).keys()];
      assert(
        names.some((n) => n.includes("kron.R_root")) &&
          names.some((n) => n.includes("running_var")),
        "state is covered",
      );
      // Same kernels, same order, same inputs: the results are bit-identical.
      got.forEach((g, i) => assertEquals(g, want[i], `tensor ${names[i]} differs after resume`));
      for (const s of [straight, first, second]) {
        s.train.dispose();
        s.plan.arena.dispose();
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test("a checkpoint of another model is refused with the tensors named", gpuTest, async () => {
  const gpu = await testGpu();
  const dir = `.cache/test-mismatch-${crypto.randomUUID()}`;
  try {
    const a = setup(gpu);
    await writeCheckpoint(dir, a.plan, { step: 0, epoch: 0 });
    const other = buildPlan(
      gpu,
      buildGraph([6, 6, 1], [{ type: "flatten" }, {
        type: "linear",
        name: "fc",
        config: { out: 3, bias: true },
      }]),
      { batch: BATCH, seed: 1 },
    );
    let msg = "";
    try {
      restoreCheckpoint(other, await readLatestCheckpoint(dir));
    } catch (e) {
      msg = (e as Error).message;
    }
    assert(msg.includes('"fc.weight" has shape') || msg.includes("is not in the model"), msg);
    a.train.dispose();
    a.plan.arena.dispose();
    other.arena.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test(
  "a training step is one submit; metrics are read back only at log points",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const events: TrainEvent[] = [];
    const s = setup(gpu, (e) => e.kind === "train" && events.push(e));
    const summary = await s.trainer.run(18);
    assertEquals(summary.steps, 18);
    assertEquals(summary.submitsPerStep, 1);
    // Stage timings ride on the same readback as the metrics.
    if (gpu.hasTimestamps) {
      const t = events[events.length - 1].stageMs!;
      assert(t.forward > 0 && t.backward > 0 && t.update > 0, `stage timings ${JSON.stringify(t)}`);
    }
    // logEvery = 3 with 6 steps per epoch: reads after steps 3 and 6 of each epoch.
    assertEquals(summary.readbacksPerStep, 1 / 3);
    s.train.dispose();
    s.plan.arena.dispose();
  },
);
