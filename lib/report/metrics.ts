/**
 * Reading a run directory's metrics back: `metrics.jsonl` (the trainer's
 * events, one JSON object per line) and `spec.json` (the resolved spec, for
 * the optimizer name and seed), flattened into rows that CSV export, plots
 * and summaries share.
 * @module
 */

import { ReportError } from "./errors.ts";

/** What an evaluation measured: the dataset's test split, or the validation part held out of training. */
export type EvalSplitName = "test" | "val";

/** One logged event of one run, flattened. */
export interface MetricRow {
  /** Run name (the run directory's last path segment). */
  run: string;
  /** Optimizer name from the run's spec. */
  optimizer: string;
  /** `run.seed` of the run's spec. */
  seed: number;
  /** `train`: running means over the epoch so far; `eval`: an evaluation (on `split`). */
  kind: "train" | "eval";
  /** Eval rows: the split evaluated. */
  split?: EvalSplitName;
  /**
   * Epochs completed at this point: fractional for train samples
   * (epoch + steps done / steps per epoch), whole for evaluations.
   */
  epoch: number;
  /** Global optimizer steps completed. */
  step: number;
  /** Mean loss (training: over the epoch so far; eval: over the evaluated split). */
  loss: number;
  /** Accuracy in [0, 1], same averaging as `loss`. */
  accuracy: number;
  /** Learning rate of the last step (train rows only). */
  lr?: number;
  /**
   * Train rows: mean loss over the steps since the previous train row of the
   * same epoch (the whole epoch so far for its first row), recovered exactly
   * from consecutive running means (which restart where a run was resumed);
   * the running mean itself in the epoch a run was resumed in, for logs
   * written before resumes were recorded.
   */
  intervalLoss?: number;
  /** Train rows: GPU milliseconds of this step, summed over its timed stages (when logged). */
  gpuMs?: number;
  /**
   * Seconds since training started, continuing across resumes (logs written
   * before that restart at 0 in a resumed run).
   */
  wallTime: number;
}

/** The metrics of one run directory. */
export interface RunMetrics {
  /** The directory read. */
  dir: string;
  /** Run name (last path segment of `dir`). */
  run: string;
  /** Optimizer name. */
  optimizer: string;
  /** Seed. */
  seed: number;
  /** What its evaluations measured (`val` with `data.validation_split`). */
  evalSplit: EvalSplitName;
  /** Every event, in file order. */
  rows: MetricRow[];
}

function num(v: unknown, what: string, where: string): number {
  if (typeof v !== "number") throw new ReportError(`${where}: "${what}" is not a number`);
  return v;
}

/**
 * Converts parsed `metrics.jsonl` records to rows (records of another kind
 * are skipped: the log may carry extra entries; a `resume` record marks where
 * running means restart). Eval records without a `split` (older logs) get
 * `evalSplit`. Throws {@link ReportError} naming `file` and the line for a
 * record that lacks a field.
 */
export function rowsFromRecords(
  records: readonly unknown[],
  run: { run: string; optimizer: string; seed: number },
  file = "metrics.jsonl",
  evalSplit: EvalSplitName = "test",
): MetricRow[] {
  const rows: MetricRow[] = [];
  // Previous train record's epoch, step in epoch, running mean and wall time.
  let prev: { epoch: number; step: number; loss: number; wallTime: number } | undefined;
  let resumedEpoch = -1;
  let resumedAt: number | undefined; // global step of the last recorded resume
  records.forEach((r, i) => {
    const rec = r as Record<string, unknown>;
    const where = `${file}:${i + 1}`;
    if (rec?.kind === "resume") {
      resumedAt = num(rec.globalStep, "globalStep", where);
      prev = undefined;
      return;
    }
    if (rec?.kind !== "train" && rec?.kind !== "eval") return;
    const epoch = num(rec.epoch, "epoch", where);
    const base = {
      ...run,
      kind: rec.kind,
      step: num(rec.globalStep, "globalStep", where),
      loss: num(rec.loss, "loss", where),
      accuracy: num(rec.accuracy, "accuracy", where),
      wallTime: num(rec.wallTime, "wallTime", where),
    } as const;
    if (rec.kind === "train") {
      const steps = num(rec.steps, "steps", where);
      const step = num(rec.step, "step", where);
      // A resumed run's running mean starts at the resume point, not at the
      // epoch's first step. Older logs did not record resumes, but their wall
      // time restarted: there the resumed epoch keeps its running means.
      if (prev && base.wallTime < prev.wallTime && prev.epoch === epoch) resumedEpoch = epoch;
      const from = resumedAt !== undefined && Math.floor(resumedAt / steps) === epoch
        ? resumedAt - epoch * steps
        : 0;
      const sameEpoch = prev?.epoch === epoch && step > prev.step && resumedEpoch !== epoch;
      const intervalLoss = sameEpoch
        ? (base.loss * (step - from) - prev!.loss * (prev!.step - from)) / (step - prev!.step)
        : base.loss;
      prev = { epoch, step, loss: base.loss, wallTime: base.wallTime };
      const stages = rec.stageMs as Record<string, unknown> | undefined;
      const gpuMs = stages && typeof stages === "object"
        ? Object.values(stages).reduce((a: number, v) => a + (typeof v === "number" ? v : 0), 0)
        : undefined;
      rows.push({
        ...base,
        epoch: epoch + step / steps,
        lr: num(rec.lr, "lr", where),
        intervalLoss,
        ...(gpuMs !== undefined ? { gpuMs } : {}),
      });
    } else {
      const split = rec.split === "val" || rec.split === "test" ? rec.split : evalSplit;
      rows.push({ ...base, epoch: epoch + 1, split });
    }
  });
  return rows;
}

/**
 * Parses JSONL text. A last line without its newline that is not JSON is
 * skipped (a run killed mid-write leaves one); any other line that is not
 * JSON is a {@link ReportError} naming it.
 */
export function parseJsonl(text: string, file: string): unknown[] {
  const lines = text.split("\n");
  const out: unknown[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line));
    } catch (e) {
      const torn = i === lines.length - 1; // no newline after it: the write never finished
      if (!torn) throw new ReportError(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
  });
  return out;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ReportError(`${path}: no such file (is this a run directory? ${what})`);
    }
    throw e;
  }
}

/** Reads `dir/spec.json` and `dir/metrics.jsonl` (needs `--allow-read` for `dir`). */
export async function readRunMetrics(dir: string): Promise<RunMetrics> {
  const clean = dir.replace(/\/+$/, "");
  const specText = await readText(`${clean}/spec.json`, "train writes it when the run starts");
  let spec: {
    optimizer?: { name?: unknown };
    run?: { seed?: unknown };
    data?: { validation_split?: unknown };
  };
  try {
    spec = JSON.parse(specText);
  } catch (e) {
    throw new ReportError(`${clean}/spec.json: not JSON (${(e as Error).message})`);
  }
  const optimizer = spec.optimizer?.name;
  const seed = spec.run?.seed;
  if (typeof optimizer !== "string" || typeof seed !== "number") {
    throw new ReportError(`${clean}/spec.json: no optimizer.name or run.seed`);
  }
  const vs = spec.data?.validation_split;
  const evalSplit: EvalSplitName = typeof vs === "number" && vs > 0 ? "val" : "test";
  const file = `${clean}/metrics.jsonl`;
  const text = await readText(file, "train writes it as it runs");
  const run = clean.split("/").at(-1) ?? clean;
  const rows = rowsFromRecords(parseJsonl(text, file), { run, optimizer, seed }, file, evalSplit);
  return { dir: clean, run, optimizer, seed, evalSplit, rows };
}

/**
 * How to name the evaluations of `runs` together: `val` or `test` when all
 * agree, `test/val` when they mix.
 */
export function evalSplitLabel(runs: readonly { evalSplit: EvalSplitName }[]): string {
  const names = [...new Set(runs.map((r) => r.evalSplit))].sort();
  return names.length ? names.join("/") : "test";
}
