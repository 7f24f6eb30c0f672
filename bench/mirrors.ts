/**
 * Texture-mirror refreshes of a training step, with and without the plan's
 * elision (lib/gpu/mirror_elision.ts): how many, and their GPU time alone
 * (the step's refreshes encoded `reps` times per submit; wall time per step,
 * 5 rounds). Refreshes exist only where kernels read textures (software
 * adapters).
 *
 *   deno run --no-prompt --lock=deno.full.lock --allow-read=. --allow-write=.cache \
 *     --allow-env=LOG_TOKENS,LOG_STREAM,ADABK_DUMP_WGSL,ADABK_NO_WEBGPU,ADABK_TUNE,XDG_RUNTIME_DIR \
 *     bench/mirrors.ts [FILE.yaml …]   (default: the CNN and residual examples)
 * @module
 */

import { compileGraph } from "../dsl/compile.ts";
import { loadRunSpecFile } from "../dsl/yaml.ts";
import { describeError } from "../cli/errors.ts";
import { type Command, encode } from "../lib/gpu/commands.ts";
import type { Gpu } from "../lib/gpu/device.ts";
import { buildPlan, type Plan } from "../lib/plan/plan.ts";
import { planOptions } from "../lib/run/plan.ts";
import { acquireOrExit } from "./harness.ts";

const files = Deno.args.length > 0
  ? Deno.args
  : ["examples/fashion_cnn.yaml", "examples/fashion_resnet.yaml"];

const refreshes = (p: Plan) =>
  p.stages.flatMap((s) => s.commands).filter((c) => c.kind === "copyToTexture");

/** Wall time per run of `cmds`, `reps` runs in one submit. */
async function msPerRun(gpu: Gpu, cmds: Command[], reps: number): Promise<number> {
  const enc = gpu.device.createCommandEncoder();
  for (let r = 0; r < reps; r++) encode(enc, cmds);
  const t0 = performance.now();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / reps;
}

try {
  const gpu = await acquireOrExit();
  console.log(`${gpu.adapter.description}; command: bench/mirrors.ts ${Deno.args.join(" ")}`);
  for (const file of files) {
    const spec = await loadRunSpecFile(file, []);
    const opts = planOptions(spec, "train");
    const plans = [false, true].map((elide) =>
      buildPlan(gpu, compileGraph(spec), { ...opts, elideMirrors: elide })
    );
    try {
      const [all, kept] = plans.map(refreshes);
      const times: string[] = [];
      for (let round = 0; round < 5; round++) {
        const [a, b] = [await msPerRun(gpu, all, 20), await msPerRun(gpu, kept, 20)];
        times.push(`${a.toFixed(2)} → ${b.toFixed(2)}`);
      }
      console.log(
        `${file}: ${all.length} → ${kept.length} refreshes per step; ms per step: ${
          times.join(", ")
        }`,
      );
    } finally {
      for (const p of plans) p.arena.dispose();
    }
  }
} catch (e) {
  const { text, user } = describeError(e);
  console.error(user ? `error: ${text}` : `internal error (please report): ${text}`);
  Deno.exit(1);
}
