/**
 * `deno task profile FILE.yaml [--set key=value …] [flags]`: the per-dispatch
 * GPU profile of one training step of a model file (see lib/train/profile.ts):
 * a table by stage, the top kernels with their variants, CPU encode+submit
 * per step and back-to-back throughput. The plan is built and tuned as
 * training builds it (`run.tune`).
 *
 * Flags: `--steps N` (steps timed per dispatch, default 10), `--throughput N`
 * (back-to-back steps, default 50), `--top N` (kernels listed, default 15),
 * `--json PATH`, `--md PATH` (also write the results there; the task may
 * write under bench/results/ and .cache/).
 * @module
 */

import { compileGraph, compileOptimizer } from "../dsl/compile.ts";
import { loadRunSpecFile, type Override, parseOverride } from "../dsl/yaml.ts";
import { describeError } from "../cli/errors.ts";
import { profilePlan } from "../lib/train/profile.ts";
import { profileMarkdown } from "../lib/train/profile_report.ts";
import { buildTunedPlan } from "../lib/plan/tune.ts";
import { acquireOrExit } from "./harness.ts";

const USAGE = "usage: deno task profile FILE.yaml [--set key=value]… [--steps N] " +
  "[--throughput N] [--top N] [--json PATH] [--md PATH]";

interface Args {
  file: string;
  overrides: Override[];
  steps: number;
  throughput: number;
  top: number;
  json?: string;
  md?: string;
}

/** Parses the command line; throws a one-line message on bad input. */
function parseArgs(argv: readonly string[]): Args {
  const out: Partial<Args> & { overrides: Override[] } = { overrides: [] };
  const count = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`${flag} needs a positive integer, got "${v}"`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--set") out.overrides.push(parseOverride(value()));
    else if (a === "--steps") out.steps = count(a, value());
    else if (a === "--throughput") out.throughput = count(a, value());
    else if (a === "--top") out.top = count(a, value());
    else if (a === "--json") out.json = value();
    else if (a === "--md") out.md = value();
    else if (a.startsWith("-")) throw new Error(`unknown flag ${a}`);
    else if (out.file === undefined) out.file = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!out.file) throw new Error("give the model file");
  return { steps: 10, throughput: 50, top: 15, ...out, file: out.file };
}

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(USAGE);
  Deno.exit(0);
}
let args: Args;
try {
  args = parseArgs(Deno.args);
} catch (e) {
  console.error(`error: ${(e as Error).message}\n${USAGE}`);
  Deno.exit(2);
}

try {
  const spec = await loadRunSpecFile(args.file, args.overrides);
  const gpu = await acquireOrExit();
  const t0 = performance.now();
  const notes: string[] = [
    `adapter: ${gpu.adapter.description}${gpu.adapter.isFallbackAdapter ? " (software)" : ""}`,
    `command: deno task profile ${Deno.args.join(" ")}`,
    `batch ${spec.data.batch_size}, optimizer ${spec.optimizer.name}, run.tune ${spec.run.tune}`,
  ];
  const { plan, summary } = await buildTunedPlan(gpu, compileGraph(spec), {
    batch: spec.data.batch_size,
    seed: spec.run.seed,
    optimizer: compileOptimizer(spec.optimizer),
    clipGradNorm: spec.optimizer.clip_grad_norm,
    labelSmoothing: spec.loss.label_smoothing,
  }, { mode: spec.run.tune, log: (line) => console.error(line) });
  if (summary) notes.push(summary);
  notes.push(
    `plan built in ${(performance.now() - t0).toFixed(0)} ms; ${gpu.pipelines.size} pipelines`,
  );
  const profile = await profilePlan(plan, { steps: args.steps, throughputSteps: args.throughput });
  plan.arena.dispose();
  const md = profileMarkdown(profile, { title: `Profile of ${args.file}`, notes, top: args.top });
  console.log(md);
  if (args.md) await Deno.writeTextFile(args.md, md);
  if (args.json) {
    const record = {
      date: new Date().toISOString(),
      file: args.file,
      command: notes[1].slice("command: ".length),
      adapter: gpu.adapter,
      deno: Deno.version.deno,
      tuning: summary ?? null,
      ...profile,
    };
    await Deno.writeTextFile(args.json, JSON.stringify(record, null, 2) + "\n");
  }
} catch (e) {
  const { text, user } = describeError(e);
  console.error(user ? `error: ${text}` : `internal error (please report): ${text}`);
  Deno.exit(1);
}
