/**
 * Layer kinds by name, and the op interface.
 * @module
 */

import { activationOp } from "./activation.ts";
import { addOp } from "./add.ts";
import { batchNorm2dOp } from "./batchnorm2d.ts";
import { conv2dOp } from "./conv2d.ts";
import { dropoutOp } from "./dropout.ts";
import { linearOp } from "./linear.ts";
import { avgPool2dOp, globalAvgPoolOp, maxPool2dOp } from "./pool.ts";
import { flattenOp } from "./reshape.ts";
import type { OpKind } from "./types.ts";

export * from "./types.ts";
export * from "./init.ts";
export { linearOp } from "./linear.ts";
export { conv2dGeometry, conv2dOp } from "./conv2d.ts";
export { batchNorm2dOp } from "./batchnorm2d.ts";
export { activationOp } from "./activation.ts";
export { avgPool2dOp, globalAvgPoolOp, maxPool2dOp } from "./pool.ts";
export { flattenOp } from "./reshape.ts";
export { dropoutOp } from "./dropout.ts";
export { addOp } from "./add.ts";
export { buildCrossEntropy } from "./cross_entropy.ts";
export type { LinearConfig } from "./linear.ts";
export type { Conv2dConfig } from "./conv2d.ts";
export type { BatchNormConfig } from "./batchnorm2d.ts";
export type { Pool2dConfig } from "./pool.ts";
export type { DropoutConfig } from "./dropout.ts";

/**
 * Every op kind, by the type name used in model files. A model-file layer
 * kind is declared in dsl/schema/ against this table (its compile step must
 * return the op's config type, and every op but `add` needs a declaration),
 * so an op and its layer cannot drift apart unnoticed by `deno task check`.
 */
export const OP_KINDS = {
  linear: linearOp,
  conv2d: conv2dOp,
  batchnorm2d: batchNorm2dOp,
  relu: activationOp("relu"),
  gelu: activationOp("gelu"),
  tanh: activationOp("tanh"),
  sigmoid: activationOp("sigmoid"),
  maxpool2d: maxPool2dOp,
  avgpool2d: avgPool2dOp,
  global_avg_pool: globalAvgPoolOp,
  flatten: flattenOp,
  dropout: dropoutOp,
  add: addOp,
} as const;

/** The name of an op kind. */
export type OpType = keyof typeof OP_KINDS;

/** The resolved configuration op `T` builds from. */
export type OpConfig<T extends OpType> = (typeof OP_KINDS)[T] extends OpKind<infer C> ? C : never;

/** The op kind named `type`, or undefined for a name that is not one. */
export function opKind(type: string): OpKind<unknown> | undefined {
  return Object.hasOwn(OP_KINDS, type)
    ? OP_KINDS[type as OpType] as unknown as OpKind<unknown>
    : undefined;
}
