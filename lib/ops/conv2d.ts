/**
 * 2-D convolution over NHWC activations, weights [Cout, Cin/groups, kh, kw].
 * @module
 */

import {
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  type Conv2dGeometry,
  convOutputSize,
  validateConv2d,
} from "../kernels/conv/conv.ts";
import { fmtShape, type OpKind, type ParamSpec, requireImage, ShapeError } from "./types.ts";

/** Conv2d configuration (already resolved: no "same" padding here). */
export interface Conv2dConfig {
  /** Output channels. */
  out: number;
  /** Kernel size [kh, kw]. */
  kernel: [number, number];
  /** Stride [sh, sw]. */
  stride: [number, number];
  /** Zero padding [ph, pw] on each side. */
  padding: [number, number];
  /** Dilation [dh, dw]. */
  dilation: [number, number];
  /** Channel groups (Cin and Cout must be divisible). */
  groups: number;
  /** Whether the layer has a bias. */
  bias: boolean;
}

/** Builds the kernel geometry for a batch and per-sample input [H, W, C]. */
export function conv2dGeometry(
  cfg: Conv2dConfig,
  input: readonly number[],
  batch: number,
): Conv2dGeometry {
  return {
    batch,
    inH: input[0],
    inW: input[1],
    inC: input[2],
    outC: cfg.out,
    kh: cfg.kernel[0],
    kw: cfg.kernel[1],
    strideH: cfg.stride[0],
    strideW: cfg.stride[1],
    padH: cfg.padding[0],
    padW: cfg.padding[1],
    dilationH: cfg.dilation[0],
    dilationW: cfg.dilation[1],
    groups: cfg.groups,
  };
}

/** The Conv2d op kind. */
export const conv2dOp: OpKind<Conv2dConfig> = {
  type: "conv2d",
  arity: 1,
  outputShape(cfg, [input], name) {
    requireImage("conv2d", input, name);
    const geom = conv2dGeometry(cfg, input, 1);
    try {
      validateConv2d(geom);
      const { outH, outW } = convOutputSize(geom);
      return [outH, outW, cfg.out];
    } catch (e) {
      throw new ShapeError(name, "conv2d", `input ${fmtShape(input)}: ${(e as Error).message}`);
    }
  },
  paramSpecs(cfg, [input]) {
    const cinPerGroup = input[2] / cfg.groups;
    const fanIn = cinPerGroup * cfg.kernel[0] * cfg.kernel[1];
    const init = { kind: "torch_default", fanIn } as const;
    const specs: ParamSpec[] = [{
      local: "weight",
      shape: [cfg.out, cinPerGroup, cfg.kernel[0], cfg.kernel[1]],
      init,
      role: "weight",
    }];
    if (cfg.bias) specs.push({ local: "bias", shape: [cfg.out], init, role: "bias" });
    return specs;
  },
  flops(cfg, s) {
    const [outH, outW] = s.output;
    const inFeatures = (s.inputs[0][2] / cfg.groups) * cfg.kernel[0] * cfg.kernel[1];
    const product = 2 * s.batch * outH * outW * inFeatures * cfg.out;
    // Forward, weight gradient, and input gradient where one is needed.
    return product * (s.inputGrads[0] ? 3 : 2);
  },
  build(ctx, cfg, io) {
    const { gpu, batch } = ctx;
    const [x] = io.xs;
    const [dx] = io.dxs;
    const [w, b] = io.params;
    const input = x.shape.slice(1);
    const geom = conv2dGeometry(cfg, input, batch);
    const { outH, outW } = convOutputSize(geom);
    const forward = conv2dForward(gpu, { geom, x, w: w.value, bias: b?.value, y: io.y });
    const backward = conv2dBackwardWeight(gpu, { geom, x, dy: io.dy, dw: w.grad, dbias: b?.grad });
    if (dx) backward.push(...conv2dBackwardInput(gpu, { geom, dy: io.dy, w: w.value, dx }));
    const rows = batch * outH * outW;
    const inFeatures = (geom.inC / geom.groups) * geom.kh * geom.kw;
    return {
      forward,
      evalForward: forward,
      backward,
      state: [],
      taps: {
        kind: "conv2d",
        weight: w,
        bias: b,
        x,
        d: io.dy,
        rows,
        inFeatures,
        outFeatures: cfg.out / cfg.groups,
        groups: cfg.groups,
        geom,
      },
    };
  },
};
