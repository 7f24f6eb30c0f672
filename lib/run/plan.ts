/**
 * A spec's plan: the one place that turns a RunSpec into plan options, for
 * every entry point that builds a plan (train, eval, inspect, profile), and
 * builds it with the spec's plan-time tuning.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Graph } from "../graph/graph.ts";
import type { PlanOptions } from "../plan/plan.ts";
import { buildTunedPlan, type TunedPlan } from "../plan/tune.ts";
import { compileOptimizer } from "../../dsl/compile.ts";
import type { RunSpec } from "../../dsl/schema.ts";

/**
 * What a plan is for: `train` (every stage of a step: the loss, the gradient
 * clipping the spec asks for, the optimizer) or `eval` (the forward pass and
 * the loss only: no optimizer, so a checkpoint evaluates whatever optimizer
 * trained it).
 */
export type PlanPurpose = "train" | "eval";

/** The plan options of `spec` for `purpose`. */
export function planOptions(spec: RunSpec, purpose: PlanPurpose): PlanOptions {
  const options: PlanOptions = {
    batch: spec.data.batch_size,
    seed: spec.run.seed,
    labelSmoothing: spec.loss.label_smoothing,
  };
  if (purpose === "eval") return options;
  return {
    ...options,
    optimizer: compileOptimizer(spec.optimizer),
    clipGradNorm: spec.optimizer.clip_grad_norm,
  };
}

/**
 * Builds the plan of `graph` with `options` (from {@link planOptions}),
 * tuned as `spec.run.tune` says; `log` receives the tuner's summary line.
 */
export async function buildRunPlan(
  gpu: Gpu,
  spec: RunSpec,
  graph: Graph,
  options: PlanOptions,
  log?: (line: string) => void,
): Promise<TunedPlan> {
  return await buildTunedPlan(gpu, graph, options, { mode: spec.run.tune, log });
}
