/**
 * Times the kernel problems a model's plan records, per family, on this
 * adapter (software adapters included, where `run.tune: auto` times
 * nothing), and prints each problem's fastest candidate against the untuned
 * choice. Choices go to a scratch cache file unless `--save` keeps them in
 * `.cache/tune.json`, where plans then use them.
 *
 *   deno run --no-prompt --lock=deno.full.lock --allow-read=. --allow-write=.cache \
 *     --allow-env=LOG_TOKENS,LOG_STREAM,ADABK_DUMP_WGSL,ADABK_NO_WEBGPU,ADABK_TUNE,XDG_RUNTIME_DIR \
 *     bench/tune_plan.ts FILE.yaml [--family reduce.axis,…] [--set key=value]… [--save]
 * @module
 */

import { compileGraph } from "../dsl/compile.ts";
import { parseArgs as parseCommandLine } from "node:util";
import { loadRunSpecFile, parseOverride } from "../dsl/yaml.ts";
import { describeError } from "../cli/errors.ts";
import { buildPlan } from "../lib/plan/plan.ts";
import { planOptions } from "../lib/run/plan.ts";
import { recordChoices } from "../lib/kernels/tune/choose.ts";
import { DEFAULT_TUNE_PATH } from "../lib/kernels/tune/cache.ts";
import { tuneRequests } from "../lib/kernels/tune/tuner.ts";
import { acquireOrExit } from "./harness.ts";

const USAGE = "usage: bench/tune_plan.ts FILE.yaml [--family ID[,ID…]] [--set key=value]… [--save]";

/** Parses the command line; throws a one-line message on bad input. */
function parseArgs(argv: string[]) {
  const { values, positionals } = parseCommandLine({
    args: argv,
    allowPositionals: true,
    options: {
      family: { type: "string", multiple: true },
      set: { type: "string", multiple: true },
      save: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (positionals.length !== 1) throw new Error("give one model file");
  return {
    file: positionals[0],
    families: (values.family ?? []).flatMap((f) => f.split(",")).filter(Boolean),
    overrides: (values.set ?? []).map(parseOverride),
    save: values.save ?? false,
  };
}

let args: ReturnType<typeof parseArgs>;
try {
  args = parseArgs(Deno.args);
} catch (e) {
  console.error(`error: ${(e as Error).message}\n${USAGE}`);
  Deno.exit(2);
}

const scratch = `.cache/tune-plan-${Deno.pid}.json`;
try {
  const spec = await loadRunSpecFile(args.file, args.overrides);
  const gpu = await acquireOrExit();
  const { result: plan, choices } = recordChoices(
    { useCache: false },
    () => buildPlan(gpu, compileGraph(spec), planOptions(spec, "train")),
  );
  plan.arena.dispose();
  const wanted = choices.filter((c) =>
    args.families.length === 0 || args.families.includes(c.family.id)
  );
  const known = [...new Set(choices.map((c) => c.family.id))];
  if (wanted.length === 0) {
    throw new RangeError(
      `no problem of ${args.families.join(", ")} (this plan has: ${known.join(", ")})`,
    );
  }
  const t0 = performance.now();
  const results = await tuneRequests(gpu, wanted, {
    path: args.save ? DEFAULT_TUNE_PATH : scratch,
    retune: true,
  });
  console.log(
    `${gpu.adapter.description}${gpu.adapter.isFallbackAdapter ? " (software)" : ""}; ` +
      `${results.length} problems timed in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
      `command: bench/tune_plan.ts ${Deno.args.join(" ")}\n`,
  );
  console.log("| family | problem | untuned | ms | fastest | ms | gain |");
  console.log("| --- | --- | --- | ---: | --- | ---: | ---: |");
  let before = 0, after = 0;
  for (const r of results) {
    const untuned = wanted.find((c) => c.family.id === r.family && c.key === r.key)!.variant;
    const u = r.timings[untuned];
    const t = r.timings[r.variant];
    if (u !== undefined && t !== undefined) [before, after] = [before + u, after + t];
    const ms = (v?: number) => (v === undefined ? "–" : v.toFixed(3));
    const gain = u !== undefined && t !== undefined ? `${(u / t).toFixed(2)}×` : "–";
    console.log(
      `| ${r.family} | ${r.key} | ${untuned} | ${ms(u)} | ${r.variant} | ${ms(t)} | ${gain} |`,
    );
  }
  console.log(
    `\nsum over problems with both timed (each problem once): ${before.toFixed(3)} → ${
      after.toFixed(3)
    } ms`,
  );
} catch (e) {
  const { text, user } = describeError(e);
  console.error(user ? `error: ${text}` : `internal error (please report): ${text}`);
  Deno.exitCode = 1;
} finally {
  try {
    Deno.removeSync(scratch);
  } catch { /* never written */ }
}
