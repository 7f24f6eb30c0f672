/**
 * The layer rules hold for the tree, and the checker behind them
 * (scripts/check_layers.ts, also run by `deno task check`) catches every
 * kind of violation it claims to.
 */
import { assertEquals } from "../assert.ts";
import {
  checkTree,
  importCycles,
  type ImportEdge,
  LAYER_RULES,
  layerOf,
  layerViolations,
  parseImports,
  urlImportViolations,
} from "../../scripts/check_layers.ts";

const ROOT = new URL("../../", import.meta.url);

/** Edges of several synthetic files. */
function edgesOf(files: Record<string, string>): ImportEdge[] {
  return Object.entries(files).flatMap(([file, text]) => parseImports(file, text));
}

Deno.test("the source tree keeps its layer rules: no back-up import, no cycle", async () => {
  const violations = await checkTree(ROOT);
  assertEquals(violations.map((v) => `${v.file}:${v.line}: ${v.message}`), []);
});

Deno.test("the rule table itself is acyclic and names only known modules", () => {
  const layers = Object.keys(LAYER_RULES);
  for (const [from, tos] of Object.entries(LAYER_RULES)) {
    for (const to of tos) assertEquals(layers.includes(to), true, `${from} → unknown ${to}`);
  }
  const edges = Object.entries(LAYER_RULES).flatMap(([from, tos]) =>
    tos.map((to): ImportEdge => ({ from, to, specifier: to, typeOnly: false, line: 1 }))
  );
  assertEquals(importCycles(edges), []);
});

Deno.test("parseImports reads every statement form, and skips JSDoc examples", () => {
  const text = `/**
 * import { adamwBK } from "../optim/mod.ts";
 */
import type { A } from "./a.ts";
import { type B, type C } from "./b.ts";
import { type D, e } from "../c/d.ts";
import * as ns from "./ns.ts";
import def, { f } from "./def.ts";
import "./side.ts";
export { g } from "./g.ts";
export type { H } from "./h.ts";
export * from "./star.ts";
import { z } from "zod";
const lazy = await import("./lazy.ts");
`;
  const got = parseImports("lib/x/file.ts", text).map((e) =>
    `${e.line} ${e.to ?? e.specifier} ${e.typeOnly ? "type" : "value"}`
  );
  assertEquals(got, [
    "4 lib/x/a.ts type",
    "5 lib/x/b.ts type",
    "6 lib/c/d.ts value",
    "7 lib/x/ns.ts value",
    "8 lib/x/def.ts value",
    "10 lib/x/g.ts value",
    "11 lib/x/h.ts type",
    "12 lib/x/star.ts value",
    "13 zod value",
    "9 lib/x/side.ts value",
    "14 lib/x/lazy.ts value",
  ]);
});

Deno.test("layerOf: a folder under lib/, a top-level folder, or a root file", () => {
  assertEquals(layerOf("lib/kernels/matmul/tex.ts"), "lib/kernels");
  assertEquals(layerOf("lib/gpu/stage.ts"), "lib/gpu");
  assertEquals(layerOf("dsl/schema.ts"), "dsl");
  assertEquals(layerOf("mod.ts"), "mod.ts");
});

Deno.test("layerViolations: imports up the layers are refused, with the allowed list", () => {
  const edges = edgesOf({
    "lib/kernels/gather.ts": `import { f32lit } from "../optim/first_order.ts";\n`,
    "lib/optim/adam.ts": `import { EVERY_STEP } from "../plan/stage.ts";\n` +
      `import { dispatch } from "../gpu/commands.ts";\n`,
    "lib/train/t.ts": `import { buildPlan } from "../plan/plan.ts";\n`,
  });
  const got = layerViolations(edges).map((v) => `${v.file}:${v.line}: ${v.message}`);
  assertEquals(got, [
    'lib/kernels/gather.ts:1: lib/kernels must not import lib/optim ("../optim/first_order.ts"); ' +
    "lib/kernels may import lib/util, lib/gpu",
    'lib/optim/adam.ts:1: lib/optim must not import lib/plan ("../plan/stage.ts"); ' +
    "lib/optim may import lib/util, lib/gpu, lib/kernels, lib/ops",
  ]);
});

Deno.test("layerViolations: the plan sees the optimizer contract with `import type` only", () => {
  const ok = edgesOf({
    "lib/plan/plan.ts": `import type { OptimizerFactory } from "../optim/types.ts";\n`,
  });
  assertEquals(layerViolations(ok), []);
  const bad = edgesOf({
    "lib/plan/plan.ts": `import { OptimizerFactory } from "../optim/types.ts";\n` +
      `import type { AdamOptions } from "../optim/first_order.ts";\n`,
  });
  assertEquals(layerViolations(bad).map((v) => v.message), [
    'lib/plan may import lib/optim/types.ts only with `import type` (got "../optim/types.ts")',
    'lib/plan must not import lib/optim ("../optim/first_order.ts"); lib/plan may import ' +
    "lib/util, lib/gpu, lib/kernels, lib/ops, lib/graph",
  ]);
});

Deno.test("layerViolations: a module missing from the rule table must be declared", () => {
  const edges = edgesOf({ "lib/run/run.ts": `import { train } from "../train/trainer.ts";\n` });
  assertEquals(layerViolations(edges).map((v) => v.message), [
    'module "lib/run" has no entry in LAYER_RULES (scripts/check_layers.ts): say what it may import',
  ]);
});

Deno.test("importCycles: finds cycles of two files, longer ones and self-imports", () => {
  const edges = edgesOf({
    "lib/gpu/tensor.ts": `import { releaseTextures } from "./texture.ts";\n`,
    "lib/gpu/texture.ts": `import type { Tensor } from "./tensor.ts";\n`,
    "lib/a/x.ts": `import "./y.ts";\n`,
    "lib/a/y.ts": `import "./z.ts";\n`,
    "lib/a/z.ts": `import "./x.ts";\nimport "../gpu/tensor.ts";\n`,
    "lib/b/self.ts": `export * from "./self.ts";\n`,
    "lib/b/ok.ts": `import "./leaf.ts";\n`,
  });
  assertEquals(importCycles(edges), [
    ["lib/a/x.ts", "lib/a/y.ts", "lib/a/z.ts"],
    ["lib/b/self.ts"],
    ["lib/gpu/tensor.ts", "lib/gpu/texture.ts"],
  ]);
});

Deno.test("urlImportViolations: a bare specifier in the optimizer's closure is refused", () => {
  const edges = edgesOf({
    "lib/optim/mod.ts": `import { x } from "./first_order.ts";\nimport { z } from "npm:zod@4";\n`,
    "lib/optim/first_order.ts": `import { y } from "../gpu/y.ts";\n`,
    "lib/gpu/y.ts": `import { parse } from "yaml";\n`,
    "lib/other.ts": `import { parse } from "yaml";\n`,
  });
  assertEquals(urlImportViolations(edges, ["lib/optim/mod.ts"]).map((v) => `${v.file}:${v.line}`), [
    "lib/gpu/y.ts:1",
  ]);
});
