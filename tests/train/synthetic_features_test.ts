/**
 * A `synthetic` dataset of feature vectors (`shape: [features]`, which the
 * schema and docs allow) trains an MLP end to end, from a YAML file.
 */
import { parseRunSpecYaml } from "../../dsl/yaml.ts";
import { train } from "../../dsl/run.ts";
import { syntheticDataset } from "../../lib/data/synthetic.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";

const MLP_ON_FEATURES = `
model:
  input: [12]
  layers:
    - { type: linear, name: hidden, out: 16 }
    - { type: relu }
    - { type: linear, name: out, out: 3 }
data:
  dataset: synthetic
  batch_size: 16
  synthetic: { samples: 96, classes: 3, shape: [12], seed: 2 }
optimizer: { name: sgdm, lr: 0.1 }
schedule: { epochs: 4 }
run: { seed: 1 }
`;

Deno.test("synthetic data of shape [features]: one row of one channel, seeded", () => {
  const ds = syntheticDataset({
    inputShape: [12],
    classes: 3,
    trainCount: 9,
    testCount: 3,
    seed: 2,
  });
  assertEquals(ds.inputShape, [12]);
  assertEquals(ds.train.images.length, 9 * 12);
  assertEquals(ds.normalization.mean.length, 1);
  assertEquals(
    ds,
    syntheticDataset({ inputShape: [12], classes: 3, trainCount: 9, testCount: 3, seed: 2 }),
  );
});

Deno.test("an MLP trains on synthetic feature vectors from a model file", gpuTest, async () => {
  const spec = parseRunSpecYaml(MLP_ON_FEATURES, "features.yaml");
  const gpu = await testGpu();
  const losses: number[] = [];
  const result = await train(spec, {
    gpu,
    writeRunDir: false,
    progress: false,
    onEvent: (e) => {
      if (e.kind === "train") losses.push(e.loss);
    },
  });
  assertEquals(result.steps, 4 * 6);
  // Prototype distance ≈ √12 against unit noise: an MLP separates 3 classes well.
  const acc = result.finalEval?.accuracy ?? 0;
  assert(acc > 0.8, `test accuracy ${acc} (chance 0.33)`);
  assert(losses.at(-1)! < losses[0], `loss ${losses[0]} → ${losses.at(-1)}`);
});
