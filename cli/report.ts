/**
 * `report`: the comparison report (figures, metrics.csv, summary.md) of run
 * directories that already exist — several `compare` outputs merged into
 * one, or runs relabelled (e.g. an ablation shown next to its baseline).
 * @module
 */

import { readRunMetrics, type RunMetrics } from "../lib/report/metrics.ts";
import { writeComparisonReport } from "../lib/report/report.ts";
import { ReportError } from "../lib/report/errors.ts";

/** Options of {@link report}. */
export interface ReportCommandOptions {
  /** Run directories (each with spec.json and metrics.jsonl). */
  dirs: readonly string[];
  /** Output directory (created). */
  out: string;
  /** `[prefix, label]`: runs whose directory starts with prefix are shown as label. */
  labels: readonly [string, string][];
  /** Skip PNGs. */
  png?: boolean;
  /** Font files to try for PNG text. */
  fonts?: readonly string[];
  /** The command line, for summary.md. */
  command: string;
  /** Notes. */
  log: (s: string) => void;
}

/** Parses `--label prefix=name` values. */
export function parseLabels(values: readonly string[]): [string, string][] {
  return values.map((v) => {
    const i = v.indexOf("=");
    if (i <= 0 || i === v.length - 1) {
      throw new ReportError(`--label expects <dir prefix>=<name>, got "${v}"`);
    }
    return [v.slice(0, i).replace(/\/+$/, ""), v.slice(i + 1)];
  });
}

/** The label of the run in `dir`: the longest matching prefix's, else its optimizer. */
function labelOf(run: RunMetrics, labels: readonly [string, string][]): string {
  let best: [string, string] | undefined;
  for (const l of labels) {
    if (run.dir.startsWith(l[0]) && (!best || l[0].length > best[0].length)) best = l;
  }
  return best ? best[1] : run.optimizer;
}

/** Reads the runs, relabels them and writes the report into `out`. */
export async function report(
  o: ReportCommandOptions,
): Promise<{ dir: string; files: string[]; runs: RunMetrics[] }> {
  if (o.dirs.length === 0) throw new ReportError("report: no run directories given");
  const runs: RunMetrics[] = [];
  for (const d of o.dirs) {
    const r = await readRunMetrics(d);
    const label = labelOf(r, o.labels);
    runs.push({ ...r, optimizer: label, rows: r.rows.map((x) => ({ ...x, optimizer: label })) });
  }
  const groups = [...new Set(runs.map((r) => r.optimizer))];
  const seeds = Math.max(...groups.map((g) => runs.filter((r) => r.optimizer === g).length));
  const dir = o.out.replace(/\/+$/, "");
  await Deno.mkdir(dir, { recursive: true });
  const files = await writeComparisonReport(dir, runs, {
    optimizers: groups,
    seeds,
    command: o.command,
    file: [...new Set(o.dirs.map((d) => d.replace(/\/+$/, "").split("/").slice(0, -1).join("/")))]
      .join(", "),
    png: o.png,
    fonts: o.fonts,
  }, o.log);
  return { dir, files, runs };
}
