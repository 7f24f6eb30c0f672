/**
 * Training-step time of two small networks, ours next to TensorFlow.js
 * WebGPU doing the same step (forward, softmax cross-entropy, backward, Adam
 * update; TF.js has no AdamW, so the peer runs Adam) on the same adapter, in
 * the same process, on pre-made batches.
 *
 * - MLP 784-256-10, batch 128, AdamW.
 * - CNN: conv 3×3 1→16, max-pool 2, conv 3×3 16→32, max-pool 2, linear → 10
 *   (28×28×1 input), batch 64, AdamW.
 * @module
 */

import type { Gpu } from "../../lib/gpu/device.ts";
import { buildGraph, type LayerSpec } from "../../lib/graph/graph.ts";
import { buildTunedPlan } from "../../lib/plan/tune.ts";
import { stagesAt } from "../../lib/gpu/stage.ts";
import { encode } from "../../lib/gpu/commands.ts";
import { writeTensor } from "../../lib/gpu/transfer.ts";
import { adamw } from "../../lib/optim/first_order.ts";
import { Rng } from "../../lib/util/rng.ts";
import { type BenchRow, timeCommands, timePeer } from "../harness.ts";

// deno-lint-ignore no-explicit-any
type Tf = any;

const conv = (out: number) => ({
  out,
  kernel: [3, 3],
  stride: [1, 1],
  padding: [1, 1],
  dilation: [1, 1],
  groups: 1,
  bias: true,
});
const pool = { kernel: [2, 2], stride: [2, 2], padding: [0, 0] };

interface Net {
  name: string;
  input: number[];
  batch: number;
  layers: LayerSpec[];
  /** The same network in TF.js: returns the logits of x. */
  peer: (tf: Tf) => { vars: unknown[]; logits: (x: unknown) => unknown };
}

const NETS: Net[] = [
  {
    name: "MLP 784-256-10",
    input: [784],
    batch: 128,
    layers: [
      { type: "linear", name: "fc1", config: { out: 256, bias: true } },
      { type: "relu" },
      { type: "linear", name: "fc2", config: { out: 10, bias: true } },
    ],
    peer: (tf) => {
      const w1 = tf.variable(tf.randomNormal([784, 256], 0, 0.05));
      const b1 = tf.variable(tf.zeros([256]));
      const w2 = tf.variable(tf.randomNormal([256, 10], 0, 0.05));
      const b2 = tf.variable(tf.zeros([10]));
      return {
        vars: [w1, b1, w2, b2],
        logits: (x) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2),
      };
    },
  },
  {
    name: "CNN conv16-pool-conv32-pool-linear",
    input: [28, 28, 1],
    batch: 64,
    layers: [
      { type: "conv2d", name: "c1", config: conv(16) },
      { type: "relu" },
      { type: "maxpool2d", config: pool },
      { type: "conv2d", name: "c2", config: conv(32) },
      { type: "relu" },
      { type: "maxpool2d", config: pool },
      { type: "flatten" },
      { type: "linear", name: "fc", config: { out: 10, bias: true } },
    ],
    peer: (tf) => {
      const k1 = tf.variable(tf.randomNormal([3, 3, 1, 16], 0, 0.1));
      const c1 = tf.variable(tf.zeros([16]));
      const k2 = tf.variable(tf.randomNormal([3, 3, 16, 32], 0, 0.1));
      const c2 = tf.variable(tf.zeros([32]));
      const w = tf.variable(tf.randomNormal([7 * 7 * 32, 10], 0, 0.02));
      const b = tf.variable(tf.zeros([10]));
      return {
        vars: [k1, c1, k2, c2, w, b],
        logits: (x) => {
          let h = tf.maxPool(tf.relu(tf.add(tf.conv2d(x, k1, 1, "same"), c1)), 2, 2, "valid");
          h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, k2, 1, "same"), c2)), 2, 2, "valid");
          return tf.add(tf.matMul(tf.reshape(h, [-1, 7 * 7 * 32]), w), b);
        },
      };
    },
  },
];

/** Step-time rows for both networks. */
export async function stepsSection(
  gpu: Gpu,
  tf: Tf | undefined,
  o: { quick?: boolean } = {},
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const net of NETS) {
    // Built as training builds it: tuned on hardware (run.tune: auto).
    const { plan } = await buildTunedPlan(gpu, buildGraph(net.input, net.layers), {
      batch: net.batch,
      seed: 0,
      optimizer: adamw({ lr: 1e-3 }),
    }, { mode: "auto", log: (line) => console.error(`  ${net.name}: ${line}`) });
    const r = new Rng(2);
    writeTensor(gpu, plan.input, Float32Array.from({ length: plan.input.size }, () => r.normal()));
    writeTensor(gpu, plan.labels, Float32Array.from({ length: net.batch }, (_, i) => i % 10));
    const enc = gpu.device.createCommandEncoder();
    encode(enc, plan.init);
    gpu.device.queue.submit([enc.finish()]);
    plan.optimizer!.prepareStep(1, 1e-3);
    const ms = await timeCommands(
      gpu,
      stagesAt(plan.stages, 1).flatMap((s) => s.commands),
      o.quick ? { samples: 3 } : {},
    );
    plan.arena.dispose();
    let peerMs: number | undefined;
    if (tf) {
      const model = net.peer(tf);
      const x = tf.randomNormal([net.batch, ...net.input]);
      const y = tf.oneHot(
        tf.tensor1d(Array.from({ length: net.batch }, (_, i) => i % 10), "int32"),
        10,
      );
      const opt = tf.train.adam(1e-3);
      peerMs = await timePeer(
        tf,
        () => opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.logits(x)), true),
        {
          samples: o.quick ? 1 : 3,
          minBatchMs: o.quick ? 200 : 600,
        },
      );
      tf.dispose([x, y, ...model.vars]);
      opt.dispose();
    }
    rows.push({
      group: "train step",
      name: `${net.name}, AdamW (peer: Adam)`,
      shape: `batch ${net.batch}`,
      ms,
      peerMs,
      speedup: peerMs ? peerMs / ms : undefined,
      note: "forward + loss + backward + update, one submit",
    });
  }
  return rows;
}
