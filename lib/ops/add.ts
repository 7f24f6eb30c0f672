/**
 * Add: the join of a residual block, y = a + b (same shapes).
 * @module
 */

import { add } from "../kernels/elementwise/elementwise.ts";
import type { Command } from "../gpu/commands.ts";
import { fmtShape, type OpKind, ShapeError } from "./types.ts";

/** The Add op kind (two inputs). */
export const addOp: OpKind<Record<string, never>> = {
  type: "add",
  arity: 2,
  outputShape(_cfg, [a, b], name) {
    if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
      throw new ShapeError(
        name,
        "add",
        `the residual branch gives ${fmtShape(a)} but the shortcut gives ${fmtShape(b)}; ` +
          "add a projection shortcut (e.g. a 1x1 conv2d with the right stride and channels)",
      );
    }
    return [...a];
  },
  paramSpecs: () => [],
  build(ctx, _cfg, io) {
    const [a, b] = io.xs;
    const forward = add(ctx.gpu, { x: a, y: b, out: io.y });
    // d(a+b)/da = d(a+b)/db = identity: both input gradients are copies of dy.
    const backward: Command[] = [];
    io.dxs.forEach((dx, i) => {
      if (dx) backward.push({ kind: "copyTensor", label: `${io.name}.d${i}`, src: io.dy, dst: dx });
    });
    return { forward, evalForward: forward, backward, state: [], flops: a.size };
  },
};
