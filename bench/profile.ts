/**
 * Per-stage GPU time of one training step of a model file, from timestamp
 * queries (or wall time per stage when the adapter lacks them).
 *
 *   deno run -P=… bench/profile.ts examples/fashion_cnn.yaml [--set key=value …]
 * @module
 */

import { encode } from "../lib/gpu/commands.ts";
import { buildPlan } from "../lib/plan/plan.ts";
import { compileGraph, compileOptimizer } from "../dsl/compile.ts";
import { loadRunSpecFile, parseOverride } from "../dsl/yaml.ts";
import { acquireOrExit } from "./harness.ts";
import { median } from "../lib/report/aggregate.ts";

const [file, ...rest] = Deno.args;
const overrides = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === "--set") overrides.push(parseOverride(rest[++i]));
}
const spec = await loadRunSpecFile(file, overrides);
const gpu = await acquireOrExit();
const t0 = performance.now();
const plan = buildPlan(gpu, compileGraph(spec), {
  batch: spec.data.batch_size,
  seed: 0,
  optimizer: compileOptimizer(spec.optimizer),
});
console.log(
  `plan built in ${(performance.now() - t0).toFixed(0)} ms; ${gpu.pipelines.size} pipelines`,
);
const run = async (commands: Parameters<typeof encode>[1]) => {
  const enc = gpu.device.createCommandEncoder();
  encode(enc, commands);
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
};
await run(plan.init);
plan.optimizer?.prepareStep(0, 1e-3);
// Warm up (first dispatches compile lazily in some drivers).
const t1 = performance.now();
await run(plan.stages.flatMap((s) => s.commands));
console.log(`first step ${(performance.now() - t1).toFixed(0)} ms`);
const groups = new Map<string, number[]>();
for (let rep = 0; rep < 5; rep++) {
  for (const s of plan.stages) {
    // Per dispatch within the stage, to find the slow kernels.
    for (const c of s.commands) {
      const t = performance.now();
      await run([c]);
      const key = `${s.name} :: ${c.label}`;
      groups.set(key, [...(groups.get(key) ?? []), performance.now() - t]);
    }
  }
}
const rows = [...groups].map(([k, v]) => [k, median(v)] as const).sort((a, b) => b[1] - a[1]);
let total = 0;
for (const [, v] of rows) total += v;
console.log(
  `sum of per-command medians: ${total.toFixed(1)} ms (each includes ~0.1–11 ms of wait overhead)`,
);
for (const [k, v] of rows.slice(0, 25)) console.log(`${v.toFixed(2).padStart(9)} ms  ${k}`);
const t2 = performance.now();
for (let i = 0; i < 5; i++) await run(plan.stages.flatMap((s) => s.commands));
console.log(`whole step: ${((performance.now() - t2) / 5).toFixed(1)} ms`);
