/**
 * The optimizer section: every optimizer of a run spec, declared once in
 * optimizers_first_order.ts or optimizers_kronecker.ts (schema, compile
 * step, builder); the union schema and compiling follow from this registry.
 * @module
 */
import { z } from "zod";
import type { OptimizerFactory } from "../../lib/optim/types.ts";
import type { OptimizerKind } from "./optimizer_kind.ts";
import FIRST_ORDER from "./optimizers_first_order.ts";
import KRONECKER from "./optimizers_kronecker.ts";

/** Every optimizer by name, in the order the reference lists them. */
const OPTIMIZERS = { ...FIRST_ORDER, ...KRONECKER } satisfies {
  readonly [N in keyof typeof FIRST_ORDER | keyof typeof KRONECKER]: OptimizerKind<N>;
};

/** @ignore */
type Optimizers = typeof OPTIMIZERS;
/** @ignore */
type OptimizerName = keyof Optimizers;

/** Every optimizer schema, discriminated by `name`. */
export const OPTIMIZER_SCHEMAS = Object.values(OPTIMIZERS).map((k) => k.schema) as unknown as [
  Optimizers[OptimizerName]["schema"],
  ...Optimizers[OptimizerName]["schema"][],
];

/** The optimizer section. */
export const OptimizerSchema = z
  .discriminatedUnion("name", OPTIMIZER_SCHEMAS)
  .describe("Optimizer and its hyper-parameters (PyTorch semantics and defaults unless noted).");

/** The optimizer factory a validated optimizer section names, with its hyper-parameters. */
export function compileOptimizer(o: z.output<typeof OptimizerSchema>): OptimizerFactory {
  // Each kind's compile step takes its own section type; the union of kinds
  // is called through the widest one.
  const kind = OPTIMIZERS[o.name] as unknown as OptimizerKind;
  return kind.compile(o);
}
