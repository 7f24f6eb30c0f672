/**
 * Every optimizer is reachable by name from YAML and the builder, compiles,
 * and trains a tiny synthetic problem to a lower loss on the GPU.
 */
import { parseRunSpecYaml } from "../../dsl/yaml.ts";
import * as b from "../../dsl/builder.ts";
import { compileOptimizer } from "../../dsl/compile.ts";
import { train } from "../../lib/run/train.ts";
import type { TrainEvent } from "../../lib/train/events.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";

const NAMES = [
  ["sgd", b.sgd({ lr: 0.05 })],
  ["sgdm", b.sgdm({ lr: 0.05 })],
  ["adam", b.adam({ lr: 0.01 })],
  ["adamw", b.adamw({ lr: 0.01 })],
  ["adagrad", b.adagrad({ lr: 0.05 })],
  ["radam", b.radam({ lr: 0.05 })], // its first steps are plain momentum: needs a larger lr
  ["adabelief", b.adabelief({ lr: 0.01 })],
  ["sgdm_bk", b.sgdmBK({ lr: 0.05, stat_every: 2, root_every: 4 })],
  ["adamw_bk", b.adamwBK({ lr: 0.01, stat_every: 2, root_every: 4 })],
  ["wsgdm", b.wsgdm({ lr: 0.05, stat_every: 2, root_every: 4 })],
  ["wadam", b.wadam({ lr: 0.01, stat_every: 2, root_every: 4 })],
  ["shampoo", b.shampoo({ lr: 0.02, stat_every: 1, root_every: 4 })],
  ["kfac", b.kfac({ lr: 0.05, stat_every: 2, root_every: 4, root_method: "converged" })],
] as const;

function yamlFor(opt: Record<string, unknown>): string {
  const fields = Object.entries(opt).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ");
  return `model:
  input: [4, 4, 1]
  layers:
    - { type: conv2d, name: conv, out: 4, kernel: 3, padding: 1 }
    - { type: relu }
    - { type: flatten }
    - { type: linear, name: fc, out: 3 }
data:
  dataset: synthetic
  batch_size: 16
  synthetic: { samples: 96, classes: 3, shape: [4, 4, 1], seed: 1 }
optimizer: { ${fields} }
schedule: { epochs: 4 }
run: { log_every: 1 }
`;
}

Deno.test("every optimizer parses from YAML exactly as the builder writes it", () => {
  for (const [name, opt] of NAMES) {
    const fromYaml = parseRunSpecYaml(yamlFor(opt as Record<string, unknown>), `${name}.yaml`);
    const fromBuilder = b.runSpec({
      model: b.model(
        [4, 4, 1],
        b.conv2d(4, 3, { name: "conv", padding: 1 }),
        b.relu(),
        b.flatten(),
        b.linear(3, { name: "fc" }),
      ),
      data: {
        dataset: "synthetic",
        batch_size: 16,
        synthetic: { samples: 96, classes: 3, shape: [4, 4, 1], seed: 1 },
      },
      optimizer: opt,
      schedule: { epochs: 4 },
      run: { log_every: 1 },
    });
    assertEquals(fromYaml, fromBuilder, name);
    assertEquals(compileOptimizer(fromYaml.optimizer).name, name);
  }
});

Deno.test(
  "every optimizer lowers the training loss of a tiny problem on the GPU",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    for (const [name, opt] of NAMES) {
      const spec = parseRunSpecYaml(yamlFor(opt as Record<string, unknown>), `${name}.yaml`);
      const losses: number[] = [];
      const result = await train(spec, {
        gpu,
        writeRunDir: false,
        progress: false,
        onEvent: (e) => e.kind === "train" && e.step === 1 && losses.push((e as TrainEvent).loss),
      });
      // First-step loss of each epoch: ln 3 ≈ 1.10 at the start; four epochs of
      // a separable problem must bring it clearly down (a broken update would not).
      assert(losses.length === 4, `${name}: ${losses.length} epoch starts seen`);
      assert(
        result.finalEval && Number.isFinite(result.finalEval.loss),
        `${name}: no finite evaluation`,
      );
      assert(
        losses[3] < 0.8 * losses[0],
        `${name}: loss ${losses.map((l) => l.toFixed(3)).join(" → ")}`,
      );
    }
  },
);
