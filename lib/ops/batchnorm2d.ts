/**
 * Batch normalisation over the channel (last) axis of NHWC activations.
 *
 * Training uses batch statistics and updates running averages with PyTorch's
 * rule (running = (1−m)·running + m·batch, unbiased variance); evaluation
 * uses the running averages. A max pooling of disjoint windows that alone
 * reads the output (after a ReLU or not) runs inside it (`absorbs`,
 * kernels/reduce/batchnorm_pool.ts): the full-resolution output and its
 * gradient are never written. So does a residual add that alone reads it
 * (with the ReLU fused into the add or not): the normalisation kernel adds
 * the other input, and the backward applies the add's ReLU mask and also
 * writes the add's gradient for that input.
 * @module
 */

import {
  batchNormBackward,
  batchNormEvalForward,
  batchNormTrainForward,
  batchNormTrainStats,
} from "../kernels/reduce/batchnorm.ts";
import {
  batchNormPoolEvalForward,
  batchNormPoolTrainForward,
} from "../kernels/reduce/batchnorm_pool.ts";
import { disjointWindows } from "../kernels/pool/pool.ts";
import { batchNormPoolBackward } from "../kernels/reduce/batchnorm_pool_backward.ts";
import { fill } from "../kernels/elementwise/elementwise.ts";
import type { Command } from "../gpu/commands.ts";
import { numel, type Tensor } from "../gpu/tensor.ts";
import { type Pool2dConfig, pool2dGeometry } from "./pool.ts";
import {
  type AbsorbableConsumer,
  type BuildContext,
  type FusedReluConfig,
  type OpIO,
  type OpKind,
  ShapeError,
} from "./types.ts";

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
  absorbs: (consumer) => consumer.type === "add" || absorbsPool(consumer),
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
  // Its own work only: an absorbed consumer counts its own (OpKind.flops).
  flops: (_cfg, s) => 20 * s.batch * numel(s.inputs[0]),
  build(ctx, cfg, io) {
    const { gpu, arena } = ctx;
    const [x] = io.xs;
    const [dx] = io.dxs;
    const [gamma, beta] = io.params;
    const channels = gamma.value.size;
    const rows = x.size / channels;
    if (rows < 2) {
      // The batch variance needs two values per channel; flat [C] inputs give one per sample.
      throw new ShapeError(
        io.name,
        "batchnorm2d",
        `training needs at least 2 values per channel, and a batch of ${ctx.batch} gives ${rows}: ` +
          "raise data.batch_size",
      );
    }
    const runningMean = arena.tensor(`${io.name}.running_mean`, [channels]);
    const runningVar = arena.tensor(`${io.name}.running_var`, [channels]);
    const saveMean = arena.tensor(`${io.name}.save_mean`, [channels]);
    const saveInvStd = arena.tensor(`${io.name}.save_invstd`, [channels]);
    // Running variance starts at 1 (PyTorch); the init commands run once at plan start.
    const init = fill(gpu, { value: 1, out: runningVar });
    const state = [
      { name: `${io.name}.running_mean`, tensor: runningMean },
      { name: `${io.name}.running_var`, tensor: runningVar },
    ];
    const stats = { runningMean, runningVar, saveMean, saveInvStd };
    if (io.absorbed?.type === "maxpool2d") {
      return { ...buildWithPool(ctx, cfg, io, stats), init, state };
    }
    // A residual add absorbed (io.y, io.dy are its): its other input and gradient.
    const add = io.absorbed?.type === "add" ? io.absorbed : undefined;
    const [skip] = add?.others ?? [];
    const relu = (cfg.relu ?? false) || ((add?.config as FusedReluConfig)?.relu ?? false);
    const common = {
      x,
      rows,
      channels,
      gamma: gamma.value,
      beta: beta.value,
      eps: cfg.eps,
      relu,
      skip: skip?.x,
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
      skipGrad: skip?.dx,
    });
    return { forward, evalForward, backward, init, state };
  },
};

/** True for a max pooling of disjoint windows on an image (see `OpKind.absorbs`). */
function absorbsPool(consumer: AbsorbableConsumer): boolean {
  if (consumer.type !== "maxpool2d" || consumer.inputShape.length !== 3) return false;
  return disjointWindows(pool2dGeometry(consumer.config as Pool2dConfig, consumer.inputShape, 1));
}

/**
 * Batch norm with the max pooling it absorbed: statistics as usual, then one
 * kernel from x to the pooled output each way (batchnorm_pool.ts). A ReLU
 * fused on either side of the pooling is applied once (they commute).
 */
function buildWithPool(
  ctx: BuildContext,
  cfg: BatchNormConfig,
  io: OpIO,
  s: { runningMean: Tensor; runningVar: Tensor; saveMean: Tensor; saveInvStd: Tensor },
): { forward: Command[]; evalForward: Command[]; backward: Command[] } {
  const { gpu, arena, batch } = ctx;
  const [x] = io.xs;
  const [dx] = io.dxs;
  const [gamma, beta] = io.params;
  const pool = io.absorbed!.config as Pool2dConfig;
  const geom = pool2dGeometry(pool, x.shape.slice(1), batch);
  const relu = (cfg.relu ?? false) || (pool.relu ?? false);
  const argmax = arena.tensor(`${io.absorbed!.name}.argmax`, io.y.shape);
  const common = { geom, x, gamma: gamma.value, beta: beta.value, y: io.y, relu };
  const forward = [
    ...batchNormTrainStats(gpu, {
      x,
      rows: x.size / gamma.value.size,
      channels: gamma.value.size,
      gamma: gamma.value,
      beta: beta.value,
      eps: cfg.eps,
      momentum: cfg.momentum,
      arena,
      ...s,
    }),
    ...batchNormPoolTrainForward(gpu, { ...common, ...s, argmax }),
  ];
  const evalForward = batchNormPoolEvalForward(gpu, { ...common, ...s, eps: cfg.eps });
  const backward = batchNormPoolBackward(gpu, {
    geom,
    x,
    dy: io.dy,
    argmax,
    gamma: gamma.value,
    saveMean: s.saveMean,
    saveInvStd: s.saveInvStd,
    dx: dx ?? arena.tensor(`${io.name}.dx_unused`, x.shape),
    dgamma: gamma.grad,
    dbeta: beta.grad,
    arena,
  });
  return { forward, evalForward, backward };
}
