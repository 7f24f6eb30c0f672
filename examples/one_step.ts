/**
 * One training step of a two-layer perceptron, written directly against the
 * library: no DSL, no plan, no trainer. Read it top to bottom to follow a
 * step from tensors to the WGSL that runs.
 *
 * 1. Tensors (lib/gpu): every buffer is allocated once by a `BufferArena`; a
 *    `Tensor` is a row-major f32 shape over one of them.
 * 2. Forward (lib/kernels/matmul): `h = relu(x·W1ᵀ + b1)` is one matmul whose
 *    fused epilogue adds the bias and applies the ReLU; `logits = h·W2ᵀ + b2`.
 * 3. Loss (lib/kernels/loss): softmax cross-entropy writes the gradient of
 *    the mean loss, dLogits = (softmax − onehot)/B, and adds the batch's loss
 *    to a one-value sum (read back once, after the step).
 * 4. Backward: weight gradients are matmuls with a transposed operand
 *    (dW2 = dLogitsᵀ·h), bias gradients column sums (db2 = Σ_rows dLogits),
 *    dh = dLogits·W2, and the ReLU's gradient masks dh where h = 0.
 * 5. Optimizer (lib/optim): `Optimizer` wraps buffers it did not allocate
 *    and records its update into the same command encoder.
 *
 * Every kernel builder returns `Command`s (pipelines and bind groups made
 * once, up front); `encode` records them into one encoder and the step is one
 * submit. To read the WGSL of every kernel as it is compiled:
 * `ADABK_DUMP_WGSL=1 deno task one-step`.
 *
 * tests/examples/one_step_test.ts checks this step against a float64
 * reference (tests/ref/mlp.ts and tests/ref/optim.ts).
 * @module
 */

import { acquireGpu, type Gpu } from "../lib/gpu/device.ts";
import { type Command, encode, submit } from "../lib/gpu/commands.ts";
import { BufferArena, type Tensor } from "../lib/gpu/tensor.ts";
import { readTensor, writeTensor } from "../lib/gpu/transfer.ts";
import { matmul } from "../lib/kernels/matmul/matmul.ts";
import { softmaxCrossEntropy } from "../lib/kernels/loss/loss.ts";
import { reduceCols } from "../lib/kernels/reduce/reduce.ts";
import { unaryBackward } from "../lib/kernels/elementwise/elementwise.ts";
import { Optimizer, sgd } from "../lib/optim/mod.ts";
import { Rng } from "../lib/util/rng.ts";

/** Sizes of the example: a batch of 16 samples with 8 features, 32 hidden units, 4 classes. */
export const DIMS = { batch: 16, inF: 8, hidden: 32, classes: 4 } as const;

/** The perceptron's parameters, PyTorch layouts: w1 [hidden, in], b1 [hidden], w2 [classes, hidden], b2 [classes]. */
export interface MlpWeights {
  /** First layer's weight [hidden, in]. */
  w1: Float32Array;
  /** First layer's bias [hidden]. */
  b1: Float32Array;
  /** Second layer's weight [classes, hidden]. */
  w2: Float32Array;
  /** Second layer's bias [classes]. */
  b2: Float32Array;
}

/** One batch: inputs [batch, in] and labels [batch] as f32 class indices. */
export interface Batch {
  /** Inputs, row-major [batch, in]. */
  x: Float32Array;
  /** Class of each row, as an f32 index (what the loss kernel reads). */
  labels: Float32Array;
}

/** A seeded batch: class c is a Gaussian blob around its own random centre. */
export function syntheticBatch(seed: number): Batch {
  const { batch, inF, classes } = DIMS;
  const rng = new Rng(seed);
  const centres = Array.from(
    { length: classes },
    () => Array.from({ length: inF }, () => rng.normal()),
  );
  const x = new Float32Array(batch * inF);
  const labels = new Float32Array(batch);
  for (let b = 0; b < batch; b++) {
    const c = b % classes;
    labels[b] = c;
    for (let i = 0; i < inF; i++) x[b * inF + i] = 2 * centres[c][i] + 0.5 * rng.normal();
  }
  return { x, labels };
}

/** Seeded weights: normal with standard deviation 1/√fan_in, zero biases. */
export function initialWeights(seed: number): MlpWeights {
  const { inF, hidden, classes } = DIMS;
  const rng = new Rng(seed, 1);
  const normal = (n: number, fanIn: number) =>
    Float32Array.from({ length: n }, () => rng.normal() / Math.sqrt(fanIn));
  return {
    w1: normal(hidden * inF, inF),
    b1: new Float32Array(hidden),
    w2: normal(classes * hidden, hidden),
    b2: new Float32Array(classes),
  };
}

/** What {@link oneStep} measured. */
export interface StepResult {
  /** Mean loss of the batch before the update. */
  loss: number;
  /** Mean loss of the same batch with the updated weights. */
  lossAfter: number;
  /** The weights after the update. */
  weights: MlpWeights;
  /** Labels of the commands of the step, in order (the step's structure). */
  commands: string[];
}

/**
 * Runs one SGD-with-momentum step of the perceptron on `batch` from
 * `weights` (momentum's buffer starts at the first gradient, as in PyTorch).
 */
export async function oneStep(
  gpu: Gpu,
  weights: MlpWeights,
  batch: Batch,
  opts: { lr: number; momentum: number },
): Promise<StepResult> {
  const { batch: B, inF: IN, hidden: H, classes: C } = DIMS;
  const arena = new BufferArena(gpu.device);
  try {
    // 1. Tensors: inputs and parameters written once; everything else is zero.
    const tensor = (name: string, shape: number[], data?: Float32Array): Tensor => {
      const t = arena.tensor(name, shape);
      if (data) writeTensor(gpu, t, data);
      return t;
    };
    const x = tensor("x", [B, IN], batch.x);
    const labels = tensor("labels", [B], batch.labels);
    const w1 = tensor("fc1.weight", [H, IN], weights.w1);
    const b1 = tensor("fc1.bias", [H], weights.b1);
    const w2 = tensor("fc2.weight", [C, H], weights.w2);
    const b2 = tensor("fc2.bias", [C], weights.b2);
    const h = tensor("h", [B, H]);
    const logits = tensor("logits", [B, C]);
    const dLogits = tensor("dLogits", [B, C]);
    const dh = tensor("dh", [B, H]);
    const [dW1, db1, dW2, db2] = [w1, b1, w2, b2].map((p) =>
      tensor(`${p.name}.grad`, [...p.shape])
    );
    const lossSum = tensor("lossSum", [1]);

    // 2. Forward. W is stored [out, in], so each layer multiplies by op(W) = Wᵀ (transB).
    const forward: Command[] = [
      ...matmul(gpu, {
        label: "fc1",
        a: x,
        b: w1,
        out: h,
        m: B,
        n: H,
        k: IN,
        transB: true,
        bias: b1,
        activation: "relu",
      }),
      ...matmul(gpu, {
        label: "fc2",
        a: h,
        b: w2,
        out: logits,
        m: B,
        n: C,
        k: H,
        transB: true,
        bias: b2,
      }),
    ];

    // 3. Loss: dLogits for backward, Σ loss into lossSum (cleared first).
    const loss: Command[] = [
      { kind: "clear", label: "lossSum.clear", dst: lossSum },
      ...softmaxCrossEntropy(gpu, {
        logits,
        labels,
        batch: B,
        classes: C,
        dLogits,
        lossSum,
        arena,
      }),
    ];

    // 4. Backward, layer 2 then layer 1.
    const backward: Command[] = [
      // dW2[C, H] = dLogitsᵀ[C, B] · h[B, H]
      ...matmul(gpu, {
        label: "fc2.dW",
        a: dLogits,
        b: h,
        out: dW2,
        m: C,
        n: H,
        k: B,
        transA: true,
      }),
      ...reduceCols(gpu, { op: "sum", x: dLogits, rows: B, cols: C, out: db2, arena }),
      // dh[B, H] = dLogits[B, C] · W2[C, H]
      ...matmul(gpu, { label: "fc2.dX", a: dLogits, b: w2, out: dh, m: B, n: H, k: C }),
      // ReLU: h > 0 exactly where its input was > 0, so h itself gives the mask.
      ...unaryBackward(gpu, { op: "relu", x: h, dy: dh, dx: dh }),
      // dW1[H, IN] = dhᵀ[H, B] · x[B, IN]
      ...matmul(gpu, { label: "fc1.dW", a: dh, b: x, out: dW1, m: H, n: IN, k: B, transA: true }),
      ...reduceCols(gpu, { op: "sum", x: dh, rows: B, cols: H, out: db1, arena }),
    ];

    // 5. The optimizer sees plain GPU buffers, as it would in anyone's WebGPU code.
    const optimizer = new Optimizer(gpu.device, sgd(opts), [
      { name: "fc1.weight", value: w1.buffer, grad: dW1.buffer, shape: [H, IN] },
      { name: "fc1.bias", value: b1.buffer, grad: db1.buffer, shape: [H], biasOf: "fc1.weight" },
      { name: "fc2.weight", value: w2.buffer, grad: dW2.buffer, shape: [C, H] },
      { name: "fc2.bias", value: b2.buffer, grad: db2.buffer, shape: [C], biasOf: "fc2.weight" },
    ]);
    try {
      // The step: one encoder, one submit, nothing read back in between.
      const step = [...forward, ...loss, ...backward];
      const encoder = gpu.device.createCommandEncoder({ label: "one step" });
      encode(encoder, step);
      optimizer.record(encoder);
      gpu.device.queue.submit([encoder.finish()]);
      const before = (await readTensor(gpu, lossSum))[0] / B;

      // The same batch again, forward and loss only, with the updated weights.
      submit(gpu, [...forward, ...loss], "loss after");
      const after = (await readTensor(gpu, lossSum))[0] / B;
      gpu.checkAlive();
      const [nw1, nb1, nw2, nb2] = await Promise.all(
        [w1, b1, w2, b2].map((t) => readTensor(gpu, t)),
      );
      return {
        loss: before,
        lossAfter: after,
        weights: { w1: nw1, b1: nb1, w2: nw2, b2: nb2 },
        commands: [...step.map((c) => `${c.kind} ${c.label}`), "optimizer update"],
      };
    } finally {
      optimizer.dispose();
    }
  } finally {
    arena.dispose();
  }
}

if (import.meta.main) {
  const gpu = await acquireGpu();
  const r = await oneStep(gpu, initialWeights(1), syntheticBatch(2), { lr: 0.1, momentum: 0.9 });
  console.log(`adapter: ${gpu.adapter.description}`);
  console.log(`the step, in order:\n  ${r.commands.join("\n  ")}`);
  console.log(`loss ${r.loss.toFixed(4)} → ${r.lossAfter.toFixed(4)} after one SGD step`);
  console.log("(ADABK_DUMP_WGSL=1 prints the WGSL of every kernel as it is compiled)");
  gpu.dispose();
}
