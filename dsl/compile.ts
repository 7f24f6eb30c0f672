/**
 * RunSpec → engine objects: resolved layer configs for the graph, the
 * optimizer factory, and the learning-rate schedule. Shape errors surface
 * here (through `buildGraph`), before any GPU work.
 * @module
 */

import { buildGraph, type Graph, type LayerSpec } from "../lib/graph/graph.ts";
import { adabelief, adagrad, radam } from "../lib/optim/adaptive.ts";
import { adamwBK, kfac, sgdmBK, shampoo, wadam, wsgdm } from "../lib/optim/adabk.ts";
import { adam, adamw, sgd } from "../lib/optim/first_order.ts";
import type { OptimizerFactory } from "../lib/optim/types.ts";
import { ShapeError } from "../lib/ops/types.ts";
import { lrAt, type LrScheduleSpec } from "../lib/train/schedule.ts";
import type { PathIssue } from "./errors.ts";
import { DATASETS, type Layer, type OptimizerSpec, type RunSpec } from "./schema.ts";

/** `k` or `[a, b]` → `[a, b]`. */
function pair(v: number | readonly number[]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

/** A layer's place in the spec: `["model", "layers", 2, "layers", 0]`. */
export type SpecPath = (string | number)[];

/**
 * Where each graph layer came from: full layer name (`block1.conv`, and
 * `block1.add` for a residual's sum) → its path in the spec, so a shape error
 * can point at the layer's line in a model file.
 */
export type LayerSources = Map<string, SpecPath>;

/** Resolves one schema layer (and its children) to graph layer specs. */
export function compileLayer(
  layer: Layer,
  index: number,
  path: string,
  sources: LayerSources = new Map(),
  at: SpecPath = ["model", "layers", index],
): LayerSpec {
  const name = layer.name ?? String(index);
  sources.set(`${path}${name}`, at);
  switch (layer.type) {
    case "sequential":
      return {
        type: "sequential",
        name,
        layers: compileLayers(layer.layers, `${path}${name}.`, sources, [...at, "layers"]),
      };
    case "residual":
      sources.set(`${path}${name}.add`, at);
      return {
        type: "residual",
        name,
        layers: compileLayers(layer.layers, `${path}${name}.`, sources, [...at, "layers"]),
        shortcut: layer.shortcut
          ? compileLayers(layer.shortcut, `${path}${name}.shortcut.`, sources, [...at, "shortcut"])
          : undefined,
      };
    case "linear":
      return { type: "linear", name, config: { out: layer.out, bias: layer.bias } };
    case "conv2d": {
      const kernel = pair(layer.kernel);
      const dilation = pair(layer.dilation);
      let padding: [number, number];
      if (layer.padding === "same") {
        const total = kernel.map((k, i) => dilation[i] * (k - 1));
        if (total.some((t) => t % 2 !== 0)) {
          throw new ShapeError(
            `${path}${name}`,
            "conv2d",
            `padding "same" with kernel [${kernel}] and dilation [${dilation}] needs asymmetric padding, which is not supported; give explicit padding`,
          );
        }
        padding = [total[0] / 2, total[1] / 2];
      } else padding = pair(layer.padding);
      return {
        type: "conv2d",
        name,
        config: {
          out: layer.out,
          kernel,
          stride: pair(layer.stride),
          padding,
          dilation,
          groups: layer.groups,
          bias: layer.bias,
        },
      };
    }
    case "batchnorm2d":
      return { type: "batchnorm2d", name, config: { eps: layer.eps, momentum: layer.momentum } };
    case "maxpool2d":
    case "avgpool2d":
      return {
        type: layer.type,
        name,
        config: {
          kernel: pair(layer.kernel),
          stride: pair(layer.stride),
          padding: pair(layer.padding),
        },
      };
    case "dropout":
      return { type: "dropout", name, config: { p: layer.p } };
    default:
      return { type: layer.type, name };
  }
}

/** Resolves a layer list (`at`: the list's path in the spec). */
export function compileLayers(
  layers: readonly Layer[],
  path = "",
  sources: LayerSources = new Map(),
  at: SpecPath = ["model", "layers"],
): LayerSpec[] {
  return layers.map((l, i) => compileLayer(l, i, path, sources, [...at, i]));
}

/** The number of classes of the spec's dataset. */
export function classCount(spec: RunSpec): number {
  const d = spec.data;
  return DATASETS[d.dataset].classes ?? d.synthetic!.classes;
}

/**
 * The graph of a RunSpec's model, checked against its data: throws
 * {@link ShapeError} naming the layer when shapes do not fit, or when the last
 * layer's width is not the dataset's class count. Fewer outputs than classes
 * leave labels without a logit; more give logits no label ever asks for,
 * which argmax can still pick (a prediction of a class that does not exist),
 * so both are refused rather than trained.
 */
export function compileGraph(spec: RunSpec, sources: LayerSources = new Map()): Graph {
  const graph = buildGraph(spec.model.input, compileLayers(spec.model.layers, "", sources));
  checkClasses(graph, classCount(spec), spec.data.dataset);
  return graph;
}

/** Throws {@link ShapeError} unless the graph gives one logit per class of `dataset`. */
export function checkClasses(graph: Graph, classes: number, dataset: string): void {
  const last = graph.nodes[graph.output];
  const width = last.shape[0];
  if (width !== classes) {
    throw new ShapeError(
      last.name,
      last.kind.type,
      `the last layer gives ${width} output${width === 1 ? "" : "s"} but dataset ${dataset} ` +
        `has ${classes} classes; the model must end with one output per class`,
    );
  }
}

/**
 * The shape errors of a spec's model as issues at the layer that fails (its
 * path in the spec), for the front ends to report with the schema issues.
 */
export function modelIssues(spec: RunSpec): PathIssue[] {
  const sources: LayerSources = new Map();
  try {
    compileGraph(spec, sources);
    return [];
  } catch (e) {
    if (!(e instanceof ShapeError)) throw e;
    const segments = sources.get(e.layer) ?? ["model", "layers"];
    return [{ segments, message: e.message, atKey: false }];
  }
}

/** The optimizer factory named by the spec, with its hyper-parameters. */
export function compileOptimizer(o: OptimizerSpec): OptimizerFactory {
  const kron = (
    x: {
      stat_decay: number;
      damping: number;
      stat_every: number;
      root_every: number;
      root_method: "reference" | "converged";
      stagger: boolean;
    },
  ) => ({
    statDecay: x.stat_decay,
    damping: x.damping,
    statEvery: x.stat_every,
    rootEvery: x.root_every,
    rootMethod: x.root_method,
    stagger: x.stagger,
  });
  switch (o.name) {
    case "sgd":
      return sgd({ lr: o.lr, weightDecay: o.weight_decay });
    case "sgdm":
      return sgd({
        lr: o.lr,
        momentum: o.momentum,
        nesterov: o.nesterov,
        dampening: o.dampening,
        weightDecay: o.weight_decay,
      });
    case "adam":
      return adam({ lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay });
    case "adamw":
      return adamw({ lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay });
    case "adagrad":
      return adagrad({ lr: o.lr, lrDecay: o.lr_decay, eps: o.eps, weightDecay: o.weight_decay });
    case "radam":
      return radam({ lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay });
    case "adabelief":
      return adabelief({ lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay });
    case "sgdm_bk":
      return sgdmBK({ lr: o.lr, momentum: o.momentum, weightDecay: o.weight_decay, ...kron(o) });
    case "adamw_bk":
      return adamwBK({
        lr: o.lr,
        betas: o.betas,
        eps: o.eps,
        weightDecay: o.weight_decay,
        ...kron(o),
      });
    case "wsgdm":
      return wsgdm({ lr: o.lr, momentum: o.momentum, weightDecay: o.weight_decay, ...kron(o) });
    case "wadam":
      return wadam({
        lr: o.lr,
        betas: o.betas,
        eps: o.eps,
        weightDecay: o.weight_decay,
        ...kron(o),
      });
    case "shampoo":
      return shampoo({ lr: o.lr, momentum: o.momentum, weightDecay: o.weight_decay, ...kron(o) });
    case "kfac":
      return kfac({ lr: o.lr, momentum: o.momentum, weightDecay: o.weight_decay, ...kron(o) });
  }
}

/** Total optimizer steps of the run for `stepsPerEpoch`. */
export function totalSteps(spec: RunSpec, stepsPerEpoch: number): number {
  return spec.schedule.steps ?? (spec.schedule.epochs! * stepsPerEpoch);
}

/** The learning rate at each global step. */
export function compileSchedule(spec: RunSpec, stepsPerEpoch: number): (k: number) => number {
  const s = spec.schedule;
  const curve = s.lr;
  const unit = s.unit === "epochs" ? "epoch" : "step";
  const total = totalSteps(spec, stepsPerEpoch);
  const sched: LrScheduleSpec = {
    lr: spec.optimizer.lr,
    decay: curve.type === "constant"
      ? { type: "constant" }
      : curve.type === "step"
      ? { type: "step", stepSize: curve.step_size, gamma: curve.gamma }
      : curve.type === "multistep"
      ? { type: "multistep", milestones: curve.milestones, gamma: curve.gamma }
      : { type: "cosine", minLr: curve.min_lr },
    unit,
    warmupSteps: s.warmup_steps,
    stepsPerEpoch,
    totalSteps: total,
  };
  return (k) => lrAt(sched, k);
}
