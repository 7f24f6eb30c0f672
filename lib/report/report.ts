/**
 * The comparison report of several runs: the three figures (training loss
 * against epochs and against wall time, evaluation accuracy against epochs,
 * named after the split evaluated: test or val) as SVG
 * and PNG, `metrics.csv` with every logged value, and `summary.md`.
 * @module
 */

import { aggregate, type Sample } from "./aggregate.ts";
import { metricsCsv } from "./csv.ts";
import { evalSplitLabel, type MetricRow, type RunMetrics } from "./metrics.ts";
import { type LineChart, lineChartSvg } from "./plot.ts";
import { loadFont, svgToPng } from "./png.ts";
import { summarize, summaryMarkdown } from "./summary.ts";

/** Options of {@link writeComparisonReport}. */
export interface ReportOptions {
  /** Optimizers in display order. */
  optimizers: readonly string[];
  /** Seeds per optimizer (bands are drawn when > 1). */
  seeds: number;
  /** The command line, quoted in summary.md. */
  command: string;
  /** The model file compared. */
  file: string;
  /** Runs that diverged, per optimizer. */
  failed?: ReadonlyMap<string, number>;
  /** Write PNGs next to the SVGs (default true). */
  png?: boolean;
  /** Font files to try for PNG text (default: common system paths). */
  fonts?: readonly string[];
}

const LOSS_LABEL = "training loss (mean over each logging interval)";

/** The figures of a comparison, by file stem. */
export function comparisonCharts(
  runs: readonly RunMetrics[],
  seeds: number,
): Record<string, LineChart> {
  const rows = runs.flatMap((r) => r.rows);
  const train = rows.filter((r) => r.kind === "train");
  const evals = rows.filter((r) => r.kind === "eval");
  const band = seeds > 1;
  const by = (xs: MetricRow[], x: (r: MetricRow) => number, y: (r: MetricRow) => number) =>
    aggregate(xs.map((r): Sample => ({ group: r.optimizer, key: r.step, x: x(r), y: y(r) })));
  const spread = band ? " (mean, min–max band over seeds)" : "";
  const split = evalSplitLabel(runs);
  return {
    loss_vs_epoch: {
      title: `Training loss${spread}`,
      xLabel: "epoch",
      yLabel: LOSS_LABEL,
      points: by(train, (r) => r.epoch, (r) => r.intervalLoss ?? r.loss),
      band,
      yScale: "log",
    },
    loss_vs_time: {
      title: `Training loss against wall time${spread}`,
      xLabel: "wall time (s)",
      yLabel: LOSS_LABEL,
      points: by(train, (r) => r.wallTime, (r) => r.intervalLoss ?? r.loss),
      band,
      yScale: "log",
    },
    accuracy_vs_epoch: {
      title: `${split.charAt(0).toUpperCase()}${split.slice(1)} accuracy${spread}`,
      xLabel: "epoch",
      yLabel: `${split} accuracy`,
      points: by(evals, (r) => r.epoch, (r) => r.accuracy),
      band,
      percent: true,
    },
  };
}

/**
 * Writes the report of `runs` into `dir` (which must exist); returns the
 * file names written. PNGs are skipped with `warn` when no font is found.
 */
export async function writeComparisonReport(
  dir: string,
  runs: readonly RunMetrics[],
  opts: ReportOptions,
  warn: (s: string) => void = () => {},
): Promise<string[]> {
  const written: string[] = [];
  const put = async (name: string, data: string | Uint8Array) => {
    if (typeof data === "string") await Deno.writeTextFile(`${dir}/${name}`, data);
    else await Deno.writeFile(`${dir}/${name}`, data);
    written.push(name);
  };
  await put("metrics.csv", metricsCsv(runs.flatMap((r) => r.rows)));
  let font: Uint8Array | undefined;
  if (opts.png !== false) {
    try {
      font = await loadFont(opts.fonts);
    } catch (e) {
      warn(`PNG figures skipped: ${(e as Error).message}\n`);
    }
  }
  for (const [stem, chart] of Object.entries(comparisonCharts(runs, opts.seeds))) {
    const svg = lineChartSvg(chart);
    await put(`${stem}.svg`, svg);
    if (font) await put(`${stem}.png`, await svgToPng(svg, font));
  }
  const rows = summarize(opts.optimizers, runs, opts.failed);
  await put("summary.md", summaryMarkdown(rows, { ...opts, split: evalSplitLabel(runs) }));
  return written;
}
