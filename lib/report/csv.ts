/**
 * CSV export of metric rows (RFC 4180: comma-separated, CRLF-free `\n`
 * lines, fields quoted when they hold a comma, quote or newline).
 * @module
 */

import { type MetricRow, readRunMetrics } from "./metrics.ts";

/** The columns of every metrics CSV, in order. */
export const CSV_COLUMNS = [
  "run",
  "optimizer",
  "seed",
  "kind",
  "epoch",
  "step",
  "loss",
  "accuracy",
  "lr",
  "wall_time",
  "split",
] as const;

/** One CSV field: quoted (quotes doubled) when it holds `,`, `"`, `\r` or `\n`. */
export function csvField(v: string | number | undefined): string {
  if (v === undefined) return "";
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Metric rows as CSV text with a header line (numbers at full precision). */
export function metricsCsv(rows: readonly MetricRow[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of rows) {
    lines.push(
      [
        r.run,
        r.optimizer,
        r.seed,
        r.kind,
        r.epoch,
        r.step,
        r.loss,
        r.accuracy,
        r.lr,
        r.wallTime,
        r.split,
      ].map(csvField).join(","),
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * Writes `dir/metrics.csv` from `dir/metrics.jsonl` and `dir/spec.json`;
 * returns the path and the number of rows.
 */
export async function exportRunCsv(dir: string): Promise<{ path: string; rows: number }> {
  const run = await readRunMetrics(dir);
  const path = `${run.dir}/metrics.csv`;
  await Deno.writeTextFile(path, metricsCsv(run.rows));
  return { path, rows: run.rows.length };
}
