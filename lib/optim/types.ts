/**
 * The optimizer interface: stage builders over parameter slots.
 *
 * An optimizer sees only slots (a weight, its gradient, its role and, for
 * Linear/Conv2d, the Kronecker taps); it knows nothing of the DSL, the trainer
 * or the CLI, so user code with hand-written WebGPU can drive it too.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, Tensor } from "../gpu/tensor.ts";
import type { KroneckerTaps, ParamRole } from "../ops/types.ts";
import type { Stage } from "../gpu/stage.ts";

/** One parameter as the optimizer sees it. */
export interface ParamSlot {
  /** Stable name (checkpoint key prefix for its optimizer state). */
  name: string;
  /** Values, updated in place. */
  value: Tensor;
  /** Gradient, read (and possibly overwritten by preconditioning). */
  grad: Tensor;
  /** Role: weights and biases of Linear/Conv2d can be preconditioned. */
  role: ParamRole;
  /** Kronecker taps of the owning layer, when it has them (weight slot only). */
  taps?: KroneckerTaps;
}

/** Optimizer state to checkpoint. */
export interface OptimizerState {
  /** e.g. "fc1.weight.exp_avg". */
  name: string;
  /** The tensor. */
  tensor: Tensor;
}

/** A built optimizer: its stages and the per-step values it needs. */
export interface OptimizerInstance {
  /** Stages to run after backward, in order (statistics, roots, precondition, update). */
  stages: Stage[];
  /** Commands run once at plan start (state initialisation). */
  init: Stage[];
  /** State to checkpoint. */
  state: OptimizerState[];
  /**
   * Writes the per-step values before step `k` (0-based global step) is
   * submitted: learning rate and the bias-correction step t = k + 1.
   * Costs one small `writeBuffer`, never a readback.
   */
  prepareStep(k: number, lr: number): void;
  /** A summary per slot for `inspect`: what treatment each parameter gets. */
  describe(): { name: string; treatment: string }[];
  /**
   * Kronecker root diagnostics per layer side: a scalars tensor with λ̂,
   * normaliser, residual, accept flag and rejection count (lib/kernels/linalg.ts).
   */
  diagnostics?: { layer: string; side: "L" | "R"; scalars: Tensor }[];
  /** Kronecker inverse roots as recorded: per roots stage, batches of `count` equal-size factors. */
  rootBatches?: readonly { stage: string; d: number; count: number }[];
}

/** Makes an optimizer for a set of slots. */
export interface OptimizerFactory {
  /** Name, e.g. "adamw". */
  readonly name: string;
  /** The base learning rate (the schedule scales it). */
  readonly lr: number;
  /**
   * Builds the stages for `slots`, allocating state from `arena`. Called by
   * the plan and by `Optimizer`, not by user code; its argument types are
   * internals, so the public docs leave it out.
   * @ignore
   */
  build(gpu: Gpu, arena: BufferArena, slots: readonly ParamSlot[]): OptimizerInstance;
}
