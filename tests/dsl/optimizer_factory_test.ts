/**
 * optimizerFactory turns the DSL's optimizer vocabulary (builder output or
 * YAML's plain data) into the factory the plan and `Optimizer` take, with the
 * defaults a run spec gets, and refuses bad input with a SpecError.
 */
import * as b from "../../dsl/builder.ts";
import { compileOptimizer } from "../../dsl/compile.ts";
import { SpecError } from "../../dsl/errors.ts";
import { optimizerFactory } from "../../dsl/optimizer_factory.ts";
import { parseRunSpec } from "../../dsl/schema.ts";
import { assertEquals, assertThrows } from "../assert.ts";

const SPEC_REST = {
  model: { input: [4], layers: [{ type: "linear", out: 2 }] },
  data: { dataset: "synthetic", synthetic: { samples: 8, classes: 2, shape: [4] } },
  schedule: { epochs: 1 },
};

Deno.test("optimizerFactory: the same factory a run spec compiles to, defaults included", () => {
  for (
    const input of [b.sgd({ lr: 0.1 }), b.sgdm({ lr: 0.1 }), b.adamw(), b.adamwBK({ lr: 2e-3 })]
  ) {
    const got = optimizerFactory(input);
    const want = compileOptimizer(parseRunSpec({ ...SPEC_REST, optimizer: input }).optimizer);
    assertEquals({ name: got.name, lr: got.lr }, { name: want.name, lr: want.lr });
  }
  assertEquals(optimizerFactory(b.adamw()).lr, 1e-3);
});

Deno.test("optimizerFactory: bad input is a SpecError with paths under optimizer", () => {
  const missing = assertThrows(
    () => optimizerFactory({ name: "sgd" } as Parameters<typeof optimizerFactory>[0]),
    SpecError,
  );
  assertEquals(missing.issues.map((i) => i.path), ["optimizer.lr"]);
  const negative = assertThrows(() => optimizerFactory(b.adam({ lr: -1 })), SpecError);
  assertEquals(negative.issues.map((i) => i.path), ["optimizer.lr"]);
  const clip = assertThrows(
    () => optimizerFactory(b.adamw({ clip_grad_norm: 1 })),
    SpecError,
    "clipping is a stage of the training plan",
  );
  assertEquals(clip.issues.map((i) => i.path), ["optimizer.clip_grad_norm"]);
});
