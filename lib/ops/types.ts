/**
 * The op interface: what every layer kind provides to the compiler.
 *
 * Shapes here are per sample (no batch dimension), channels last: an image is
 * [H, W, C]. The compiler owns activations and gradients (the memory plan);
 * an op owns its parameters' *specs*, its scratch buffers, and the commands
 * of its forward and backward passes.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import type { BufferArena, Tensor } from "../gpu/tensor.ts";
import type { Uniforms } from "../gpu/uniforms.ts";
import type { Conv2dGeometry } from "../kernels/conv/conv.ts";
import type { InitRule } from "./init.ts";

/** What a parameter is for: decides weight decay and optimizer treatment. */
export type ParamRole = "weight" | "bias" | "scale" | "shift";

/** A parameter an op needs, before allocation. */
export interface ParamSpec {
  /** Local name within the layer: "weight", "bias", … */
  local: string;
  /** Shape, e.g. [out, in] for a Linear weight. */
  shape: number[];
  /** Initial values. */
  init: InitRule;
  /** Role (weights and biases of Linear/Conv2d get Kronecker factors). */
  role: ParamRole;
}

/** An allocated parameter with its gradient. */
export interface Param {
  /** Stable full name, e.g. "block1.conv.weight" (a checkpoint key). */
  name: string;
  /** Current values. */
  value: Tensor;
  /** Gradient of the loss, written by the owning op's backward pass. */
  grad: Tensor;
  /** Role (see {@link ParamRole}). */
  role: ParamRole;
}

/** Non-trained state that checkpoints must keep (e.g. batch-norm running stats). */
export interface StateBuffer {
  /** Stable full name, e.g. "bn1.running_mean". */
  name: string;
  /** The tensor. */
  tensor: Tensor;
}

/**
 * Where a Linear/Conv2d layer's Kronecker statistics can be read: its input X
 * and its output gradient D, with their layouts. The optimizer turns these
 * into R = X̃ᵀX̃ and L = DᵀD without the layer's help.
 */
export interface KroneckerTaps {
  /** Layer kind: decides how X̃ is formed from `x`. */
  kind: "linear" | "conv2d";
  /** The weight parameter ([out, in] or [Cout, Cin/groups, kh, kw]). */
  weight: Param;
  /** The bias parameter, when present (X̃ then gets a ones column). */
  bias?: Param;
  /**
   * Layer input. Linear: [rows, in] row-major, X̃ = x. Conv2d: NHWC
   * [N, H, W, Cin]; X̃ = im2col(x) per `geom` (rows = N·Ho·Wo, columns
   * channel-major, then kernel row, then kernel column).
   */
  x: Tensor;
  /** Output gradient, channels last: [rows, out]. */
  d: Tensor;
  /** Rows of X̃ and D (batch, or batch·Ho·Wo for a conv). */
  rows: number;
  /** Columns of X̃ per group, without the ones column. */
  inFeatures: number;
  /** Columns of D per group. */
  outFeatures: number;
  /** Number of groups (one factor pair per group); 1 for Linear. */
  groups: number;
  /** Conv geometry (conv2d only). */
  geom?: Conv2dGeometry;
}

/** Shared resources an op builds with. */
export interface BuildContext {
  /** The device. */
  gpu: Gpu;
  /** Where scratch buffers are allocated (once, at build time). */
  arena: BufferArena;
  /** Batch size the plan is built for. */
  batch: number;
  /** Per-step values written by the trainer (dropout seed, …). */
  step: Uniforms<"seed">;
}

/** Config of an op that may run a following ReLU itself (see {@link OpKind.fusesRelu}). */
export interface FusedReluConfig {
  /** Apply max(y, 0) to the output (set by the plan, never by model files). */
  relu?: boolean;
}

/**
 * A consumer of an op's output, as the plan offers it to the op's
 * {@link OpKind.absorbs} (per-sample shapes, no batch dimension).
 */
export interface AbsorbableConsumer {
  /** The consumer's kind (its type name, e.g. "maxpool2d"). */
  type: string;
  /** Its resolved configuration, with any ReLU the plan fused into it. */
  config: unknown;
  /** The shape it reads: the op's own output shape. */
  inputShape: readonly number[];
  /**
   * Which of its inputs the op's output is (0 for a one-input consumer). A
   * two-input consumer (the residual add) is offered only when its other
   * input is computed before the op runs.
   */
  slot: number;
}

/** An input of an absorbed consumer other than the absorbing op's output. */
export interface AbsorbedInput {
  /** The value (computed before the absorbing op's forward runs). */
  x: Tensor;
  /**
   * Where the consumer's gradient for it goes (the plan's tensor or part
   * for that value), overwritten by the absorbing op's backward; undefined
   * where none is needed (the graph input).
   */
  dx?: Tensor;
}

/** A consumer an op runs inside its own kernels (see {@link OpKind.absorbs}). */
export interface AbsorbedConsumer extends AbsorbableConsumer {
  /** The consumer's full layer name. */
  name: string;
  /** Its inputs other than the op's output, in slot order (empty for one-input consumers). */
  others: AbsorbedInput[];
}

/** The tensors the plan gives an op (batch dimension first). */
export interface OpIO {
  /** Full layer name, e.g. "block1.conv". */
  name: string;
  /** Inputs (one, or two for Add). */
  xs: Tensor[];
  /** Output (the absorbed consumer's output when `absorbed` is set). */
  y: Tensor;
  /** Gradient of the output (of the absorbed consumer's output when `absorbed` is set). */
  dy: Tensor;
  /** Gradients to write for each input; undefined where none is needed. */
  dxs: (Tensor | undefined)[];
  /** The parameters, allocated from the op's specs, in spec order. */
  params: Param[];
  /**
   * The consumer this op runs inside its own kernels, when the plan fused it
   * (see {@link OpKind.absorbs}): `y` and `dy` are then that consumer's, the
   * op's own output and its gradient exist in no buffer, and the op's
   * backward also writes the consumer's gradients for its other inputs.
   */
  absorbed?: AbsorbedConsumer;
}

/** A built op: command lists and what other stages need to know. */
export interface OpInstance {
  /** Training-mode forward. */
  forward: Command[];
  /** Evaluation-mode forward (running statistics, no dropout). */
  evalForward: Command[];
  /** Backward: overwrites every defined dx and every parameter gradient. */
  backward: Command[];
  /** State to checkpoint besides parameters. */
  state: StateBuffer[];
  /** Commands run once when the plan starts (state initialisation). */
  init?: Command[];
  /** Kronecker taps (Linear and Conv2d). */
  taps?: KroneckerTaps;
  /**
   * Column sums of the output gradient the op needs but does not record
   * itself (a linear layer's bias gradient Σ_rows dy into `out`): the plan
   * has the producer of dy write them when it can (the loss kernel) and
   * otherwise records `commands()` at the start of the op's backward.
   */
  dyColumnSums?: { out: Tensor; commands: () => Command[] };
}

/** What an op's FLOP count depends on (see {@link OpKind.flops}). */
export interface FlopShapes {
  /** Samples per step. */
  batch: number;
  /** Per-sample input shapes, one per input. */
  inputs: readonly (readonly number[])[];
  /** Per-sample output shape. */
  output: readonly number[];
  /** Per input: whether the backward computes its gradient (not for the graph input). */
  inputGrads: readonly boolean[];
}

/** A layer kind: shape rule, parameters and command builder. */
export interface OpKind<C> {
  /** Type name as written in model files. */
  readonly type: string;
  /** Number of inputs (1, or 2 for Add). */
  readonly arity: 1 | 2;
  /**
   * True when the op can apply a ReLU to its own output: the plan then
   * builds it with `relu: true` in its config in place of a ReLU op that
   * alone reads its output, and the op's backward applies the ReLU's
   * gradient (from its output: y > 0). Results equal the two separate ops.
   */
  readonly fusesRelu?: boolean;
  /**
   * Whether the op can run `consumer` inside its own kernels when that
   * consumer alone reads its output (or the output of the ReLU fused into
   * it): the plan then builds this op with `io.absorbed` set, records
   * nothing for the consumer, and allocates neither the op's own output nor
   * its gradient. The op must give the consumer's output, its gradient
   * contribution and every state update of the separate ops (rounding aside)
   * and must also apply the consumer's fused ReLU (`relu` in its config).
   * A consumer with a second input (the residual add) is offered only when
   * it reads the op's output directly and that other input is computed
   * earlier (the graph input or an earlier node); the op then also writes
   * the consumer's gradient for that input (`io.absorbed.others`).
   * Batch norm absorbs a max pooling whose windows do not overlap, and a
   * residual add.
   */
  readonly absorbs?: (consumer: AbsorbableConsumer) => boolean;
  /**
   * True when the output is the input reinterpreted (Flatten): the plan makes
   * y a reshape of x and dx a reshape of dy; the op records no commands.
   */
  readonly alias?: boolean;
  /** Output shape per sample; throws {@link ShapeError} naming the layer. */
  outputShape(cfg: C, inputs: readonly number[][], name: string): number[];
  /** Parameters to allocate (may be empty). */
  paramSpecs(cfg: C, inputs: readonly number[][]): ParamSpec[];
  /**
   * FLOPs of one training step (forward + backward) of this op alone, for
   * `inspect` (rough for pointwise ops). The one count of the op: the plan
   * sums it over every graph node whether the node runs in its own kernels
   * or inside another op's (a fused ReLU, an absorbed consumer), so a fused
   * plan reports the unfused plan's FLOPs and no op counts another's work.
   */
  flops(cfg: C, shapes: FlopShapes): number;
  /** Builds the commands. */
  build(ctx: BuildContext, cfg: C, io: OpIO): OpInstance;
}

/** A layer's configuration does not fit its input shape. */
export class ShapeError extends Error {
  /** `layer` is the layer's full name, `type` its kind. */
  constructor(readonly layer: string, readonly type: string, detail: string) {
    super(`layer "${layer}" (${type}): ${detail}`);
    this.name = "ShapeError";
  }
}

/** Formats a per-sample shape for messages. */
export function fmtShape(s: readonly number[]): string {
  return `[${s.join(", ")}]`;
}

/** Throws {@link ShapeError} unless a per-sample input is an image [H, W, C]. */
export function requireImage(type: string, input: readonly number[], name: string): void {
  if (input.length !== 3) {
    throw new ShapeError(name, type, `expects an image input [H, W, C], got ${fmtShape(input)}`);
  }
}
