/**
 * AdaBK overhead and inverse-root benchmark on its own:
 *   deno task bench:optim [--quick] [model.yaml]
 * (default model: examples/fashion_cnn.yaml). Writes bench/results/optim-<date>.*.
 * @module
 */

import { compileGraph } from "../dsl/compile.ts";
import { loadRunSpecFile } from "../dsl/yaml.ts";
import { acquireOrExit, loadPeer, markdownTable, writeResults } from "./harness.ts";
import { optimSection } from "./sections/optim.ts";

const quick = Deno.args.includes("--quick");
const file = Deno.args.find((a) => !a.startsWith("--")) ?? "examples/fashion_cnn.yaml";
const spec = await loadRunSpecFile(file);
const gpu = await acquireOrExit();
const tf = await loadPeer();
const rows = await optimSection(gpu, tf, compileGraph(spec), spec.data.batch_size, file, { quick });
console.log(markdownTable(rows));
const date = new Date().toISOString().slice(0, 10);
await writeResults(
  gpu,
  `optim-${date}${quick ? "-quick" : ""}`,
  `deno task bench:optim${quick ? " --quick" : ""} ${file}`,
  rows,
);
