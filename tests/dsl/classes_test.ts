/**
 * The model's last layer must give one output per class of the data: fewer
 * (7 for fashion-mnist's 10) or more (12) are refused at load time, with the
 * same issue from a YAML file (at the layer's line) and from the builder, and
 * by `train` before any GPU work for a spec that skipped both front ends.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import {
  flatten,
  linear,
  model,
  named,
  parseRunSpec,
  parseRunSpecYaml,
  relu,
  runSpec,
  sequential,
  sgd,
  SpecError,
} from "../../dsl/mod.ts";
import { train } from "../../dsl/run.ts";
import { ShapeError } from "../../lib/ops/types.ts";
import { syntheticDataset } from "../../lib/data/synthetic.ts";

const yaml = (out: number) =>
  `model:
  input: [784]
  layers:
    - { type: linear, name: hidden, out: 32 }
    - { type: relu }
    - { type: linear, name: head, out: ${out} }
data: { dataset: fashion-mnist }
optimizer: { name: sgd, lr: 0.1 }
schedule: { epochs: 1 }
`;

for (const [out, what] of [[7, "fewer"], [12, "more"]] as const) {
  Deno.test(`${what} outputs than classes: refused at the last layer's line`, () => {
    const e = assertThrows(() => parseRunSpecYaml(yaml(out), "mlp.yaml"), SpecError);
    assertEquals(e.issues.length, 1, e.message);
    const [issue] = e.issues;
    assertEquals([issue.path, issue.line, issue.col], ["model.layers[2]", 6, 7]);
    assertEquals(
      e.message,
      `mlp.yaml:6:7: model.layers[2]: layer "head" (linear): the last layer gives ${out} ` +
        "outputs but dataset fashion-mnist has 10 classes; the model must end with one output per class",
    );
  });

  Deno.test(`${what} outputs than classes: the builder refuses the same way`, () => {
    const spec = {
      model: model([784], linear(32, { name: "hidden" }), relu(), linear(out, { name: "head" })),
      data: { dataset: "fashion-mnist" as const },
      optimizer: sgd({ lr: 0.1 }),
      schedule: { epochs: 1 },
    };
    const e = assertThrows(() => runSpec(spec), SpecError);
    assertEquals(e.issues.map((i) => i.path), ["model.layers[2]"]);
    assert(e.message.includes(`gives ${out} outputs`) && e.message.includes("10 classes"));
  });
}

Deno.test("the class count of synthetic data is its own; nested last layers are found", () => {
  const spec = (out: number) => ({
    model: model([4, 4, 1], flatten(), named("tail", sequential(linear(out, { name: "fc" })))),
    data: {
      dataset: "synthetic" as const,
      synthetic: { samples: 8, classes: 3, shape: [4, 4, 1] },
    },
    optimizer: sgd({ lr: 0.1 }),
    schedule: { epochs: 1 },
  });
  assertEquals(runSpec(spec(3)).model.layers.length, 2);
  const e = assertThrows(() => runSpec(spec(4)), SpecError);
  assertEquals(e.issues.map((i) => i.path), ["model.layers[1].layers[0]"]);
  assert(e.message.includes('layer "tail.fc" (linear)') && e.message.includes("3 classes"));
});

Deno.test("train refuses a dataset whose class count the model does not fit, before the GPU", async () => {
  // parseRunSpec validates the schema only, as a program holding a spec object might.
  const spec = parseRunSpec({
    model: { input: [2, 2, 1], layers: [{ type: "flatten" }, { type: "linear", out: 3 }] },
    data: { dataset: "synthetic", synthetic: { samples: 8, classes: 3, shape: [2, 2, 1] } },
    optimizer: { name: "sgd", lr: 0.1 },
    schedule: { epochs: 1 },
  });
  const dataset = syntheticDataset({
    inputShape: [2, 2, 1],
    classes: 5,
    trainCount: 10,
    testCount: 5,
    seed: 0,
  });
  const noGpu = { acquire: { simulateUnavailable: true }, writeRunDir: false, progress: false };
  const e = await assertRejects(() => train(spec, { ...noGpu, dataset }), ShapeError);
  assert(e.message.includes("5 classes"), e.message);
});
