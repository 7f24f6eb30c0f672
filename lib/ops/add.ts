/**
 * Add: the join of a residual block, y = a + b (same shapes). A batch norm
 * that alone feeds it may run it (`OpKind.absorbs`, ops/batchnorm2d.ts); the
 * plan then records nothing for it.
 * @module
 */

import { add, reluBackwardFromOutput } from "../kernels/elementwise/elementwise.ts";
import type { Command } from "../gpu/commands.ts";
import { numel } from "../gpu/tensor.ts";
import { fmtShape, type FusedReluConfig, type OpKind, ShapeError } from "./types.ts";

/** The Add op kind (two inputs). */
export const addOp: OpKind<FusedReluConfig> = {
  type: "add",
  arity: 2,
  fusesRelu: true,
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
  flops: (_cfg, s) => s.batch * numel(s.output),
  build(ctx, cfg, io) {
    const [a, b] = io.xs;
    const forward = add(ctx.gpu, { x: a, y: b, out: io.y, relu: cfg.relu });
    const dxs = io.dxs.flatMap((dx, i) => (dx ? [{ dx, i }] : []));
    // d(a+b)/da = d(a+b)/db = identity: both input gradients are dy (masked by
    // y > 0 when a ReLU is fused: then one kernel writes both).
    const backward: Command[] = cfg.relu && dxs.length
      ? reluBackwardFromOutput(ctx.gpu, { y: io.y, dy: io.dy, outs: dxs.map((d) => d.dx) })
      : dxs.map(({ dx, i }) => ({
        kind: "copyTensor",
        label: `${io.name}.d${i}`,
        src: io.dy,
        dst: dx,
      }));
    return { forward, evalForward: forward, backward, state: [] };
  },
};
