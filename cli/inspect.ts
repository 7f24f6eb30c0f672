/**
 * `inspect`: the graph (layers, shapes, parameters), the memory plan
 * (activations, parameters, optimizer state including Kronecker factors),
 * the FLOPs of one training step, and every dispatch of every stage with its
 * kernel family and variant (and, with `time`, its GPU time), without
 * training.
 * @module
 */

import { acquireGpu, type AcquireOptions, describeAdapter } from "../lib/gpu/device.ts";
import type { Plan } from "../lib/plan/plan.ts";
import { type PlanProfile, profilePlan } from "../lib/train/profile.ts";
import { fmtMs, kernelName, SOFTWARE_SUBMIT_NOTE } from "../lib/train/profile_report.ts";
import { tunesOn } from "../lib/plan/tune.ts";
import { buildRunPlan, planOptions } from "../lib/run/plan.ts";
import { compileGraph } from "../dsl/compile.ts";
import type { RunSpec } from "../dsl/schema.ts";

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** Options of {@link inspect}. */
export interface InspectOptions {
  /** Time every dispatch on the GPU (timestamp queries; runs a few steps). */
  time?: boolean;
}

/** Every dispatch of every stage: label, kernel family/variant, and GPU ms when profiled. */
function dispatchTable(plan: Plan, profile?: PlanProfile): string {
  const head = ["stage", "#", "dispatch", "kernel", ...(profile ? ["GPU ms"] : [])];
  const rows = [head];
  let i = 0;
  for (const s of plan.stages) {
    let index = 0;
    for (const c of s.commands) {
      if (c.kind !== "dispatch") continue;
      const k = c.kernel;
      const name = k ? kernelName({ family: k.family, variant: k.variant, tuned: k.tuned }) : "";
      rows.push([
        index === 0 ? s.name : "",
        String(index++),
        c.label,
        name || "-",
        ...(profile ? [fmtMs(profile.dispatches[i].ms)] : []),
      ]);
      i++;
    }
  }
  return table(rows);
}

/** Builds the plan of `spec` and describes it as text. */
export async function inspect(
  spec: RunSpec,
  acquire?: AcquireOptions,
  opts: InspectOptions = {},
): Promise<string> {
  const graph = compileGraph(spec);
  const gpu = await acquireGpu(acquire);
  const t0 = performance.now();
  const { plan, choices, summary } = await buildRunPlan(
    gpu,
    spec,
    graph,
    planOptions(spec, "train"),
  );
  const tuned = new Set(choices.filter((c) => c.tuned).map((c) => `${c.family.id}|${c.key}`));
  const problems = new Set(choices.map((c) => `${c.family.id}|${c.key}`));
  const tuning = summary ??
    (tunesOn(gpu, spec.run.tune)
      ? "nothing to tune"
      : `no timing (${
        spec.run.tune === "off"
          ? "run.tune: off"
          : "software adapter; run.tune: exhaustive times it"
      })`);
  const buildMs = performance.now() - t0;
  const rows = [["layer", "type", "output", "parameters", "runs in"]];
  let total = 0;
  for (const n of graph.nodes) {
    const count = n.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    total += count;
    const host = plan.fusedInto[n.id];
    rows.push([
      n.name,
      n.kind.type,
      `[${n.shape.join(", ")}]`,
      count ? count.toLocaleString("en") : "",
      // A fused layer records no dispatch of its own: it runs in another's kernels.
      host === undefined ? "" : `${graph.nodes[host].name} (fused)`,
    ]);
  }
  const profile = opts.time
    ? await profilePlan(plan, { steps: 5, throughputSteps: 20 })
    : undefined;
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
    `kernel choices (run.tune: ${spec.run.tune}): ${problems.size} distinct problems, ${tuned.size} ` +
    `from the tuning cache; ${tuning}; plan built in ${(buildMs / 1000).toFixed(1)} s`,
    "",
    dispatchTable(plan, profile),
  ];
  if (profile) {
    const t = profile.throughput;
    lines.push(
      "",
      `GPU time per step (each dispatch timed on its own, cadences amortised): ${
        fmtMs(profile.gpuStepMs)
      } ms` + (profile.timestamps ? "" : " (no timestamp queries on this device)"),
      `CPU encode + submit per step: ${fmtMs(profile.cpuEncodeSubmitMs)} ms` +
        (profile.softwareAdapter ? ` (${SOFTWARE_SUBMIT_NOTE})` : "") +
        `; ${t.stepsPerSec.toFixed(1)} steps/s back to back over ${t.steps} steps`,
    );
  }
  plan.arena.dispose();
  return lines.join("\n");
}
