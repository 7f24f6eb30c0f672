/**
 * The CNN of examples/fashion_cnn.yaml, written with the TypeScript builder.
 *
 * Run `deno task example` to train it (the same run as `deno task demo`,
 * built in TypeScript instead of loaded from YAML).
 * @module
 */
import {
  adamw,
  batchnorm2d,
  conv2d,
  cosineLr,
  flatten,
  linear,
  maxpool2d,
  model,
  relu,
  runSpec,
  schedule,
  train,
} from "../mod.ts";

/** The Fashion-MNIST CNN, validated; deep-equal to loading examples/fashion_cnn.yaml. */
export const fashionCnn = runSpec({
  model: model(
    [28, 28, 1],
    conv2d(16, 3, { name: "conv1", padding: 1, bias: false }),
    batchnorm2d({ name: "bn1" }),
    relu(),
    maxpool2d(2), // 28×28 → 14×14
    conv2d(32, 3, { name: "conv2", padding: 1, bias: false }),
    batchnorm2d({ name: "bn2" }),
    relu(),
    maxpool2d(2), // 14×14 → 7×7
    flatten(),
    linear(10, { name: "head" }),
  ),
  data: { dataset: "fashion-mnist", batch_size: 128 },
  optimizer: adamw({ lr: 2e-3, weight_decay: 0.05 }),
  schedule: schedule({
    epochs: 5,
    lr: cosineLr({ min_lr: 1e-5 }),
    warmup_steps: 100,
    unit: "steps", // the cosine curve moves every step
  }),
  run: { name: "fashion-cnn", log_every: 50 },
});

if (import.meta.main) {
  // deno run -P examples/train_fashion.ts (see deno.json's "example" task for the flags)
  const result = await train(fashionCnn);
  console.log(`test accuracy ${(100 * (result.finalEval?.accuracy ?? NaN)).toFixed(2)}%`);
}
