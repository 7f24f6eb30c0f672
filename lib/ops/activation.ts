/**
 * Pointwise activations: ReLU, GELU (tanh approximation), Tanh, Sigmoid.
 * @module
 */

import { unary, unaryBackward, type UnaryOp } from "../kernels/elementwise/elementwise.ts";
import { numel } from "../gpu/tensor.ts";
import type { OpKind } from "./types.ts";

/** Activation names a model may use. */
export type ActivationName = Exclude<UnaryOp, "identity">;

/** FLOPs counted per element for forward + backward (rough, for `inspect`). */
const FLOPS_PER_ELEMENT: Record<ActivationName, number> = {
  relu: 2,
  gelu: 30,
  tanh: 20,
  sigmoid: 12,
};

/** Makes the op kind for one activation. */
export function activationOp(op: ActivationName): OpKind<Record<string, never>> {
  return {
    type: op,
    arity: 1,
    outputShape: (_cfg, [input]) => [...input],
    paramSpecs: () => [],
    flops: (_cfg, s) => FLOPS_PER_ELEMENT[op] * s.batch * numel(s.inputs[0]),
    build(ctx, _cfg, io) {
      const [x] = io.xs;
      const [dx] = io.dxs;
      const forward = unary(ctx.gpu, { op, x, y: io.y });
      const backward = dx ? unaryBackward(ctx.gpu, { op, x, dy: io.dy, dx }) : [];
      return { forward, evalForward: forward, backward, state: [] };
    },
  };
}
