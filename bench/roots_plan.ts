/**
 * Counts what the AdaBK statistics, roots and preconditioning stages of a
 * model file record: dispatches (by kernel), texture-mirror copies, buffer
 * copies, dispatches of a single workgroup, and the roots' batches with
 * their dispatches and FLOPs.
 * Builds the plan only (nothing runs), so the counts are exact on any
 * adapter; they differ between adapters only where a kernel family picks a
 * different variant (texture matmuls add mirror copies on software adapters).
 *
 *   deno run --no-prompt --lock=deno.full.lock --allow-read=. --allow-write=.cache \
 *     --allow-env=LOG_TOKENS,LOG_STREAM,ADABK_DUMP_WGSL,ADABK_NO_WEBGPU,ADABK_TUNE,XDG_RUNTIME_DIR \
 *     bench/roots_plan.ts [examples/fashion_cnn.yaml=adamw_bk examples/fashion_resnet.yaml=sgdm_bk …]
 * @module
 */

import { type Command, dispatchCount } from "../lib/gpu/commands.ts";
import { BufferArena } from "../lib/gpu/tensor.ts";
import { acquireOrExit } from "./harness.ts";
import { batchChain, planWith, rootBatchesOf } from "./sections/roots.ts";

const DEFAULT = [
  "examples/fashion_cnn.yaml=adamw_bk",
  "examples/fashion_resnet.yaml=sgdm_bk",
];

/** Counts of one list of commands. */
function count(commands: readonly Command[]) {
  const byLabel = new Map<string, number>();
  let dispatches = 0, mirrors = 0, copies = 0, single = 0;
  for (const c of commands) {
    if (c.kind === "dispatch") {
      dispatches++;
      if (c.workgroups[0] * c.workgroups[1] * c.workgroups[2] === 1) single++;
      // "head.R.mm:tiled_32x32" → "mm:tiled_32x32"; "root_poly" stays.
      const key = c.label.replace(/^.*\.(mm|sym\d?|square)/, "$1");
      byLabel.set(key, (byLabel.get(key) ?? 0) + 1);
    } else if (c.kind === "copyToTexture") mirrors++;
    else copies++;
  }
  return { dispatches, mirrors, copies, single, byLabel };
}

const gpu = await acquireOrExit();
const args = Deno.args.length ? Deno.args : DEFAULT;
for (const arg of args) {
  const [file, opt] = arg.split("=");
  const { spec, plan } = await planWith(gpu, file, opt);
  const factors = plan.optimizer!.state.filter((t) => /\.kron\.[LR]$/.test(t.name))
    .map((t) => t.tensor.shape[0]);
  console.log(`\n## ${file} (${spec.optimizer.name}), factors ${factors.join(", ")}`);
  console.log(`adapter: ${gpu.adapter.description}`);
  const groups: [string, (name: string) => boolean][] = [
    ["statistics", (n) => n.startsWith("statistics")],
    ["roots", (n) => n.startsWith("roots")],
    ["precondition", (n) => n === "precondition"],
  ];
  for (const [name, pick] of groups) {
    const stages = plan.stages.filter((s) => pick(s.name));
    const c = count(stages.flatMap((s) => s.commands));
    console.log(
      `${name}: ${stages.length} stages, ${c.dispatches} dispatches ` +
        `(${c.single} of one workgroup), ${c.mirrors} mirror copies, ${c.copies} buffer copies`,
    );
    if (name === "roots") {
      const top = [...c.byLabel].sort((a, b) => b[1] - a[1]);
      console.log(`  by kernel: ${top.map(([k, v]) => `${k} ${v}`).join(", ")}`);
      const arena = new BufferArena(gpu.device);
      let total = 0;
      const batches = rootBatchesOf(plan).map(({ d, count }) => {
        const b = batchChain(gpu, arena, d, count);
        total += b.gflop;
        return `${count}×${d}² ${b.variant} ${dispatchCount(b.commands)} dispatches ${
          b.gflop.toFixed(3)
        } GFLOP`;
      });
      arena.dispose();
      console.log(`  batches: ${batches.join("; ")}`);
      console.log(`  FLOPs of all roots: ${total.toFixed(2)} GFLOP`);
    }
  }
  plan.arena.dispose();
}
