/**
 * The YAML front end: the examples load, and every malformed fixture in
 * tests/fixtures/yaml/ reports exactly the expected issues at the expected
 * lines (all of them at once).
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { loadRunSpecFile, parseRunSpecYaml, SpecError } from "../../dsl/mod.ts";

const FIXTURES = "tests/fixtures/yaml";

/** An expected issue: its path ("" for syntax errors), line, and a fragment of its message. */
interface Expected {
  path: string;
  line: number;
  col?: number;
  message: string;
}

/**
 * Fixture → the complete list of issues it must report, in source order.
 * Lines and columns were read off the fixture files (1-based).
 */
const CASES: Record<string, Expected[]> = {
  "syntax_error.yaml": [{ path: "", line: 3, col: 3, message: "flow sequence" }],
  "tab_indent.yaml": [{ path: "", line: 4, col: 1, message: "tabs are not allowed" }],
  "wrong_type.yaml": [{
    path: "data.batch_size",
    line: 7,
    col: 15,
    message: 'expected a number, got "large"',
  }],
  "negative_kernel.yaml": [{
    path: "model.layers[0].kernel",
    line: 6,
    col: 15,
    message: "must be >= 1, got -3",
  }],
  "unknown_layer_type.yaml": [{
    path: "model.layers[1].type",
    line: 5,
    col: 15,
    message: 'unknown layer type "conv3d" (did you mean "conv2d"?)',
  }],
  // The typo is both an unknown key (at the key) and a missing field (at its mapping).
  "unknown_key.yaml": [
    { path: "model.layers[0].kernel", line: 4, col: 7, message: "missing required field" },
    {
      path: "model.layers[0].kernal",
      line: 6,
      col: 7,
      message: 'unknown key "kernal" (did you mean "kernel"?)',
    },
  ],
  // A missing key points at the mapping that lacks it.
  "missing_required.yaml": [{
    path: "model.layers[2].out",
    line: 6,
    col: 7,
    message: "missing required field",
  }],
  "missing_section.yaml": [{
    path: "optimizer",
    line: 2,
    col: 1,
    message: "missing required field (expected a mapping)",
  }],
  "duplicate_key.yaml": [{ path: "", line: 9, col: 3, message: 'duplicate key "lr"' }],
  "duplicate_layer_names.yaml": [{
    path: "model.layers[2].name",
    line: 6,
    col: 29,
    message: 'duplicate layer name "fc" (also used by model.layers[0])',
  }],
  "epochs_and_steps.yaml": [{
    path: "schedule.steps",
    line: 9,
    col: 10,
    message: "give either epochs or steps, not both",
  }],
  "bad_optimizer.yaml": [{
    path: "optimizer.name",
    line: 7,
    col: 9,
    message:
      'unknown optimizer "adamx" (did you mean "adam"?); expected one of: sgd, sgdm, adam, adamw',
  }],
  // The tagged value also fails the schema (it is read as a string); one report per line.
  "unknown_tag.yaml": [{ path: "", line: 8, col: 7, message: "unsupported tag !!js/function" }],
  "custom_tag.yaml": [{ path: "", line: 4, col: 7, message: "unsupported tag !layer" }],
  "bad_nested_residual.yaml": [{
    path: "model.layers[0].layers[1].layers[0].stride",
    line: 10,
    col: 58,
    message: "must be >= 1, got 0",
  }],
  "three_errors.yaml": [
    { path: "model.layers[0].out", line: 4, col: 28, message: "must be >= 1, got 0" },
    { path: "data.batch_sise", line: 9, col: 3, message: 'did you mean "batch_size"' },
    { path: "optimizer.lr", line: 12, col: 7, message: "must be > 0, got -0.1" },
  ],
  "shape_mismatch.yaml": [{
    path: "model.input",
    line: 2,
    col: 10,
    message: "samples of shape [28,28,1] (784 values) but model.input [32,32,3] has 3072",
  }],
  "same_padding_stride.yaml": [{
    path: "model.layers[0].padding",
    line: 4,
    message: 'padding "same" needs stride 1',
  }],
  "unknown_alias.yaml": [{ path: "", line: 6, col: 12, message: "unknown alias *opt" }],
  "multiple_documents.yaml": [{ path: "", line: 5, col: 1, message: "single YAML document" }],
  "loss_unknown.yaml": [
    { path: "data.path", line: 5, message: "dataset mnist is read from disk" },
    { path: "loss.type", line: 6, col: 7, message: 'unknown loss "mse"' },
  ],
};

for (const [file, expected] of Object.entries(CASES)) {
  Deno.test(`fixture ${file}`, async () => {
    const path = `${FIXTURES}/${file}`;
    const e = await assertRejects(() => loadRunSpecFile(path), SpecError);
    const got = e.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`).join("\n");
    assertEquals(e.issues.length, expected.length, `${file} reported:\n${got}`);
    expected.forEach((x, k) => {
      const issue = e.issues[k];
      assertEquals(issue.path, x.path, `${file} issue ${k}: path\n${got}`);
      assertEquals(issue.line, x.line, `${file} issue ${k}: line\n${got}`);
      if (x.col !== undefined) assertEquals(issue.col, x.col, `${file} issue ${k}: column\n${got}`);
      assert(
        issue.message.includes(x.message),
        `${file} issue ${k}: "${x.message}" not in\n${got}`,
      );
    });
    // The report is the message: one `file:line:col: [path: ]message` line per issue.
    const lines = e.message.split("\n");
    assertEquals(lines.length, expected.length);
    lines.forEach((l, k) => {
      const x = expected[k];
      const prefix = `${path}:${x.line}:${e.issues[k].col}: ${x.path ? `${x.path}: ` : ""}`;
      assert(l.startsWith(prefix), `line "${l}" lacks prefix "${prefix}"`);
    });
    assert(!/\bat (file|Object|parse)|\n\s+\^/.test(e.message), "no stack trace or code frame");
  });
}

Deno.test("every fixture file has an expectation (and vice versa)", () => {
  const files = [...Deno.readDirSync(FIXTURES)].map((d) => d.name).sort();
  assertEquals(files, Object.keys(CASES).sort());
  assert(files.length >= 12);
});

Deno.test("examples load, with names and defaults as written", async () => {
  const mlp = await loadRunSpecFile("examples/fashion_mlp.yaml");
  assertEquals(mlp.model.input, [784]);
  assertEquals(mlp.optimizer, {
    name: "sgdm",
    lr: 0.05,
    momentum: 0.9,
    nesterov: false,
    dampening: 0,
    weight_decay: 5e-4,
  });
  assertEquals(mlp.schedule.lr, { type: "step", step_size: 4, gamma: 0.2 });
  assertEquals(mlp.run.out_dir, "runs/fashion-mlp");

  const cnn = await loadRunSpecFile("examples/fashion_cnn.yaml");
  assertEquals(cnn.loss, { type: "cross_entropy", label_smoothing: 0 }); // the default
  assertEquals(cnn.model.layers[3], { type: "maxpool2d", kernel: 2, stride: 2, padding: 0 });
  assertEquals(cnn.data.augment, undefined);
  assertEquals(cnn.schedule.unit, "steps");

  const res = await loadRunSpecFile(new URL("../../examples/fashion_resnet.yaml", import.meta.url));
  const block2 = res.model.layers[3];
  assert(block2.type === "residual" && block2.name === "block2");
  assertEquals(block2.shortcut?.map((l) => l.name), ["proj", "bn"]);
  assertEquals(res.optimizer.name === "sgdm" && res.optimizer.nesterov, true);
  assertEquals(res.schedule.lr, { type: "multistep", milestones: [10, 15], gamma: 0.1 });
  assertEquals(res.data.augment?.random_crop, { size: 28, padding: 2 });
});

Deno.test("YAML equals the same spec written as an object", () => {
  const text = `
model: { input: [784], layers: [{ type: linear, out: 10 }] }
data: { dataset: fashion-mnist }
optimizer: { name: adam, lr: 1.0e-3 }
schedule: { steps: 100 }
`;
  assertEquals(
    parseRunSpecYaml(text),
    parseRunSpecYaml(JSON.stringify({
      model: { input: [784], layers: [{ type: "linear", out: 10 }] },
      data: { dataset: "fashion-mnist" },
      optimizer: { name: "adam", lr: 1e-3 },
      schedule: { steps: 100 },
    })),
  );
});

Deno.test("anchors and aliases work; the YAML 1.1 merge key is just an unknown key", () => {
  const base = `
model: { input: [784], layers: [&fc { type: linear, out: 10 }] }
data: { dataset: fashion-mnist }
schedule: { epochs: 1 }
`;
  const ok = parseRunSpecYaml(`${base}optimizer: &opt { name: sgd, lr: 0.1 }\n`);
  assertEquals(ok.optimizer, { name: "sgd", lr: 0.1, weight_decay: 0 });
  const e = assertThrows(
    () =>
      parseRunSpecYaml(
        `${base}opt: &o { weight_decay: 0.1 }\noptimizer: { name: sgd, lr: 0.1, <<: *o }\n`,
        "m.yaml",
      ),
    SpecError,
  );
  assertEquals(e.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`), [
    '5:1 opt: unknown key "opt" (expected one of: model, data, loss, optimizer, schedule, run)',
    '6:34 optimizer.<<: unknown key "<<" (expected one of: name, lr, weight_decay, clip_grad_norm)',
  ]);
});

Deno.test("no way to run code: js, python and other foreign tags are rejected", () => {
  for (
    const tag of [
      "!!js/function",
      "!!js/regexp",
      "!!js/undefined",
      "!!python/object:os.system",
      "!<tag:yaml.org,2002:js/function>",
    ]
  ) {
    const e = assertThrows(() => parseRunSpecYaml(`model: ${tag} "x"\n`, "t.yaml"), SpecError);
    assertEquals(e.issues.length, 1, e.message);
    assert(e.issues[0].message.startsWith("unsupported tag "), e.message);
    assertEquals([e.issues[0].line, e.issues[0].col], [1, 8]);
  }
  // The core schema's own tags are plain data and stay allowed.
  const ok = parseRunSpecYaml(`
model: { input: [!!int "784"], layers: [{ type: !!str linear, out: 10 }] }
data: { dataset: fashion-mnist }
optimizer: { name: sgd, lr: !!float 0.1 }
schedule: { epochs: 1 }
`);
  assertEquals(ok.model.input, [784]);
});

Deno.test("empty or non-mapping documents, default file name, unreadable files", async () => {
  const e = assertThrows(() => parseRunSpecYaml(""), SpecError);
  assertEquals(e.message, "<input>:1:1: expected a mapping, got an empty value");
  const e2 = assertThrows(() => parseRunSpecYaml("- 1\n"), SpecError);
  assertEquals(e2.message, "<input>:1:1: expected a mapping, got a list");
  const e3 = await assertRejects(() => loadRunSpecFile(`${FIXTURES}/missing.yaml`), SpecError);
  assertEquals(e3.message, `${FIXTURES}/missing.yaml: cannot read the file: no such file`);
});

Deno.test("an empty value is reported as such, at its key's line", () => {
  const e = assertThrows(() =>
    parseRunSpecYaml(
      `model:
  input: [784]
  layers:
    - type: linear
      out:
data: { dataset: fashion-mnist }
optimizer: { name: sgd, lr: 0.1 }
schedule: { epochs: 1 }
`,
      "e.yaml",
    ), SpecError);
  assertEquals(e.issues.length, 1);
  assertEquals(e.issues[0].path, "model.layers[0].out");
  assertEquals(e.issues[0].line, 5);
  assert(e.issues[0].message.includes("got an empty value"), e.message);
});
