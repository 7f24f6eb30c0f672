/**
 * The comparison summary: one Markdown table row per optimizer with the
 * final evaluation accuracy and loss (on the test split, or the validation
 * part with `data.validation_split`, and labelled so) as mean ± sample std
 * over seeds, plus the command that produced it, so the file stands on its own.
 * @module
 */

import { meanStd, median } from "./aggregate.ts";
import type { RunMetrics } from "./metrics.ts";

/** The numbers of one optimizer's row. */
export interface SummaryRow {
  /** Optimizer name. */
  optimizer: string;
  /** Runs that finished with an evaluation. */
  finished: number;
  /** Runs attempted. */
  runs: number;
  /** Final evaluation accuracy over finished runs. */
  accuracy: { mean: number; std: number };
  /** Final evaluation loss over finished runs. */
  loss: { mean: number; std: number };
  /** Mean final training loss (last epoch's running mean). */
  trainLoss: number;
  /** Mean wall time of training, seconds. */
  seconds: number;
  /** Median GPU milliseconds of a logged step (stage timestamps), mean over runs; NaN without. */
  gpuStepMs: number;
  /** Evaluation accuracy and mean wall time at each evaluated epoch (over the runs that reached it). */
  perEpoch: { epoch: number; accuracy: { mean: number; std: number }; seconds: number }[];
}

/** Summarises runs per optimizer, in the order of `optimizers`. */
export function summarize(
  optimizers: readonly string[],
  runs: readonly RunMetrics[],
  failed: ReadonlyMap<string, number> = new Map(),
): SummaryRow[] {
  return optimizers.map((optimizer) => {
    const mine = runs.filter((r) => r.optimizer === optimizer);
    const finals = mine.map((r) => r.rows.filter((x) => x.kind === "eval").at(-1)).filter((x) =>
      x !== undefined
    );
    const lastTrain = mine.map((r) => r.rows.filter((x) => x.kind === "train").at(-1)).filter((
      x,
    ) => x !== undefined);
    const last = mine.map((r) => r.rows.at(-1)).filter((x) => x !== undefined);
    const evals = mine.flatMap((r) => r.rows.filter((x) => x.kind === "eval"));
    const epochs = [...new Set(evals.map((e) => e.epoch))].sort((a, b) => a - b);
    const perEpoch = epochs.map((epoch) => {
      const at = evals.filter((e) => e.epoch === epoch);
      return {
        epoch,
        accuracy: meanStd(at.map((e) => e.accuracy)),
        seconds: meanStd(at.map((e) => e.wallTime)).mean,
      };
    });
    return {
      optimizer,
      finished: finals.length,
      runs: mine.length + (failed.get(optimizer) ?? 0),
      accuracy: meanStd(finals.map((f) => f.accuracy)),
      loss: meanStd(finals.map((f) => f.loss)),
      trainLoss: meanStd(lastTrain.map((t) => t.loss)).mean,
      seconds: meanStd(last.map((t) => t.wallTime)).mean,
      perEpoch,
      gpuStepMs: meanStd(
        mine.map((r) => r.rows.flatMap((x) => x.gpuMs === undefined ? [] : [x.gpuMs]))
          .filter((v) => v.length > 0).map(median),
      ).mean,
    };
  });
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function pm(v: { mean: number; std: number }, digits: number, scale = 1, unit = ""): string {
  if (!Number.isFinite(v.mean)) return "n/a";
  return `${(scale * v.mean).toFixed(digits)}${unit} ± ${(scale * v.std).toFixed(digits)}${unit}`;
}

/**
 * The Markdown document: heading, command, table, and how to read it.
 * `split` names what the evaluations measured (`test`, `val`, `test/val`).
 */
export function summaryMarkdown(
  rows: readonly SummaryRow[],
  info: { command: string; file: string; seeds: number; split?: string },
): string {
  const split = info.split ?? "test";
  const table = [
    `| optimizer | runs | final ${split} accuracy | final ${split} loss | final train loss | train time (s) | GPU ms per logged step |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.optimizer} | ${r.finished}/${r.runs} | ${pm(r.accuracy, 2, 100, "%")} | ${
        pm(r.loss, 4)
      } | ${Number.isFinite(r.trainLoss) ? r.trainLoss.toFixed(4) : "n/a"} | ${
        Number.isFinite(r.seconds) ? r.seconds.toFixed(1) : "n/a"
      } | ${Number.isFinite(r.gpuStepMs) ? r.gpuStepMs.toFixed(1) : "n/a"} |`
    ),
  ];
  const epochs = [...new Set(rows.flatMap((r) => r.perEpoch.map((p) => p.epoch)))].sort((a, b) =>
    a - b
  );
  const byEpoch = epochs.length < 2 ? [] : [
    "",
    `${
      capitalize(split)
    } accuracy after each epoch (mean ± std; wall time since training started, mean):`,
    "",
    `| optimizer | ${epochs.map((e) => `epoch ${e}`).join(" | ")} |`,
    `| --- | ${epochs.map(() => "---:").join(" | ")} |`,
    ...rows.map((r) =>
      `| ${r.optimizer} | ${
        epochs.map((e) => {
          const p = r.perEpoch.find((x) => x.epoch === e);
          return p ? `${pm(p.accuracy, 2, 100, "%")} (${p.seconds.toFixed(0)} s)` : "n/a";
        }).join(" | ")
      } |`
    ),
  ];
  return [
    `# Optimizer comparison: ${info.file}`,
    "",
    "```sh",
    info.command,
    "```",
    "",
    ...table,
    ...byEpoch,
    "",
    `Mean ± sample standard deviation over ${info.seeds} seed${info.seeds === 1 ? "" : "s"} ` +
    "(± 0 with one seed). `runs` counts runs that finished with an evaluation out of those started; " +
    "a diverged run is not in the means. Curves: `loss_vs_epoch`, `loss_vs_time`, " +
    "`accuracy_vs_epoch` (.svg/.png); every logged value: `metrics.csv`. GPU ms per logged step: " +
    "median over a run's logged steps of its stage timestamps summed (the machine's speed at the " +
    "time, independent of readback delays), mean over runs.",
    "",
  ].join("\n");
}
