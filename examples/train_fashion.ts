/**
 * The CNN of examples/fashion_cnn.yaml, written with the TypeScript builder.
 *
 * Run `deno run examples/train_fashion.ts` to print the resolved RunSpec
 * (every default filled in). The trainer that consumes it lands next; this
 * script will then pass the same spec to it.
 * @module
 */
import {
  adamw,
  batchnorm2d,
  conv2d,
  cosineLr,
  dropout,
  flatten,
  linear,
  maxpool2d,
  model,
  relu,
  runSpec,
  schedule,
} from "../dsl/mod.ts";

/** The Fashion-MNIST CNN, validated; deep-equal to loading examples/fashion_cnn.yaml. */
export const fashionCnn = runSpec({
  model: model(
    [28, 28, 1],
    conv2d(32, 3, { name: "conv1", padding: 1, bias: false }),
    batchnorm2d({ name: "bn1" }),
    relu(),
    maxpool2d(2), // 28×28 → 14×14
    conv2d(64, 3, { name: "conv2", padding: 1, bias: false }),
    batchnorm2d({ name: "bn2" }),
    relu(),
    maxpool2d(2), // 14×14 → 7×7
    flatten(),
    dropout(0.3),
    linear(128, { name: "fc" }),
    relu(),
    linear(10, { name: "head" }),
  ),
  data: {
    dataset: "fashion-mnist",
    batch_size: 128,
    augment: { random_crop: { size: 28, padding: 2 }, horizontal_flip: true },
  },
  loss: { type: "cross_entropy", label_smoothing: 0.1 },
  optimizer: adamw({ lr: 2e-3, weight_decay: 0.05, clip_grad_norm: 5 }),
  schedule: schedule({
    epochs: 15,
    lr: cosineLr({ min_lr: 1e-5 }),
    warmup_steps: 200,
    unit: "steps", // the cosine curve moves every step
  }),
  run: { name: "fashion-cnn", log_every: 100 },
});

if (import.meta.main) {
  console.log(JSON.stringify(fashionCnn, null, 2));
}
