/**
 * adabk's optimizers for your own WebGPU code.
 *
 * Give the optimizer your device, register each parameter with its buffers
 * (and, for Linear/Conv2d layers, where its input X and output gradient D
 * live), then record its stages into your command encoder after your
 * backward pass, once per step. Nothing is read back; no CPU round-trip.
 *
 * ```ts
 * import { adamwBK, Optimizer } from "https://…/lib/optim/mod.ts";
 * const opt = new Optimizer(device, adamwBK({ lr: 1e-3, weightDecay: 0.05 }), [
 *   { name: "fc1.weight", value: w, grad: dw, shape: [256, 784],
 *     layer: { kind: "linear", input: x, outputGrad: dy, rows: 128 } },
 *   { name: "fc1.bias", value: b, grad: db, shape: [256], biasOf: "fc1.weight" },
 * ]);
 * // each step, after your backward pass:
 * opt.record(encoder);           // statistics / roots / precondition / update
 * device.queue.submit([encoder.finish()]);
 * ```
 *
 * Layouts: buffers hold row-major f32. Linear weights are [out, in] with
 * input X [rows, in] and output gradient D [rows, out]. Conv2d weights are
 * [Cout, Cin/groups, kh, kw] with input X in NHWC and D in channels-last rows
 * [N·Ho·Wo, Cout].
 * @module
 */

import { Gpu, identify } from "../gpu/device.ts";
import { encode } from "../gpu/commands.ts";
import { BufferArena, numel, type Tensor } from "../gpu/tensor.ts";
import type { Conv2dGeometry } from "../kernels/conv/conv.ts";
import { convOutputSize } from "../kernels/conv/conv.ts";
import type { KroneckerTaps, Param } from "../ops/types.ts";
import { stagesAt } from "../gpu/stage.ts";
import type { OptimizerFactory, OptimizerInstance, OptimizerState, ParamSlot } from "./types.ts";

export { adam, adamw, sgd } from "./first_order.ts";
export type { AdamOptions, SgdOptions } from "./first_order.ts";
export { adabelief, adagrad, radam } from "./adaptive.ts";
export type { AdaBeliefOptions, AdagradOptions, RadamOptions } from "./adaptive.ts";
export { adamwBK, kfac, sgdmBK, shampoo, wadam, wsgdm } from "./adabk.ts";
export type { AdamwBkOptions, KroneckerCommon, SgdmBkOptions } from "./adabk.ts";
export type { RootMethod } from "./inverse_root.ts";
export type { OptimizerFactory, OptimizerState } from "./types.ts";
export type { Tensor } from "../gpu/tensor.ts";
export type { Conv2dGeometry } from "../kernels/conv/conv.ts";

/** Where a Linear or Conv2d layer's Kronecker statistics come from. */
export type UserLayer =
  | {
    kind: "linear";
    /** Layer input X [rows, in]. */
    input: GPUBuffer;
    /** Gradient of the layer output D [rows, out]. */
    outputGrad: GPUBuffer;
    /** Rows of X and D (the batch). */
    rows: number;
  }
  | {
    kind: "conv2d";
    /** Layer input, NHWC. */
    input: GPUBuffer;
    /** Gradient of the output, channels-last [N·Ho·Wo, Cout]. */
    outputGrad: GPUBuffer;
    /** The convolution's geometry. */
    geometry: Conv2dGeometry;
  };

/** A parameter registered with the optimizer. */
export interface UserParam {
  /** Unique name; a bias refers to its weight by this name. */
  name: string;
  /** The parameter's values (updated in place). */
  value: GPUBuffer;
  /** Its gradient (read; replaced by the preconditioned gradient). */
  grad: GPUBuffer;
  /** Shape: [out, in] (Linear), [Cout, Cin/g, kh, kw] (Conv2d), anything for others. */
  shape: number[];
  /** For the weight of a Linear/Conv2d layer: where X and D live. */
  layer?: UserLayer;
  /** For a bias: the name of the weight it belongs to (preconditioned together). */
  biasOf?: string;
  /**
   * Byte offset of the values in `value` (default 0; a multiple of the
   * device's `minStorageBufferOffsetAlignment`). Parameters whose values
   * share one buffer and whose gradients share another are updated by one
   * dispatch per step.
   */
  valueOffset?: number;
  /** Byte offset of the gradient in `grad` (default 0; aligned like `valueOffset`). */
  gradOffset?: number;
}

function view(buffer: GPUBuffer, shape: number[], name: string, offset = 0, align = 4): Tensor {
  const size = numel(shape);
  if (!Number.isInteger(offset) || offset < 0 || offset % align !== 0) {
    throw new RangeError(
      `"${name}": offset ${offset} is not a non-negative multiple of ${align} (the storage offset alignment)`,
    );
  }
  if (offset + size * 4 > buffer.size) {
    throw new RangeError(
      `"${name}": buffer of ${buffer.size} bytes is too small for shape [${shape}] at offset ${offset}`,
    );
  }
  return { buffer, offset, shape, size, name };
}

/** An optimizer driving buffers owned by someone else's WebGPU code. */
export class Optimizer {
  /** The global step counter k (steps recorded so far). */
  step = 0;
  readonly #gpu: Gpu;
  readonly #instance: OptimizerInstance;
  readonly #arena: BufferArena;
  readonly #factory: OptimizerFactory;

  /**
   * Builds every stage and allocates the optimizer's state on `device`.
   * `adapter` (optional) is used to pick kernel variants; without it the
   * storage-buffer variants for real GPUs are used.
   */
  constructor(
    device: GPUDevice,
    factory: OptimizerFactory,
    params: UserParam[],
    adapter?: GPUAdapter,
  ) {
    this.#gpu = new Gpu(
      device,
      adapter ? identify(adapter) : {
        description: "user device",
        vendor: "",
        architecture: "",
        isFallbackAdapter: false,
        key: "user",
      },
    );
    this.#arena = new BufferArena(device);
    this.#factory = factory;
    const align = device.limits.minStorageBufferOffsetAlignment;
    const names = new Set<string>();
    const tensors = new Map<string, { value: Tensor; grad: Tensor }>();
    for (const p of params) {
      if (names.has(p.name)) throw new RangeError(`parameter "${p.name}" is registered twice`);
      names.add(p.name);
      tensors.set(p.name, {
        value: view(p.value, p.shape, p.name, p.valueOffset, align),
        grad: view(p.grad, p.shape, `${p.name}.grad`, p.gradOffset, align),
      });
    }
    const slots: ParamSlot[] = params.map((p) => {
      const t = tensors.get(p.name)!;
      return { name: p.name, value: t.value, grad: t.grad, role: p.biasOf ? "bias" : "weight" };
    });
    const asParam = (s: ParamSlot): Param => ({
      name: s.name,
      value: s.value,
      grad: s.grad,
      role: s.role,
    });
    params.forEach((p, i) => {
      if (!p.layer) return;
      const bias = params.findIndex((q) => q.biasOf === p.name);
      slots[i].taps = taps(p, slots[i], bias >= 0 ? slots[bias] : undefined, asParam);
    });
    for (const p of params) {
      if (p.biasOf && !names.has(p.biasOf)) {
        throw new RangeError(`bias "${p.name}" refers to unknown weight "${p.biasOf}"`);
      }
    }
    this.#instance = factory.build(this.#gpu, this.#arena, slots);
    const enc = device.createCommandEncoder({ label: "optimizer init" });
    encode(enc, this.#instance.init.flatMap((s) => s.commands));
    device.queue.submit([enc.finish()]);
  }

  /**
   * Records the stages due at the current step into `encoder` with learning
   * rate `lr` (default: the factory's), then advances the step counter.
   */
  record(encoder: GPUCommandEncoder, lr: number = this.#factory.lr): void {
    this.#gpu.checkAlive();
    this.#instance.prepareStep(this.step, lr);
    encode(encoder, stagesAt(this.#instance.stages, this.step).flatMap((s) => s.commands));
    this.step++;
  }

  /** The optimizer's state tensors (moments, Kronecker factors, roots), e.g. to save them. */
  state(): readonly OptimizerState[] {
    return this.#instance.state;
  }

  /** What each parameter gets, e.g. `{ name: "fc1.weight", treatment: "AdaBK …" }`. */
  describe(): { name: string; treatment: string }[] {
    return this.#instance.describe();
  }

  /** Frees the optimizer's own buffers (not yours). */
  dispose(): void {
    this.#arena.dispose();
  }
}

function taps(
  p: UserParam,
  weight: ParamSlot,
  bias: ParamSlot | undefined,
  asParam: (s: ParamSlot) => Param,
): KroneckerTaps {
  const layer = p.layer!;
  if (layer.kind === "linear") {
    if (p.shape.length !== 2) throw new RangeError(`linear weight "${p.name}" must be [out, in]`);
    const [out, inF] = p.shape;
    return {
      kind: "linear",
      weight: asParam(weight),
      bias: bias && asParam(bias),
      x: view(layer.input, [layer.rows, inF], `${p.name}.input`),
      d: view(layer.outputGrad, [layer.rows, out], `${p.name}.output_grad`),
      rows: layer.rows,
      inFeatures: inF,
      outFeatures: out,
      groups: 1,
    };
  }
  const g = layer.geometry;
  const { outH, outW } = convOutputSize(g);
  const rows = g.batch * outH * outW;
  return {
    kind: "conv2d",
    weight: asParam(weight),
    bias: bias && asParam(bias),
    x: view(layer.input, [g.batch, g.inH, g.inW, g.inC], `${p.name}.input`),
    d: view(layer.outputGrad, [rows, g.outC], `${p.name}.output_grad`),
    rows,
    inFeatures: (g.inC / g.groups) * g.kh * g.kw,
    outFeatures: g.outC / g.groups,
    groups: g.groups,
    geom: g,
  };
}
