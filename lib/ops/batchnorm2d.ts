/**
 * Batch normalisation over the channel (last) axis of NHWC activations.
 *
 * Training uses batch statistics and updates running averages with PyTorch's
 * rule (running = (1−m)·running + m·batch, unbiased variance); evaluation
 * uses the running averages.
 * @module
 */

import {
  batchNormBackward,
  batchNormEvalForward,
  batchNormTrainForward,
} from "../kernels/reduce/batchnorm.ts";
import { fill } from "../kernels/elementwise/elementwise.ts";
import { type FusedReluConfig, type OpKind, ShapeError } from "./types.ts";

/** Batch-norm configuration. */
export interface BatchNormConfig extends FusedReluConfig {
  /** Added to the variance before the square root. */
  eps: number;
  /** Weight of the new batch statistic in the running averages. */
  momentum: number;
}

/** The BatchNorm2d op kind (also accepts flat [C] inputs). */
export const batchNorm2dOp: OpKind<BatchNormConfig> = {
  type: "batchnorm2d",
  arity: 1,
  fusesRelu: true,
  outputShape(cfg, [input], name) {
    if (!(cfg.eps > 0)) {
      throw new ShapeError(name, "batchnorm2d", `eps must be > 0, got ${cfg.eps}`);
    }
    if (!(cfg.momentum >= 0 && cfg.momentum <= 1)) {
      throw new ShapeError(name, "batchnorm2d", `momentum must be in [0, 1], got ${cfg.momentum}`);
    }
    return [...input];
  },
  paramSpecs(_cfg, [input]) {
    const c = input[input.length - 1];
    return [
      { local: "weight", shape: [c], init: { kind: "ones" }, role: "scale" },
      { local: "bias", shape: [c], init: { kind: "zeros" }, role: "shift" },
    ];
  },
  build(ctx, cfg, io) {
    const { gpu, arena } = ctx;
    const [x] = io.xs;
    const [dx] = io.dxs;
    const [gamma, beta] = io.params;
    const channels = gamma.value.size;
    const rows = x.size / channels;
    const runningMean = arena.tensor(`${io.name}.running_mean`, [channels]);
    const runningVar = arena.tensor(`${io.name}.running_var`, [channels]);
    const saveMean = arena.tensor(`${io.name}.save_mean`, [channels]);
    const saveInvStd = arena.tensor(`${io.name}.save_invstd`, [channels]);
    // Running variance starts at 1 (PyTorch); the init commands run once at plan start.
    const relu = cfg.relu ?? false;
    const common = {
      x,
      rows,
      channels,
      gamma: gamma.value,
      beta: beta.value,
      eps: cfg.eps,
      relu,
    };
    const forward = batchNormTrainForward(gpu, {
      ...common,
      momentum: cfg.momentum,
      runningMean,
      runningVar,
      y: io.y,
      saveMean,
      saveInvStd,
      arena,
    });
    const evalForward = batchNormEvalForward(gpu, { ...common, runningMean, runningVar, y: io.y });
    const backward = batchNormBackward(gpu, {
      x,
      dy: io.dy,
      rows,
      channels,
      gamma: gamma.value,
      saveMean,
      saveInvStd,
      dx: dx ?? arena.tensor(`${io.name}.dx_unused`, x.shape),
      dgamma: gamma.grad,
      dbeta: beta.grad,
      arena,
      reluOutput: relu ? io.y : undefined,
    });
    return {
      forward,
      evalForward,
      backward,
      init: fill(gpu, { value: 1, out: runningVar }),
      state: [
        { name: `${io.name}.running_mean`, tensor: runningMean },
        { name: `${io.name}.running_var`, tensor: runningVar },
      ],
      flops: 20 * x.size,
    };
  },
};
