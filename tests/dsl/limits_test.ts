/**
 * Strings that become paths, directory names and checkpoint keys have sane
 * lengths and characters, checked at load time with the value's line: a
 * 5,000-character data.path or a 1 MB run.name gets one short line, not a
 * file-system error after the data is loaded.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { parseRunSpec, parseRunSpecYaml, type RunSpecInput, SpecError } from "../../dsl/mod.ts";

const base = (data: string, run = "") =>
  `model:
  input: [784]
  layers: [{ type: linear, out: 10 }]
data: ${data}
optimizer: { name: sgd, lr: 0.1 }
schedule: { epochs: 1 }
${run}`;

/** The single issue of `text`, as `line:col path: message`. */
function onlyIssue(text: string): string {
  const e = assertThrows(() => parseRunSpecYaml(text, "f.yaml"), SpecError);
  assertEquals(e.issues.length, 1, e.message);
  assert(!e.message.includes("\n") && e.message.length < 300, `one short line: ${e.message}`);
  const i = e.issues[0];
  return `${i.line}:${i.col} ${i.path}: ${i.message}`;
}

Deno.test("a 5,000-character data.path is refused at its line", () => {
  const path = "d/".repeat(2500);
  assertEquals(
    onlyIssue(base(`{ dataset: mnist, path: "${path}" }`)),
    "4:31 data.path: expected at most 1024 characters, got 5,000",
  );
});

Deno.test("a 1 MB run.name is refused at load time, in one short line", () => {
  const name = "r".repeat(1 << 20);
  assertEquals(
    onlyIssue(base("{ dataset: fashion-mnist }", `run: { name: ${name} }\n`)),
    "7:14 run.name: expected at most 100 characters, got 1,048,576",
  );
});

Deno.test("run names are directory names: no separators, never . or ..", () => {
  for (const name of ["a/b", "..", ".hidden", "a\\\\b"]) {
    const issue = onlyIssue(base("{ dataset: fashion-mnist }", `run: { name: "${name}" }\n`));
    assert(issue.includes("run.name: a run name may hold letters"), issue);
  }
});

Deno.test("paths: no control characters, parts at most 255 bytes; out_dir too", () => {
  const spec = (path: string, outDir = "runs/x"): RunSpecInput => ({
    model: { input: [784], layers: [{ type: "linear", out: 10 }] },
    data: { dataset: "mnist", path },
    optimizer: { name: "sgd", lr: 0.1 },
    schedule: { epochs: 1 },
    run: { out_dir: outDir },
  });
  const issues = (s: RunSpecInput) =>
    assertThrows(() => parseRunSpec(s), SpecError).issues.map((i) => `${i.path}: ${i.message}`);
  assertEquals(issues(spec("data\nset")), [
    "data.path: a path may not hold control characters (newlines, tabs, NUL)",
  ]);
  assertEquals(issues(spec(`data/${"é".repeat(128)}/x`)), [
    "data.path: each part of a path between slashes must be at most 255 bytes",
  ]);
  assertEquals(issues(spec("data", "x".repeat(1025))), [
    "run.out_dir: expected at most 1024 characters, got 1,025",
  ]);
  // At the limits, accepted.
  parseRunSpec(spec(`${"d".repeat(255)}/${"e".repeat(255)}`, "o".repeat(255)));
});

Deno.test("layer names are short identifiers", () => {
  const spec = (name: string): RunSpecInput => ({
    model: { input: [784], layers: [{ type: "linear", out: 10, name }] },
    data: { dataset: "fashion-mnist" },
    optimizer: { name: "sgd", lr: 0.1 },
    schedule: { epochs: 1 },
  });
  parseRunSpec(spec("l".repeat(64)));
  const e = assertThrows(() => parseRunSpec(spec("l".repeat(65))), SpecError);
  assertEquals(e.message, "model.layers[0].name: expected at most 64 characters, got 65");
});

Deno.test("synthetic data is bounded: at most 256 classes and 2^28 values", () => {
  const spec = (samples: number, classes: number): RunSpecInput => ({
    model: { input: [1024], layers: [{ type: "linear", out: classes }] },
    data: { dataset: "synthetic", synthetic: { samples, classes, shape: [1024] } },
    optimizer: { name: "sgd", lr: 0.1 },
    schedule: { epochs: 1 },
  });
  parseRunSpec(spec(2 ** 18, 256));
  assertThrows(
    () => parseRunSpec(spec(8, 257)),
    SpecError,
    "data.synthetic.classes: must be <= 256",
  );
  assertThrows(
    () => parseRunSpec(spec(2 ** 18 + 1, 10)),
    SpecError,
    "data.synthetic.samples: 262145 samples of shape [1024] are 1.0 GiB of float32 values",
  );
});
