/**
 * The CNN of examples/fashion_cnn.yaml, written with the TypeScript builder.
 *
 * Run `deno task example` to train it (the same run as `deno task demo`,
 * built in TypeScript instead of loaded from YAML, in its own run directory
 * runs/fashion-cnn-ts).
 * @module
 */
import { parseArgs } from "node:util";
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
  RunDirError,
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
  // deno task example [--overwrite | --resume DIR] (see deno.json's "example" task for the flags).
  // Its own run directory: `deno task demo` trains the same network into runs/fashion-cnn.
  const usage = "usage: deno task example [--overwrite | --resume DIR]";
  let values: { overwrite?: boolean; resume?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        overwrite: { type: "boolean" },
        resume: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n${usage}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(`${usage}\n\nTrains the CNN above into runs/fashion-cnn-ts (like deno task demo).`);
    Deno.exit(0);
  }
  const spec = { ...fashionCnn, run: { ...fashionCnn.run, out_dir: "runs/fashion-cnn-ts" } };
  try {
    const result = await train(spec, {
      overwrite: values.overwrite,
      resume: values.resume,
      log: (line) => console.error(line),
    });
    const acc = result.complete?.accuracy ?? result.finalEval?.accuracy ?? NaN;
    console.log(`${result.evalSplit} accuracy ${(100 * acc).toFixed(2)}%`);
  } catch (e) {
    // A directory that holds a run already, a run without a checkpoint, …: one line.
    if (!(e instanceof RunDirError)) throw e;
    console.error(`error: ${e.message}`);
    Deno.exit(1);
  }
}
