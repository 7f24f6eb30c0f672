/**
 * RunSpec → engine objects: the graph of the model (checked against the
 * data), the optimizer factory, and the learning-rate schedule. Shape errors
 * surface here (through `buildGraph`), before any GPU work. Each layer kind,
 * optimizer and lr curve compiles through its own declaration in
 * dsl/schema/; this module applies them to a whole spec.
 * @module
 */

import { buildGraph, type Graph } from "../lib/graph/graph.ts";
import { ShapeError } from "../lib/ops/types.ts";
import type { PathIssue } from "./errors.ts";
import { compileLayers, type LayerSources } from "./schema/layers.ts";
import { classCount } from "./schema/data.ts";
import {
  compileSchedule as compileScheduleSection,
  totalSteps as scheduleSteps,
} from "./schema/schedule.ts";
import type { RunSpec } from "./schema/run.ts";

export { compileOptimizer } from "./schema/optimizers.ts";

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
  checkClasses(graph, classCount(spec.data), spec.data.dataset);
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

/** Total optimizer steps of the run for `stepsPerEpoch`. */
export function totalSteps(spec: RunSpec, stepsPerEpoch: number): number {
  return scheduleSteps(spec.schedule, stepsPerEpoch);
}

/** The learning rate at each global step. */
export function compileSchedule(spec: RunSpec, stepsPerEpoch: number): (k: number) => number {
  return compileScheduleSection(spec.schedule, spec.optimizer.lr, stepsPerEpoch);
}
