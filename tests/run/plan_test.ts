/**
 * One function builds the plan options of every entry point (train, eval,
 * inspect, profile): a training plan clips and smooths as the spec says, an
 * evaluation plan has no optimizer, and `inspect` shows the plan training
 * runs, clipping stage included.
 */
import { inspect } from "../../cli/inspect.ts";
import { loadRunSpecFile } from "../../dsl/yaml.ts";
import { parseOverride } from "../../dsl/overrides.ts";
import { planOptions } from "../../lib/run/plan.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest } from "../util.ts";

const TINY = "tests/fixtures/cli/tiny.yaml";
const CLIPPED = [
  "optimizer.clip_grad_norm=0.5",
  "loss.label_smoothing=0.1",
  "loss.type=cross_entropy",
];

Deno.test("planOptions: training clips and smooths as the spec says; evaluation has no optimizer", async () => {
  const spec = await loadRunSpecFile(TINY, CLIPPED.map(parseOverride));
  const t = planOptions(spec, "train");
  assertEquals(
    [t.batch, t.seed, t.clipGradNorm, t.labelSmoothing, t.optimizer?.name],
    [16, 0, 0.5, 0.1, "adamw_bk"],
  );
  assertEquals(planOptions(spec, "eval"), { batch: 16, seed: 0, labelSmoothing: 0.1 });
  const plain = planOptions(await loadRunSpecFile(TINY), "train");
  assertEquals([plain.clipGradNorm, plain.labelSmoothing], [undefined, 0]);
});

Deno.test(
  "inspect shows the gradient-clipping stage a clipped spec trains with",
  gpuTest,
  async () => {
    // One inspect (one device): the planOptions test above covers a spec without clipping.
    const text = await inspect(await loadRunSpecFile(TINY, CLIPPED.map(parseOverride)));
    const stages = text.split("\n").find((l) => l.startsWith("stages: "))!;
    assert(/\bclip\b/.test(stages), stages);
  },
);
