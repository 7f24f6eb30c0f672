/**
 * Pooling layers over NHWC activations: max, average, global average.
 * @module
 */

import {
  avgPool2dBackward,
  avgPool2dForward,
  globalAvgPoolBackward,
  globalAvgPoolForward,
  maxPool2dBackward,
  maxPool2dForward,
  type Pool2dGeometry,
  poolOutputSize,
} from "../kernels/pool/pool.ts";
import { numel } from "../gpu/tensor.ts";
import { fmtShape, type FusedReluConfig, type OpKind, requireImage, ShapeError } from "./types.ts";

/** Window pooling configuration (`relu`: max pooling only). */
export interface Pool2dConfig extends FusedReluConfig {
  /** Window [kh, kw]. */
  kernel: [number, number];
  /** Stride [sh, sw]. */
  stride: [number, number];
  /** Zero/ignored padding [ph, pw]. */
  padding: [number, number];
}

/** Kernel geometry for a batch and per-sample input [H, W, C]. */
export function pool2dGeometry(
  cfg: Pool2dConfig,
  input: readonly number[],
  batch: number,
): Pool2dGeometry {
  return {
    batch,
    inH: input[0],
    inW: input[1],
    channels: input[2],
    kh: cfg.kernel[0],
    kw: cfg.kernel[1],
    strideH: cfg.stride[0],
    strideW: cfg.stride[1],
    padH: cfg.padding[0],
    padW: cfg.padding[1],
  };
}

function windowOp(type: "maxpool2d" | "avgpool2d"): OpKind<Pool2dConfig> {
  return {
    type,
    arity: 1,
    fusesRelu: type === "maxpool2d",
    outputShape(cfg, [input], name) {
      requireImage(type, input, name);
      const [ph, pw] = cfg.padding;
      if (2 * ph > cfg.kernel[0] || 2 * pw > cfg.kernel[1]) {
        throw new ShapeError(name, type, `padding ${ph}x${pw} must be at most half the window`);
      }
      try {
        const { outH, outW } = poolOutputSize(pool2dGeometry(cfg, input, 1));
        return [outH, outW, input[2]];
      } catch (e) {
        throw new ShapeError(name, type, `input ${fmtShape(input)}: ${(e as Error).message}`);
      }
    },
    paramSpecs: () => [],
    flops: (cfg, s) => 2 * s.batch * numel(s.output) * cfg.kernel[0] * cfg.kernel[1],
    build(ctx, cfg, io) {
      const { gpu, arena, batch } = ctx;
      const [x] = io.xs;
      const [dx] = io.dxs;
      const geom = pool2dGeometry(cfg, x.shape.slice(1), batch);
      if (type === "maxpool2d") {
        const argmax = arena.tensor(`${io.name}.argmax`, io.y.shape);
        // A fused ReLU marks zeroed windows in argmax: the backward stays the same.
        const forward = maxPool2dForward(gpu, { geom, x, y: io.y, argmax, relu: cfg.relu });
        // Evaluation needs no argmax, but recording it costs little and keeps one kernel.
        const backward = dx ? maxPool2dBackward(gpu, { geom, dy: io.dy, argmax, dx }) : [];
        return { forward, evalForward: forward, backward, state: [] };
      }
      const forward = avgPool2dForward(gpu, { geom, x, y: io.y });
      const backward = dx ? avgPool2dBackward(gpu, { geom, dy: io.dy, dx }) : [];
      return { forward, evalForward: forward, backward, state: [] };
    },
  };
}

/** Max pooling. */
export const maxPool2dOp: OpKind<Pool2dConfig> = windowOp("maxpool2d");
/** Average pooling (padding counts in the divisor, like PyTorch's default). */
export const avgPool2dOp: OpKind<Pool2dConfig> = windowOp("avgpool2d");

/** Global average pooling: [H, W, C] → [C]. */
export const globalAvgPoolOp: OpKind<Record<string, never>> = {
  type: "global_avg_pool",
  arity: 1,
  outputShape(_cfg, [input], name) {
    requireImage("global_avg_pool", input, name);
    return [input[2]];
  },
  paramSpecs: () => [],
  flops: (_cfg, s) => 2 * s.batch * numel(s.inputs[0]),
  build(ctx, _cfg, io) {
    const [x] = io.xs;
    const [dx] = io.dxs;
    const [, h, w, channels] = x.shape;
    const dims = { batch: ctx.batch, h, w, channels };
    const forward = globalAvgPoolForward(ctx.gpu, { ...dims, x, y: io.y });
    const backward = dx ? globalAvgPoolBackward(ctx.gpu, { ...dims, dy: io.dy, dx }) : [];
    return { forward, evalForward: forward, backward, state: [] };
  },
};
