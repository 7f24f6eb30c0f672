/**
 * `deno task bench [--quick] [--only matmul,conv,steps,optim,roots]`: every
 * benchmark section on the default adapter next to TensorFlow.js 4.22 WebGPU
 * in the same process; prints a Markdown table and writes
 * `bench/results/<date>[-quick][-<sections>].json|.md` with the adapter recorded.
 * @module
 */

import {
  acquireOrExit,
  adapterSlug,
  type BenchRow,
  loadPeer,
  markdownTable,
  writeResults,
} from "./harness.ts";
import { matmulSection } from "./sections/matmul.ts";
import { convSection } from "./sections/conv.ts";
import { stepsSection } from "./sections/steps.ts";
import { optimSection } from "./sections/optim.ts";
import { rootsSection } from "./sections/roots.ts";
import { loadRunSpecFile } from "../dsl/yaml.ts";
import { compileGraph } from "../dsl/compile.ts";

const SECTIONS = ["matmul", "conv", "steps", "optim", "roots"] as const;
const args = [...Deno.args];
const usage = `usage: deno task bench [--quick] [--only=${SECTIONS.join(",")}]`;
if (args.includes("--help") || args.includes("-h")) {
  console.log(usage);
  Deno.exit(0);
}
const quick = args.includes("--quick");
const onlyArg = args.find((a) => a.startsWith("--only="))?.slice(7);
const unknown = args.filter((a) => a !== "--quick" && !a.startsWith("--only="));
const only = onlyArg ? onlyArg.split(",") : [...SECTIONS];
const bad = only.filter((s) => !(SECTIONS as readonly string[]).includes(s));
if (unknown.length || bad.length) {
  console.error(
    `unknown argument(s): ${[...unknown, ...bad].join(" ")}\n${usage}`,
  );
  Deno.exit(2);
}

const gpu = await acquireOrExit();
console.error(
  `adapter: ${gpu.adapter.description}${gpu.adapter.isFallbackAdapter ? " (software)" : ""}`,
);
const tf = await loadPeer();
const rows: BenchRow[] = [];
const t0 = performance.now();
for (const s of only) {
  console.error(`section ${s}…`);
  if (s === "matmul") rows.push(...await matmulSection(gpu, tf, { quick }));
  if (s === "conv") rows.push(...await convSection(gpu, tf, { quick }));
  if (s === "steps") rows.push(...await stepsSection(gpu, tf, { quick }));
  if (s === "roots") rows.push(...await rootsSection(gpu, { quick }));
  if (s === "optim") {
    const file = "examples/fashion_cnn.yaml";
    const spec = await loadRunSpecFile(file);
    rows.push(
      ...await optimSection(gpu, tf, compileGraph(spec), spec.data.batch_size, file, { quick }),
    );
  }
}
console.log(markdownTable(rows));
console.error(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
const date = new Date().toISOString().slice(0, 10);
const suffix = `${quick ? "-quick" : ""}${onlyArg ? `-${only.join("+")}` : ""}`;
await writeResults(
  gpu,
  `${date}-${adapterSlug(gpu)}${suffix}`,
  `deno task bench ${args.join(" ")}`.trim(),
  rows,
);
