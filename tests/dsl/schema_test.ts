/**
 * The RunSpec schema on plain objects: the documented defaults, strictness,
 * and the cross-field rules, each with the exact path of the issue.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { parseRunSpec, type RunSpecInput, SpecError } from "../../dsl/mod.ts";

/** A valid spec with only the required fields; tests override pieces of it. */
function minimal(): RunSpecInput {
  return {
    model: { input: [784], layers: [{ type: "linear", out: 10 }] },
    data: { dataset: "fashion-mnist" },
    optimizer: { name: "sgdm", lr: 0.05 },
    schedule: { epochs: 5 },
  };
}

/** Parses `spec`, expecting failure; returns the issues as "path: message" strings. */
function issuesOf(spec: unknown): string[] {
  const e = assertThrows(() => parseRunSpec(spec), SpecError);
  return e.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
}

/** Expects exactly one issue at `path` whose message contains `fragment`. */
function expectIssue(spec: unknown, path: string, fragment: string): void {
  const issues = issuesOf(spec);
  assertEquals(issues.length, 1, `expected one issue, got:\n${issues.join("\n")}`);
  assert(
    issues[0].startsWith(`${path}: `) && issues[0].includes(fragment),
    `expected "${path}: …${fragment}…", got "${issues[0]}"`,
  );
}

Deno.test("minimal spec: every documented default is filled in", () => {
  // Written out by hand from docs/yaml-reference.md, not derived from the schema.
  assertEquals(parseRunSpec(minimal()), {
    model: { input: [784], layers: [{ type: "linear", out: 10, bias: true }] },
    data: {
      dataset: "fashion-mnist",
      batch_size: 128,
      shuffle: true,
      validation_split: 0,
      normalize: { mean: [0.2860], std: [0.3530] },
    },
    loss: { type: "cross_entropy", label_smoothing: 0 },
    optimizer: {
      name: "sgdm",
      lr: 0.05,
      momentum: 0.9,
      nesterov: false,
      dampening: 0,
      weight_decay: 0,
    },
    schedule: { epochs: 5, lr: { type: "constant" }, warmup_steps: 0, unit: "epochs" },
    run: { name: "run", seed: 0, eval_every: 1, log_every: 50, out_dir: "runs/run", tune: "auto" },
  });
});

Deno.test("layer defaults, including stride = kernel for pooling", () => {
  const spec = minimal();
  spec.model = {
    input: [28, 28, 1],
    layers: [
      { type: "conv2d", out: 4, kernel: [3, 5] },
      { type: "batchnorm2d" },
      { type: "maxpool2d", kernel: [2, 3] },
      { type: "avgpool2d", kernel: 2, stride: 1, padding: 1 },
      { type: "dropout" },
      { type: "gelu" },
      { type: "global_avg_pool" },
      { type: "linear", out: 10, bias: false },
    ],
  };
  assertEquals(parseRunSpec(spec).model.layers, [
    {
      type: "conv2d",
      out: 4,
      kernel: [3, 5],
      stride: 1,
      padding: 0,
      dilation: 1,
      groups: 1,
      bias: true,
    },
    { type: "batchnorm2d", eps: 1e-5, momentum: 0.1 },
    { type: "maxpool2d", kernel: [2, 3], stride: [2, 3], padding: 0 },
    { type: "avgpool2d", kernel: 2, stride: 1, padding: 1 },
    { type: "dropout", p: 0.5 },
    { type: "gelu" },
    { type: "global_avg_pool" },
    { type: "linear", out: 10, bias: false },
  ]);
});

Deno.test("optimizer defaults follow PyTorch (adam weight_decay 0, adamw 0.01)", () => {
  const cases: [RunSpecInput["optimizer"], unknown][] = [
    [{ name: "sgd", lr: 0.1 }, { name: "sgd", lr: 0.1, weight_decay: 0 }],
    [{ name: "adam" }, {
      name: "adam",
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weight_decay: 0,
    }],
    [{ name: "adamw", clip_grad_norm: 1 }, {
      name: "adamw",
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weight_decay: 0.01,
      clip_grad_norm: 1,
    }],
  ];
  for (const [input, expected] of cases) {
    const spec = minimal();
    spec.optimizer = input;
    assertEquals(parseRunSpec(spec).optimizer, expected);
  }
});

Deno.test("dependent defaults: per-dataset normalisation, out_dir from the run name", () => {
  const spec = minimal();
  spec.model = { input: [3072], layers: [{ type: "linear", out: 10 }] };
  spec.data = { dataset: "cifar10", path: "data/cifar" };
  spec.run = { name: "c10" };
  const r = parseRunSpec(spec);
  assertEquals(r.data.normalize, { mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616] });
  assertEquals(r.run.out_dir, "runs/c10");

  spec.data = { dataset: "cifar10", path: "d", normalize: { mean: [0.5], std: [0.25] } };
  spec.run = { name: "c10", out_dir: "elsewhere" };
  const r2 = parseRunSpec(spec);
  assertEquals(r2.data.normalize, { mean: [0.5], std: [0.25] });
  assertEquals(r2.run.out_dir, "elsewhere");

  spec.data = {
    dataset: "synthetic",
    synthetic: { samples: 64, classes: 3, shape: [8, 8, 3] },
  };
  spec.model = { input: [192], layers: [{ type: "linear", out: 3 }] };
  const r3 = parseRunSpec(spec);
  assertEquals(r3.data.normalize, { mean: [0], std: [1] });
  assertEquals(r3.data.synthetic, { samples: 64, classes: 3, shape: [8, 8, 3], seed: 0 });
});

Deno.test("loss: a bare name is short for {type: name}", () => {
  const a = minimal();
  a.loss = "cross_entropy";
  const b = minimal();
  b.loss = { type: "cross_entropy" };
  assertEquals(parseRunSpec(a), parseRunSpec(b));
  const c = minimal();
  c.loss = { type: "cross_entropy", label_smoothing: 1 };
  expectIssue(c, "loss.label_smoothing", "must be < 1");
});

Deno.test("strict objects: unknown keys fail at every level, with a suggestion", () => {
  const top = { ...minimal(), optimiser: {} };
  expectIssue(top, "optimiser", 'unknown key "optimiser" (did you mean "optimizer"?)');
  const nested = minimal();
  nested.model.layers = [{
    type: "residual",
    layers: [{ type: "relu" }],
    shortcut: [{ type: "linear", out: 10, biass: false } as never],
  }];
  expectIssue(nested, "model.layers[0].shortcut[0].biass", 'did you mean "bias"');
  const far = minimal();
  (far.schedule as Record<string, unknown>).zzz = 1;
  expectIssue(far, "schedule.zzz", "expected one of: epochs, steps, lr, warmup_steps, unit");
});

Deno.test("every issue is reported, each with its path", () => {
  const spec = minimal() as Record<string, unknown>;
  spec.model = { input: [784], layers: [{ type: "linear", out: 0 }, { type: "nope" }] };
  spec.data = { dataset: "fashion-mnist", batch_size: 1.5 };
  delete spec.optimizer;
  const issues = issuesOf(spec);
  assertEquals(issues, [
    "model.layers[0].out: must be >= 1, got 0",
    'model.layers[1].type: unknown layer type "nope"; expected one of: linear, conv2d, ' +
    "batchnorm2d, relu, gelu, tanh, sigmoid, maxpool2d, avgpool2d, global_avg_pool, flatten, " +
    "dropout, residual, sequential",
    "data.batch_size: expected an integer, got 1.5",
    "optimizer: missing required field (expected a mapping)",
  ]);
  // The message is the report itself: one line per issue, no stack trace.
  const e = assertThrows(() => parseRunSpec(spec), SpecError);
  assertEquals(e.message, issues.join("\n"));
});

Deno.test("layer rules: names, groups, same padding, pool padding, empty lists", () => {
  const withLayers = (layers: unknown[], input = [28, 28, 1]) => {
    const spec = minimal();
    spec.model = { input, layers: layers as never };
    return spec;
  };
  expectIssue(
    withLayers([{ type: "conv2d", out: 6, kernel: 3, groups: 4 }]),
    "model.layers[0].groups",
    "groups (4) must divide out (6)",
  );
  expectIssue(
    withLayers([{ type: "conv2d", out: 4, kernel: 3, stride: [1, 2], padding: "same" }]),
    "model.layers[0].padding",
    'padding "same" needs stride 1',
  );
  expectIssue(
    withLayers([{ type: "maxpool2d", kernel: [3, 2], padding: [1, 2] }]),
    "model.layers[0].padding",
    "exceeds half the kernel",
  );
  expectIssue(withLayers([]), "model.layers", "expected at least 1 item");
  expectIssue(
    withLayers([{ type: "relu", name: "2fast" }]),
    "model.layers[0].name",
    "must be an identifier",
  );
  expectIssue(
    withLayers([{ type: "residual", layers: [{ type: "relu" }], shortcut: [] }]),
    "model.layers[0].shortcut",
    "expected at least 1 item",
  );
  // Names are unique among siblings only: the same name at different depths is fine.
  const nested = withLayers([
    { type: "sequential", name: "a", layers: [{ type: "relu", name: "a" }] },
    {
      type: "residual",
      name: "b",
      layers: [{ type: "relu", name: "x" }],
      shortcut: [{ type: "relu", name: "y" }, { type: "tanh", name: "y" }],
    },
    { type: "flatten" },
    { type: "linear", out: 10 },
  ]);
  expectIssue(
    nested,
    "model.layers[1].shortcut[1].name",
    'duplicate layer name "y" (also used by shortcut[0])',
  );
  expectIssue(withLayers([{ type: "flatten" }], [28, 28]), "model.input", "expected [features] or");
});

Deno.test("data rules: paths, synthetic section, normalisation and augmentation shapes", () => {
  const withData = (data: unknown, input = [784]) => {
    const spec = minimal();
    spec.data = data as never;
    spec.model.input = input;
    return spec;
  };
  expectIssue(withData({ dataset: "mnist" }), "data.path", "give its directory in path");
  expectIssue(withData({ dataset: "synthetic" }), "data.synthetic", "needs a synthetic section");
  expectIssue(
    withData({ dataset: "mnist", path: "d", synthetic: { samples: 1, classes: 2, shape: [784] } }),
    "data.synthetic",
    "only used with dataset synthetic",
  );
  expectIssue(
    withData({ dataset: "cifar10", path: "d", normalize: { mean: [0, 0], std: [1, 1] } }, [3072]),
    "data.normalize.mean",
    "expected 1 or 3 values",
  );
  expectIssue(
    withData({ dataset: "mnist", path: "d", normalize: { mean: [0], std: [1, 2] } }),
    "data.normalize.std",
    "mean has 1 values but std has 2",
  );
  expectIssue(
    withData({ dataset: "mnist", path: "d", normalize: { mean: [0], std: [0] } }),
    "data.normalize.std[0]",
    "must be > 0",
  );
  expectIssue(
    withData({
      dataset: "synthetic",
      synthetic: { samples: 8, classes: 2, shape: [784] },
      augment: { horizontal_flip: true },
    }),
    "data.augment",
    "augmentation needs image samples",
  );
  expectIssue(
    withData({ dataset: "fashion-mnist", augment: { random_crop: { size: 33, padding: 2 } } }),
    "data.augment.random_crop.size",
    "crop 33 is larger than the padded image (32)",
  );
  expectIssue(
    withData({ dataset: "mnist", path: "d", validation_split: 1 }),
    "data.validation_split",
    "must be < 1",
  );
  // Crop changes the sample shape the model sees.
  assert(
    parseRunSpec(
      withData({ dataset: "fashion-mnist", augment: { random_crop: { size: 24 } } }, [576]),
    ),
  );
  expectIssue(
    withData({ dataset: "fashion-mnist" }, [28, 1, 28]),
    "model.input",
    "the data yields samples of shape [28,28,1], not [28,1,28]",
  );
});

Deno.test("optimizer and schedule rules", () => {
  const spec = minimal();
  spec.optimizer = { name: "sgdm", lr: 0.1, nesterov: true, dampening: 0.1 };
  expectIssue(spec, "optimizer.dampening", "nesterov momentum requires dampening 0");
  spec.optimizer = { name: "adam", betas: [0.9, 1] };
  expectIssue(spec, "optimizer.betas[1]", "must be < 1");
  spec.optimizer = { name: "sgd" } as never;
  expectIssue(spec, "optimizer.lr", "missing required field");
  spec.optimizer = { name: "sgd", lr: 0.1 };

  const sched = (s: unknown) => ({ ...minimal(), schedule: s as never });
  expectIssue(sched({}), "schedule", "give the run length: epochs or steps");
  expectIssue(sched({ epochs: 2, steps: 5 }), "schedule.steps", "not both");
  expectIssue(sched({ steps: 5, warmup_steps: 6 }), "schedule.warmup_steps", "longer than the run");
  expectIssue(
    sched({ epochs: 10, lr: { type: "multistep", milestones: [5, 5] } }),
    "schedule.lr.milestones",
    "strictly increasing",
  );
  expectIssue(
    sched({ epochs: 10, lr: { type: "multistep", milestones: [5, 10] } }),
    "schedule.lr.milestones[1]",
    "not before the end of the run (10 epochs)",
  );
  // With unit steps the milestones count steps, so 10 epochs say nothing about them.
  assert(
    parseRunSpec(
      sched({ epochs: 10, unit: "steps", lr: { type: "multistep", milestones: [500] } }),
    ),
  );
  expectIssue(
    sched({ epochs: 1, lr: { type: "linear" } }),
    "schedule.lr.type",
    "unknown lr schedule",
  );
  assertEquals(parseRunSpec(sched({ steps: 100, lr: { type: "step", step_size: 10 } })).schedule, {
    steps: 100,
    lr: { type: "step", step_size: 10, gamma: 0.1 },
    warmup_steps: 0,
    unit: "epochs",
  });
});

Deno.test("run rules: seed is a u32, names are path-safe", () => {
  const spec = minimal();
  spec.run = { seed: 2 ** 32 };
  expectIssue(spec, "run.seed", "must be <= 4294967295");
  spec.run = { name: "../x" };
  expectIssue(spec, "run.name", "a run name may hold");
  spec.run = { seed: 2 ** 32 - 1, name: "a.b-c_1" };
  assertEquals(parseRunSpec(spec).run.seed, 4294967295);
});

Deno.test("non-object input is one clear issue", () => {
  assertEquals(issuesOf(5), ["expected a mapping, got number 5"]);
  assertEquals(issuesOf(null), ["expected a mapping, got an empty value"]);
});
