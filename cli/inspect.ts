/**
 * `inspect`: the graph (layers, shapes, parameters), the memory plan
 * (activations, parameters, optimizer state including Kronecker factors) and
 * the FLOPs of one training step, without training.
 * @module
 */

import { acquireGpu, type AcquireOptions, describeAdapter } from "../lib/gpu/device.ts";
import { buildPlan } from "../lib/plan/plan.ts";
import { compileGraph, compileOptimizer } from "../dsl/compile.ts";
import type { RunSpec } from "../dsl/schema.ts";

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** Builds the plan of `spec` and describes it as text. */
export async function inspect(spec: RunSpec, acquire?: AcquireOptions): Promise<string> {
  const graph = compileGraph(spec);
  const rows = [["layer", "type", "output", "parameters"]];
  let total = 0;
  for (const n of graph.nodes) {
    const count = n.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    total += count;
    rows.push([
      n.name,
      n.kind.type,
      `[${n.shape.join(", ")}]`,
      count ? count.toLocaleString("en") : "",
    ]);
  }
  const gpu = await acquireGpu(acquire);
  const plan = buildPlan(gpu, graph, {
    batch: spec.data.batch_size,
    seed: spec.run.seed,
    optimizer: compileOptimizer(spec.optimizer),
  });
  const opt = plan.optimizer!;
  const stateBytes = opt.state.reduce((s, t) => s + t.tensor.size * 4, 0);
  const kronBytes = opt.state.filter((t) => t.name.includes(".kron.")).reduce(
    (s, t) => s + t.tensor.size * 4,
    0,
  );
  const paramBytes = plan.params.reduce((s, p) => s + p.value.size * 8, 0); // values + gradients
  const lines = [
    `model: ${graph.nodes.length} ops, ${total.toLocaleString("en")} parameters, input [${
      graph.input.join(", ")
    }]`,
    "",
    table(rows),
    "",
    `optimizer: ${spec.optimizer.name}`,
    table([["parameter", "treatment"], ...opt.describe().map((d) => [d.name, d.treatment])]),
    "",
    `memory plan (batch ${plan.batch}): ${mib(plan.arena.bytes)} in all on the GPU`,
    `  parameters and gradients  ${mib(paramBytes)}`,
    `  optimizer state           ${mib(stateBytes)}${
      kronBytes ? ` (Kronecker factors and roots ${mib(kronBytes)})` : ""
    }`,
    `  activations, gradients and scratch  ${mib(plan.arena.bytes - paramBytes - stateBytes)}`,
    `FLOPs per training step (layers): ${(plan.flopsPerStep / 1e9).toFixed(3)} GFLOP`,
    `stages: ${
      plan.stages.map((s) => `${s.name}${s.cadence.every > 1 ? ` (every ${s.cadence.every})` : ""}`)
        .join(", ")
    }`,
    `adapter: ${describeAdapter(gpu.adapter)}`,
  ];
  plan.arena.dispose();
  return lines.join("\n");
}
