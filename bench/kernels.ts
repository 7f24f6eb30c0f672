/**
 * Kernel benchmarks (`deno task bench:kernels`): matmul and conv sections on the default
 * adapter next to TensorFlow.js WebGPU, prints a Markdown table and writes
 * `bench/results/kernels-<date>.json|.md`.
 *
 * Usage: `deno task bench:kernels [--quick]` — `--quick` runs fewer sizes (a smoke
 * run; results go to `kernels-<date>-quick`).
 * @module
 */

import { acquireOrExit, type BenchRow, loadPeer, markdownTable, writeResults } from "./harness.ts";
import { matmulSection } from "./sections/matmul.ts";
import { convSection } from "./sections/conv.ts";

const args = [...Deno.args];
const quick = args.includes("--quick");
const unknown = args.filter((a) => a !== "--quick");
if (unknown.length > 0) {
  console.error(
    `unknown argument(s): ${unknown.join(" ")}\nusage: deno task bench:kernels [--quick]`,
  );
  Deno.exit(2);
}

const gpu = await acquireOrExit();
console.error(
  `adapter: ${gpu.adapter.description}${gpu.adapter.isFallbackAdapter ? " (software)" : ""}`,
);
const tf = await loadPeer();
const rows: BenchRow[] = [];
rows.push(...await matmulSection(gpu, tf, { quick }));
rows.push(...await convSection(gpu, tf));

console.log(markdownTable(rows));
const date = new Date().toISOString().slice(0, 10);
const command = `deno task bench:kernels${quick ? " --quick" : ""}`;
await writeResults(gpu, `kernels-${date}${quick ? "-quick" : ""}`, command, rows);
