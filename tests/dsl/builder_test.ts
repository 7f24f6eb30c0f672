/**
 * The TypeScript builder produces exactly what the YAML front end produces:
 * each example file has a builder twin, and the two RunSpecs are deep-equal.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  adam,
  avgpool2d,
  batchnorm2d,
  constantLr,
  conv2d,
  dropout,
  flatten,
  gelu,
  globalAvgPool,
  linear,
  loadRunSpecFile,
  maxpool2d,
  model,
  multistepLr,
  named,
  relu,
  residual,
  runSpec,
  schedule,
  sequential,
  sgd,
  sgdm,
  sigmoid,
  SpecError,
  stepLr,
  tanh,
} from "../../dsl/mod.ts";
import { fashionCnn } from "../../examples/train_fashion.ts";

/** examples/fashion_mlp.yaml, rebuilt. */
function fashionMlp() {
  return runSpec({
    model: model(
      [784],
      linear(256, { name: "fc1" }),
      relu(),
      dropout(0.2),
      linear(128, { name: "fc2" }),
      relu(),
      linear(10, { name: "head" }),
    ),
    data: { dataset: "fashion-mnist", batch_size: 128, validation_split: 0.1 },
    optimizer: sgdm({ lr: 0.05, momentum: 0.9, weight_decay: 5e-4 }),
    schedule: schedule({ epochs: 10, lr: stepLr(4, { gamma: 0.2 }) }),
    run: { name: "fashion-mlp", seed: 1 },
  });
}

/** A ResNet basic block: conv-bn-relu-conv-bn (+ projection when `stride` > 1). */
function block(name: string, out: number, stride: number) {
  const body = [
    conv2d(out, 3, {
      name: "conv1",
      stride: stride > 1 ? stride : undefined,
      padding: 1,
      bias: false,
    }),
    batchnorm2d({ name: "bn1" }),
    relu(),
    conv2d(out, 3, { name: "conv2", padding: 1, bias: false }),
    batchnorm2d({ name: "bn2" }),
  ];
  const shortcut = stride > 1
    ? [conv2d(out, 1, { name: "proj", stride, bias: false }), batchnorm2d({ name: "bn" })]
    : undefined;
  return named(name, residual(body, shortcut));
}

/** examples/fashion_resnet.yaml, rebuilt. */
function fashionResnet() {
  return runSpec({
    model: model(
      [28, 28, 1],
      named(
        "stem",
        sequential(
          conv2d(32, 3, { name: "conv", padding: 1, bias: false }),
          batchnorm2d({ name: "bn" }),
          relu(),
        ),
      ),
      block("block1", 32, 1),
      relu(),
      block("block2", 64, 2),
      relu(),
      block("block3", 128, 2),
      relu(),
      globalAvgPool(),
      linear(10, { name: "head" }),
    ),
    data: {
      dataset: "fashion-mnist",
      batch_size: 128,
      augment: { random_crop: { size: 28, padding: 2 } },
    },
    optimizer: sgdm({ lr: 0.1, nesterov: true, weight_decay: 5e-4 }),
    schedule: schedule({ epochs: 20, lr: multistepLr([10, 15]), warmup_steps: 500 }),
    run: { name: "fashion-resnet", seed: 7, eval_every: 2 },
  });
}

Deno.test("builder and YAML give deep-equal RunSpecs for every example", async () => {
  const twins = {
    "fashion_mlp.yaml": fashionMlp(),
    "fashion_cnn.yaml": fashionCnn,
    "fashion_resnet.yaml": fashionResnet(),
  };
  const examples = [...Deno.readDirSync("examples")].map((d) => d.name).filter((n) =>
    n.endsWith(".yaml")
  );
  assertEquals(examples.sort(), Object.keys(twins).sort(), "every example YAML has a builder twin");
  for (const [file, built] of Object.entries(twins)) {
    assertEquals(built, await loadRunSpecFile(`examples/${file}`), file);
  }
});

Deno.test("builders make plain objects without undefined members", () => {
  assertEquals(linear(4), { type: "linear", out: 4 });
  assertEquals(conv2d(8, [3, 1], { stride: 2, name: undefined }), {
    type: "conv2d",
    out: 8,
    kernel: [3, 1],
    stride: 2,
  });
  assertEquals(dropout(), { type: "dropout" });
  assertEquals(maxpool2d(3, { stride: 2 }), { type: "maxpool2d", kernel: 3, stride: 2 });
  assertEquals(avgpool2d([2, 2]), { type: "avgpool2d", kernel: [2, 2] });
  assertEquals(residual([relu()]), { type: "residual", layers: [{ type: "relu" }] });
  assertEquals(residual([relu()], [tanh()], { name: "r" }), {
    type: "residual",
    name: "r",
    layers: [{ type: "relu" }],
    shortcut: [{ type: "tanh" }],
  });
  assertEquals(named("s", sequential(gelu(), sigmoid(), flatten())), {
    type: "sequential",
    name: "s",
    layers: [{ type: "gelu" }, { type: "sigmoid" }, { type: "flatten" }],
  });
  assertEquals(sgd({ lr: 0.1 }), { name: "sgd", lr: 0.1 });
  assertEquals(adam(), { name: "adam" });
  assertEquals(constantLr(), { type: "constant" });
  assertEquals(schedule({ steps: 5, lr: undefined }), { steps: 5 });
});

Deno.test("builder specs are validated with paths, like YAML", () => {
  const e = assertThrows(
    () =>
      runSpec({
        model: model([784], linear(0), named("a", relu()), named("a", relu())),
        data: { dataset: "fashion-mnist" },
        optimizer: sgdm({ lr: -1 }),
        schedule: schedule({ epochs: 1 }),
      }),
    SpecError,
  );
  assertEquals(e.issues.map((i) => i.path), [
    "model.layers[0].out",
    "model.layers[2].name",
    "optimizer.lr",
  ]);
  assert(e.message.startsWith("model.layers[0].out: must be >= 1, got 0\n"), e.message);
  // A spec whose only problem is a name clash.
  const e2 = assertThrows(
    () =>
      runSpec({
        model: model([784], named("a", relu()), named("a", linear(10))),
        data: { dataset: "fashion-mnist" },
        optimizer: sgd({ lr: 1 }),
        schedule: { epochs: 1 },
      }),
    SpecError,
  );
  assertEquals(
    e2.message,
    'model.layers[1].name: duplicate layer name "a" (also used by model.layers[0])',
  );
});
