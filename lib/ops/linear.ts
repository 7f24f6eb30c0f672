/**
 * Linear (fully connected) layer: y = x·Wᵀ + b, W stored [out, in].
 * @module
 */

import { matmul } from "../kernels/matmul/matmul.ts";
import { reduceCols } from "../kernels/reduce/reduce.ts";
import { fmtShape, type OpKind, type ParamSpec, ShapeError } from "./types.ts";

/** Linear layer configuration. */
export interface LinearConfig {
  /** Output features. */
  out: number;
  /** Whether the layer has a bias. */
  bias: boolean;
}

/** The Linear op kind. */
export const linearOp: OpKind<LinearConfig> = {
  type: "linear",
  arity: 1,
  outputShape(cfg, [input], name) {
    if (input.length !== 1) {
      throw new ShapeError(
        name,
        "linear",
        `expects a flat input [features], got ${fmtShape(input)}; add a flatten layer before it`,
      );
    }
    if (!Number.isInteger(cfg.out) || cfg.out < 1) {
      throw new ShapeError(name, "linear", `out must be a positive integer, got ${cfg.out}`);
    }
    return [cfg.out];
  },
  paramSpecs(cfg, [input]) {
    const fanIn = input[0];
    const init = { kind: "torch_default", fanIn } as const;
    const specs: ParamSpec[] = [{ local: "weight", shape: [cfg.out, fanIn], init, role: "weight" }];
    if (cfg.bias) specs.push({ local: "bias", shape: [cfg.out], init, role: "bias" });
    return specs;
  },
  // Forward, weight gradient, and input gradient where one is needed: one product each.
  flops: (cfg, s) => 2 * s.batch * s.inputs[0][0] * cfg.out * (s.inputGrads[0] ? 3 : 2),
  build(ctx, cfg, io) {
    const { gpu, batch } = ctx;
    const [x] = io.xs;
    const [dx] = io.dxs;
    const [w, b] = io.params;
    const inF = x.size / batch;
    const forward = matmul(gpu, {
      label: `${io.name}.fwd`,
      a: x,
      b: w.value,
      out: io.y,
      m: batch,
      n: cfg.out,
      k: inF,
      transB: true,
      bias: b?.value,
    });
    // dW[out, in] = dyᵀ[out, B] · x[B, in]
    const backward = matmul(gpu, {
      label: `${io.name}.dW`,
      a: io.dy,
      b: x,
      out: w.grad,
      m: cfg.out,
      n: inF,
      k: batch,
      transA: true,
    });
    // db = Σ_rows dy: the plan records it, or lets the loss kernel write it.
    const dyColumnSums = b && {
      out: b.grad,
      commands: () =>
        reduceCols(gpu, {
          op: "sum",
          x: io.dy,
          rows: batch,
          cols: cfg.out,
          out: b.grad,
          arena: ctx.arena,
        }),
    };
    if (dx) {
      // dx[B, in] = dy[B, out] · W[out, in]
      backward.push(...matmul(gpu, {
        label: `${io.name}.dX`,
        a: io.dy,
        b: w.value,
        out: dx,
        m: batch,
        n: inF,
        k: cfg.out,
      }));
    }
    return {
      forward,
      evalForward: forward,
      backward,
      state: [],
      dyColumnSums,
      taps: {
        kind: "linear",
        weight: w,
        bias: b,
        x,
        d: io.dy,
        rows: batch,
        inFeatures: inF,
        outFeatures: cfg.out,
        groups: 1,
      },
    };
  },
};
