/**
 * `compare`: train one model file once per optimizer × seed and write the
 * comparison report (figures, metrics.csv, summary.md).
 *
 * Changing optimizers: the optimizer section becomes `{name, lr}` plus every
 * field the file (and `--set optimizer.*`) gives that the new optimizer's
 * schema accepts; the rest are dropped and reported, because hyper-parameters
 * of one method (betas, stat_every) mean nothing, or something else, to
 * another. `lr` is the file's value (or its optimizer's default) unless
 * `--lr name=value` sets one per optimizer: learning rates rarely transfer
 * between Adam-type and SGD-type methods.
 * @module
 */

import { parse as parseYaml } from "yaml";
import type { Override } from "../dsl/yaml.ts";
import { loadRunSpecFile } from "../dsl/yaml.ts";
import { OPTIMIZER_SCHEMAS, type RunSpec } from "../dsl/schema.ts";
import { SpecError } from "../dsl/errors.ts";
import { train } from "../dsl/run.ts";
import { acquireGpu, type AcquireOptions, describeAdapter } from "../lib/gpu/device.ts";
import { TrainingDivergedError } from "../lib/train/trainer.ts";
import { readRunMetrics, type RunMetrics } from "../lib/report/metrics.ts";
import { writeComparisonReport } from "../lib/report/report.ts";
import { checkRunDirFree } from "../lib/train/run_dir.ts";

/** Every optimizer name the schema knows. */
export const OPTIMIZER_NAMES: readonly string[] = OPTIMIZER_SCHEMAS.map((s) =>
  s.shape.name.value as string
);

/** Options of {@link compare}. */
export interface CompareOptions {
  /** Model file (YAML). */
  file: string;
  /** Optimizer names, in display order. */
  optimizers: readonly string[];
  /** Seeds per optimizer: run.seed, run.seed + 1, … */
  seeds: number;
  /** `--set` overrides, applied to every run. */
  overrides: readonly Override[];
  /** Per-optimizer learning rates. */
  lr?: ReadonlyMap<string, number>;
  /** Output directory (default `runs/<run.name>-compare`). */
  out?: string;
  /** Start over where run directories of an earlier comparison exist (else they are refused). */
  overwrite?: boolean;
  /** No trainer progress (run start/end lines are still printed). */
  quiet?: boolean;
  /** Skip PNGs (SVGs only). */
  png?: boolean;
  /** Font files to try for PNG text. */
  fonts?: readonly string[];
  /** The command line, for summary.md. */
  command: string;
  /** Device options. */
  acquire?: AcquireOptions;
  /** Progress and notes. */
  log: (s: string) => void;
}

/** What {@link compare} did. */
export interface CompareResult {
  /** Output directory. */
  dir: string;
  /** Report files written (names inside `dir`). */
  files: string[];
  /** Every run's metrics. */
  runs: RunMetrics[];
  /** Fields dropped per optimizer. */
  dropped: Map<string, string[]>;
}

/** The fields an optimizer's schema accepts. */
function acceptedFields(name: string): Set<string> {
  const schema = OPTIMIZER_SCHEMAS.find((s) => s.shape.name.value === name)!;
  return new Set(Object.keys(schema.shape));
}

/** Checks `--optimizers` names; a typo gets a suggestion. */
export function checkOptimizerNames(names: readonly string[]): void {
  if (names.length === 0) {
    throw new SpecError([{ path: "", message: "give at least one optimizer" }], "--optimizers");
  }
  const bad = names.filter((n) => !OPTIMIZER_NAMES.includes(n));
  if (bad.length) {
    throw new SpecError(
      bad.map((n) => ({
        path: "",
        message: `unknown optimizer "${n}"; expected one of: ${OPTIMIZER_NAMES.join(", ")}`,
      })),
      "--optimizers",
    );
  }
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) {
    throw new SpecError([{ path: "", message: `"${dup}" is listed twice` }], "--optimizers");
  }
}

/**
 * The optimizer section for `name` from the file's raw section `given`
 * (after `--set`) and the resolved learning rate: `{name, lr}` plus the
 * accepted fields of `given`. Returns the section and the dropped fields.
 */
export function switchOptimizer(
  name: string,
  given: Readonly<Record<string, unknown>>,
  lr: number,
): { section: Record<string, unknown>; dropped: string[] } {
  const accepted = acceptedFields(name);
  const section: Record<string, unknown> = { name, lr };
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(given)) {
    if (k === "name" || k === "lr") continue;
    if (accepted.has(k)) section[k] = v;
    else dropped.push(k);
  }
  return { section, dropped };
}

/** The optimizer section as the file writes it, with `--set optimizer.*` applied. */
async function rawOptimizer(
  file: string,
  overrides: readonly Override[],
): Promise<Record<string, unknown>> {
  // The file was validated already (loadRunSpecFile), so this parse succeeds.
  const doc = parseYaml(await Deno.readTextFile(file)) as { optimizer?: Record<string, unknown> };
  const section = { ...(doc.optimizer ?? {}) };
  for (const o of overrides) {
    if (o.path[0] !== "optimizer" || o.path.length !== 2) continue;
    if (o.value === null) delete section[String(o.path[1])]; // `--set key=null` unsets
    else section[String(o.path[1])] = o.value;
  }
  return section;
}

/** `a=b` pairs of `--lr`, checked against the optimizers compared. */
export function parseLrFlags(items: readonly string[], optimizers: readonly string[]) {
  const lr = new Map<string, number>();
  for (const item of items) {
    const [name, value, extra] = item.split("=");
    const v = Number(value);
    if (extra !== undefined || !name || !(v > 0) || !Number.isFinite(v)) {
      throw new SpecError(
        [{ path: "", message: `expected optimizer=learning-rate (> 0), got "${item}"` }],
        "--lr",
      );
    }
    if (!optimizers.includes(name)) {
      throw new SpecError(
        [{ path: "", message: `"${name}" is not one of the compared optimizers` }],
        "--lr",
      );
    }
    lr.set(name, v);
  }
  return lr;
}

/** Trains every optimizer × seed of `opts` and writes the report. */
export async function compare(opts: CompareOptions): Promise<CompareResult> {
  checkOptimizerNames(opts.optimizers);
  if (!Number.isInteger(opts.seeds) || opts.seeds < 1) {
    throw new RangeError(`--seeds must be a positive integer, got ${opts.seeds}`);
  }
  const base = await loadRunSpecFile(opts.file, opts.overrides);
  const dir = (opts.out ?? `runs/${base.run.name}-compare`).replace(/\/+$/, "");
  const given = await rawOptimizer(opts.file, opts.overrides);
  const fileLr = typeof given.lr === "number" ? given.lr : base.optimizer.lr;

  // Every spec is built and validated before the first run starts.
  const plans: { optimizer: string; seed: number; spec: RunSpec }[] = [];
  const dropped = new Map<string, string[]>();
  for (const name of opts.optimizers) {
    const sw = switchOptimizer(name, given, opts.lr?.get(name) ?? fileLr);
    dropped.set(name, sw.dropped);
    if (sw.dropped.length) {
      opts.log(
        `compare: ${name} does not take optimizer field(s) ${sw.dropped.join(", ")}: dropped\n`,
      );
    }
    for (let k = 0; k < opts.seeds; k++) {
      const seed = base.run.seed + k;
      const spec = await loadRunSpecFile(opts.file, [
        ...opts.overrides,
        { path: ["optimizer"], value: sw.section, source: `compare (optimizer ${name})` },
        { path: ["run", "seed"], value: seed, source: `compare (seed ${seed})` },
        { path: ["run", "name"], value: `${name}-seed${seed}`, source: "compare (run name)" },
        {
          path: ["run", "out_dir"],
          value: `${dir}/${name}-seed${seed}`,
          source: opts.out ? `--out ${opts.out}` : "compare (run directory)",
        },
      ]);
      plans.push({ optimizer: name, seed, spec });
    }
  }

  // An earlier comparison's runs are refused before anything is trained.
  for (const p of plans) await checkRunDirFree(p.spec.run.out_dir, opts.overwrite, "compare");
  await Deno.mkdir(dir, { recursive: true });
  const gpu = await acquireGpu(opts.acquire);
  opts.log(`compare: ${plans.length} runs on ${describeAdapter(gpu.adapter)}\n`);
  const failed = new Map<string, number>();
  const runs: RunMetrics[] = [];
  for (const [i, p] of plans.entries()) {
    const tag = `[${i + 1}/${plans.length}] ${p.optimizer} seed ${p.seed}`;
    opts.log(`${tag}: start (lr ${p.spec.optimizer.lr}) → ${p.spec.run.out_dir}\n`);
    try {
      const r = await train(p.spec, { gpu, progress: !opts.quiet, overwrite: opts.overwrite });
      const acc = r.finalEval ? `${(100 * r.finalEval.accuracy).toFixed(2)}%` : "n/a";
      opts.log(`${tag}: done, ${r.evalSplit} accuracy ${acc}, ${r.seconds.toFixed(1)} s\n`);
      runs.push(await readRunMetrics(p.spec.run.out_dir));
    } catch (e) {
      if (!(e instanceof TrainingDivergedError)) throw e;
      opts.log(`${tag}: ${e.message}\n`);
      failed.set(p.optimizer, (failed.get(p.optimizer) ?? 0) + 1);
    }
  }
  const files = await writeComparisonReport(dir, runs, {
    optimizers: opts.optimizers,
    seeds: opts.seeds,
    command: opts.command,
    file: opts.file,
    failed,
    png: opts.png,
    fonts: opts.fonts,
  }, opts.log);
  return { dir, files, runs, dropped };
}
