/**
 * The adabk command line: `train` a model file, `inspect` one.
 *
 * Run through `deno task train FILE.yaml` / `deno task inspect FILE.yaml`
 * (see deno.json for the exact permissions each needs).
 * @module
 */

import { Command, InvalidArgumentError } from "commander";
import { loadRunSpecFile, type Override, parseOverride } from "../dsl/yaml.ts";
import { train } from "../dsl/run.ts";
import { inspect } from "./inspect.ts";
import { describeError } from "./errors.ts";
import type { AcquireOptions } from "../lib/gpu/device.ts";

function collect(value: string, previous: Override[]): Override[] {
  try {
    return [...previous, parseOverride(value)];
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** Where the CLI writes (tests capture it). */
export interface CliOutput {
  /** Normal output. */
  out: (s: string) => void;
  /** Errors and diagnostics. */
  err: (s: string) => void;
  /** Device options (tests simulate a missing GPU here, not through the environment). */
  acquire?: AcquireOptions;
}

const STDIO: CliOutput = {
  out: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
  err: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
};

/** Builds the program (exported for tests). */
export function program(io: CliOutput = STDIO): Command {
  const cli = new Command("adabk")
    .description(
      "Train networks on WebGPU from declarative model files, with the AdaBK optimizers.",
    )
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  cli.command("train")
    .description("train the model described by a YAML file")
    .argument("<file>", "model file (YAML)")
    .option(
      "--set <key=value>",
      "override a field, e.g. --set optimizer.lr=0.01 (repeatable)",
      collect,
      [] as Override[],
    )
    .option("--out <dir>", "run directory (default: run.out_dir of the file)")
    .option("--resume <dir>", "continue the run in <dir> from its latest checkpoint")
    .option("--quiet", "no progress output")
    .action(async (file, opts) => {
      const overrides = [...opts.set];
      const out = opts.out ?? opts.resume;
      if (out) overrides.push({ path: ["run", "out_dir"], value: out });
      const spec = await loadRunSpecFile(file, overrides);
      const result = await train(spec, {
        progress: !opts.quiet,
        resume: opts.resume,
        acquire: io.acquire,
      });
      const acc = result.finalEval ? `${(100 * result.finalEval.accuracy).toFixed(2)}%` : "n/a";
      io.out(
        `final test accuracy ${acc} after ${result.steps} steps in ${
          result.seconds.toFixed(1)
        } s ` +
          `(${
            (result.seconds * 1000 / Math.max(1, result.steps)).toFixed(1)
          } ms/step); run directory ${spec.run.out_dir}`,
      );
    });

  cli.command("inspect")
    .description("show the graph, parameter counts, memory plan and FLOPs of a model file")
    .argument("<file>", "model file (YAML)")
    .option("--set <key=value>", "override a field (repeatable)", collect, [] as Override[])
    .action(async (file, opts) => {
      const spec = await loadRunSpecFile(file, opts.set);
      io.out((await inspect(spec, io.acquire)) + "\n");
    });
  return cli;
}

/** Runs the CLI on `args`; returns the exit code. */
export async function main(args: string[], io: CliOutput = STDIO): Promise<number> {
  try {
    await program(io).parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("commander.")) {
      // commander has printed its message already (help, unknown option, …).
      return code === "commander.helpDisplayed" || code === "commander.help" ||
          code === "commander.version"
        ? 0
        : 2;
    }
    const { text, user } = describeError(e);
    io.err(user ? `error: ${text}\n` : `internal error (please report): ${text}\n`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
