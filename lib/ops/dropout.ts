/**
 * Inverted dropout: in training, zero each element with probability p and
 * scale the rest by 1/(1−p); in evaluation, the identity.
 *
 * The mask is a pure function of (step seed, layer stream, index), so the
 * backward pass regenerates it instead of storing it.
 * @module
 */

import { dropoutBackward, dropoutForward } from "../kernels/elementwise/dropout.ts";
import { numel } from "../gpu/tensor.ts";
import { streamOf } from "./init.ts";
import { type OpKind, ShapeError } from "./types.ts";

/** Dropout configuration. */
export interface DropoutConfig {
  /** Probability of zeroing an element, in [0, 1). */
  p: number;
}

/** The Dropout op kind. */
export const dropoutOp: OpKind<DropoutConfig> = {
  type: "dropout",
  arity: 1,
  outputShape(cfg, [input], name) {
    if (!(cfg.p >= 0 && cfg.p < 1)) {
      throw new ShapeError(name, "dropout", `p must be in [0, 1), got ${cfg.p}`);
    }
    return [...input];
  },
  paramSpecs: () => [],
  flops: (_cfg, s) => 2 * s.batch * numel(s.inputs[0]),
  build(ctx, cfg, io) {
    const [x] = io.xs;
    const [dx] = io.dxs;
    const stream = streamOf(io.name);
    const forward = dropoutForward(ctx.gpu, { x, y: io.y, p: cfg.p, seed: ctx.step, stream });
    const backward = dx
      ? dropoutBackward(ctx.gpu, { dy: io.dy, dx, p: cfg.p, seed: ctx.step, stream })
      : [];
    const evalForward = [{
      kind: "copyTensor" as const,
      label: `${io.name}.eval`,
      src: x,
      dst: io.y,
    }];
    return { forward, evalForward, backward, state: [] };
  },
};
