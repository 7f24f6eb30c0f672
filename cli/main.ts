/**
 * The adabk command line: `train` a model file, `inspect` one, `eval` a
 * checkpoint, `compare` optimizers, `export-csv` a run's metrics, `bench`.
 *
 * Run through `deno task train FILE.yaml`, `deno task compare FILE.yaml …`,
 * `deno task adabk <command> …` (see deno.json and docs/cli.md for the exact
 * permissions each needs).
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import { loadRunSpecFile, type Override, parseOverride } from "../dsl/yaml.ts";
import { train, type TrainResult } from "../lib/run/train.ts";
import { loadResumeSpec } from "../lib/run/run_files.ts";
import { inspect } from "./inspect.ts";
import { describeError } from "./errors.ts";
import { evaluateCheckpoint } from "../lib/run/evaluate.ts";
import { benchHelp } from "./bench.ts";
import { exportRunCsv } from "../lib/report/csv.ts";
import type { AcquireOptions } from "../lib/gpu/device.ts";
import type { RunSpec } from "../dsl/schema.ts";

/**
 * `compare` and `report` are loaded on first use, through specifiers Deno
 * cannot see ahead of time: their figures need Observable Plot (and with it
 * d3), resvg and a font, which are in deno.figures.lock, not in deno.lock.
 * A literal import, even a dynamic one, would put those packages into the
 * module graph, and so into the first download, of every training run.
 */
const COMPARE_MODULE = new URL("./compare.ts", import.meta.url).href;
const REPORT_MODULE = new URL("./report.ts", import.meta.url).href;

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

function collectText(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  }
  return n;
}

/** A shell-quoted command line (for summary files that say how they were made). */
function shellLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`))
    .join(" ");
}

/** The line `train` ends with: final accuracy, steps and time, or that a resumed run was complete. */
function trainSummaryLine(r: TrainResult, spec: RunSpec): string {
  const dir = spec.run.out_dir;
  const pct = (a: number | undefined) => a === undefined ? "n/a" : `${(100 * a).toFixed(2)}%`;
  if (r.complete) {
    const [key, n] = spec.schedule.epochs !== undefined
      ? ["epochs", spec.schedule.epochs]
      : ["steps", spec.schedule.steps];
    return `run ${dir} is already complete (step ${r.complete.step} of ${r.complete.totalSteps}, ` +
      `final ${r.evalSplit} accuracy ${pct(r.complete.accuracy)}): nothing to train. ` +
      `To train longer: --resume ${dir} --set schedule.${key}=<more than ${n}>`;
  }
  const ms = (r.seconds * 1000 / Math.max(1, r.steps)).toFixed(1);
  return `final ${r.evalSplit} accuracy ${pct(r.finalEval?.accuracy)} after ${r.steps} steps in ` +
    `${r.seconds.toFixed(1)} s (${ms} ms/step); run directory ${dir}`;
}

/** Builds the program (exported for tests); `argv` is quoted in reports. */
export function program(io: CliOutput = STDIO, argv: readonly string[] = []): Command {
  const cli = new Command("adabk")
    .description(
      "Train networks on WebGPU from declarative model files, with the AdaBK optimizers.",
    )
    .showHelpAfterError("(run with --help for usage)")
    // Help and errors are plain text: with colour detection left on, commander
    // reads NO_COLOR, FORCE_COLOR and CLICOLOR_FORCE from the environment,
    // which no task may read (a missing permission turned every --help into
    // exit 1). Its only other environment read, Option.env(), is not used.
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .exitOverride();

  cli.command("train")
    .description("train the model described by a YAML file, or continue a run (--resume)")
    .argument(
      "[file]",
      "model file (YAML); optional with --resume, which trains with the run's spec.json (a file given must agree with it)",
    )
    .option(
      "--set <key=value>",
      "override a field, e.g. --set optimizer.lr=0.01; key=null unsets it (repeatable)",
      collect,
      [] as Override[],
    )
    .option("--out <dir>", "run directory (default: run.out_dir of the file)")
    .option(
      "--resume <dir>",
      "continue the run in <dir> from its latest checkpoint, with its spec.json (changes only by --set)",
    )
    .addOption(
      new Option(
        "--overwrite",
        "start over in a run directory that already holds a run (deletes its checkpoints and metrics)",
      ).conflicts("resume"),
    )
    .option("--quiet", "no progress output")
    .action(async (file, opts, cmd) => {
      if (file === undefined && opts.resume === undefined) {
        cmd.error("error: missing required argument 'file'", {
          code: "commander.missingArgument",
          exitCode: 2,
        });
      }
      const resume = opts.resume?.replace(/\/+$/, "");
      if (
        resume !== undefined && opts.out !== undefined && opts.out.replace(/\/+$/, "") !== resume
      ) {
        cmd.error("error: --out must name the run directory of --resume (or be left out)", {
          code: "commander.conflictingOption",
          exitCode: 2,
        });
      }
      // A resumed run trains with its own spec.json (plus --set); see loadResumeSpec.
      const spec = resume !== undefined
        ? await loadResumeSpec(resume, file, opts.set)
        : await loadRunSpecFile(file!, [
          ...opts.set,
          ...(opts.out
            ? [{ path: ["run", "out_dir"], value: opts.out, source: `--out ${opts.out}` }]
            : []),
        ]);
      const result = await train(spec, {
        progress: !opts.quiet,
        resume,
        overwrite: opts.overwrite,
        log: (line) => io.err(line + "\n"),
        acquire: io.acquire,
      });
      io.out(trainSummaryLine(result, spec) + "\n");
    });

  cli.command("inspect")
    .description(
      "show the graph, parameter counts, memory plan, FLOPs and kernel choices of a model file",
    )
    .argument("<file>", "model file (YAML)")
    .option("--set <key=value>", "override a field (repeatable)", collect, [] as Override[])
    .option("--time", "time every dispatch on the GPU (runs a few steps on zero data)")
    .action(async (file, opts) => {
      const spec = await loadRunSpecFile(file, opts.set);
      io.out((await inspect(spec, io.acquire, { time: opts.time })) + "\n");
    });

  cli.command("eval")
    .description("evaluate the latest checkpoint of a run on the test split")
    .argument("<file>", "model file (YAML) the run was trained from")
    .requiredOption(
      "--checkpoint <dir>",
      "run directory, or its checkpoints/ or best/ folder",
    )
    .option("--set <key=value>", "override a field (repeatable)", collect, [] as Override[])
    .action(async (file, opts) => {
      const spec = await loadRunSpecFile(file, opts.set);
      const r = await evaluateCheckpoint(spec, opts.checkpoint, {
        acquire: io.acquire,
        log: (line) => io.err(line + "\n"),
      });
      io.out(
        `test loss ${r.loss.toFixed(4)}, test accuracy ${(100 * r.accuracy).toFixed(2)}% ` +
          `(${r.samples} samples) from the checkpoint at step ${r.step} (epoch ${r.epoch}) in ${r.folder}\n`,
      );
    });

  cli.command("compare")
    .description("train once per optimizer and seed; plot and summarise the runs")
    .argument("<file>", "model file (YAML)")
    .requiredOption(
      "--optimizers <names>",
      "comma-separated optimizer names, e.g. adamw,adamw_bk,sgdm,sgdm_bk",
    )
    .option("--seeds <n>", "seeds per optimizer (run.seed, run.seed+1, …)", positiveInt, 1)
    .option(
      "--set <key=value>",
      "override a field in every run (repeatable)",
      collect,
      [] as Override[],
    )
    .option(
      "--lr <name=value>",
      "learning rate of one optimizer, e.g. --lr sgdm=0.05 (repeatable)",
      collectText,
      [] as string[],
    )
    .option("--out <dir>", "output directory (default runs/<run.name>-compare)")
    .option(
      "--overwrite",
      "start over where the run directories already hold runs (deletes their checkpoints and metrics)",
    )
    .option("--no-png", "write SVG figures only")
    .option(
      "--font <file>",
      "TrueType font for PNG text (default: the bundled DejaVu Sans)",
    )
    .option("--quiet", "no per-step progress (run start/end lines remain)")
    .action(async (file, opts) => {
      const { compare, parseLrFlags }: typeof import("./compare.ts") = await import(
        COMPARE_MODULE
      );
      const optimizers = opts.optimizers.split(",").map((s) => s.trim()).filter((s) => s);
      const result = await compare({
        file,
        optimizers,
        seeds: opts.seeds,
        overrides: opts.set,
        lr: parseLrFlags(opts.lr, optimizers),
        out: opts.out,
        overwrite: opts.overwrite,
        quiet: opts.quiet,
        png: opts.png,
        fonts: opts.font ? [opts.font] : undefined,
        command: `deno task adabk ${shellLine(argv)}`,
        acquire: io.acquire,
        log: io.err,
      });
      io.out(
        `wrote ${
          result.files.join(", ")
        } and ${result.runs.length} run directories in ${result.dir}\n`,
      );
    });

  cli.command("report")
    .description("figures, metrics.csv and summary.md of existing run directories")
    .argument("<run_dirs...>", "run directories (e.g. runs/cmp/adamw-seed0 runs/cmp/adamw-seed1)")
    .requiredOption("--out <dir>", "output directory")
    .option(
      "--label <prefix=name>",
      "show runs whose directory starts with prefix as name (repeatable; default: the optimizer)",
      collectText,
      [] as string[],
    )
    .option("--no-png", "write SVG figures only")
    .option(
      "--font <file>",
      "TrueType font for PNG text (default: the bundled DejaVu Sans)",
    )
    .action(async (dirs, opts) => {
      const { parseLabels, report }: typeof import("./report.ts") = await import(REPORT_MODULE);
      const result = await report({
        dirs,
        out: opts.out,
        labels: parseLabels(opts.label),
        png: opts.png,
        fonts: opts.font ? [opts.font] : undefined,
        command: `deno task adabk ${shellLine(argv)}`,
        log: io.err,
      });
      io.out(`wrote ${result.files.join(", ")} for ${result.runs.length} runs in ${result.dir}\n`);
    });

  cli.command("export-csv")
    .description("write RUN_DIR/metrics.csv from RUN_DIR/metrics.jsonl")
    .argument("<run_dir>", "run directory")
    .action(async (dir) => {
      const r = await exportRunCsv(dir);
      io.out(`wrote ${r.path} (${r.rows} rows)\n`);
    });

  cli.command("bench")
    .description("how to run the benchmarks (deno task bench)")
    .action(() => io.out(benchHelp()));
  return cli;
}

/** Runs the CLI on `args`; returns the exit code. */
export async function main(args: string[], io: CliOutput = STDIO): Promise<number> {
  try {
    await program(io, args).parseAsync(args, { from: "user" });
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
