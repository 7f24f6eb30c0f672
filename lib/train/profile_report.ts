/**
 * A {@link PlanProfile} as Markdown (also readable as plain text): a table
 * by stage group, the top kernels with their variants, the step's CPU cost
 * and throughput.
 * @module
 */

import type { DispatchProfile, PlanProfile } from "./profile.ts";

/** Milliseconds with 3 decimals, "n/a" when not measured. */
export function fmtMs(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(3) : "n/a";
}

/** A Markdown table with aligned columns. */
export function mdTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(3, ...all.map((r) => r[i].length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(w[i])).join(" | ")} |`;
  return [line(head), `| ${w.map((n) => "-".repeat(n)).join(" | ")} |`, ...rows.map(line)]
    .join("\n");
}

/** "family/variant" (with " (tuned)") of a dispatch, or "" for untagged kernels. */
export function kernelName(d: Pick<DispatchProfile, "family" | "variant" | "tuned">): string {
  return d.family ? `${d.family}/${d.variant}${d.tuned ? " (tuned)" : ""}` : "";
}

/** Per stage group: stages, cadences, dispatches, GPU ms per run and per step. */
function groupRows(p: PlanProfile): string[][] {
  const groups = new Map<
    string,
    { stages: number; every: Set<number>; d: number; ms: number; step: number }
  >();
  for (const s of p.stages) {
    const g = groups.get(s.group) ??
      groups.set(s.group, { stages: 0, every: new Set(), d: 0, ms: 0, step: 0 }).get(s.group)!;
    g.stages++;
    g.every.add(s.every);
    g.d += s.dispatches;
    g.ms += s.ms;
    g.step += s.ms / s.every;
  }
  return [...groups].map(([name, g]) => [
    name,
    String(g.stages),
    [...g.every].join(", "),
    String(g.d),
    fmtMs(g.ms),
    fmtMs(g.step),
  ]);
}

/** Dispatches of one stage with the same label and kernel, added up. */
export interface KernelTotal
  extends Pick<DispatchProfile, "stage" | "label" | "family" | "variant" | "tuned"> {
  /** How many dispatches. */
  count: number;
  /** Their GPU time together, ms. */
  ms: number;
}

/** Timed dispatches grouped by (stage, label, kernel), slowest group first. */
export function topKernels(dispatches: readonly DispatchProfile[]): KernelTotal[] {
  const groups = new Map<string, KernelTotal>();
  for (const d of dispatches) {
    if (!Number.isFinite(d.ms)) continue;
    const id = JSON.stringify([d.stage, d.label, d.family, d.variant]);
    const g = groups.get(id);
    if (g) {
      g.count++;
      g.ms += d.ms;
    } else {
      const { stage, label, family, variant, tuned } = d;
      groups.set(id, { stage, label, family, variant, tuned, count: 1, ms: d.ms });
    }
  }
  return [...groups.values()].sort((a, b) => b.ms - a.ms);
}

/** Options of {@link profileMarkdown}. */
export interface ProfileReportOptions {
  /** Heading line (e.g. the model file and adapter). */
  title?: string;
  /** Lines printed under the title (command, adapter, tuning summary). */
  notes?: readonly string[];
  /** Kernels listed (default 15). */
  top?: number;
}

/** Said beside the CPU cost of a step on a software adapter, whose submit runs the work. */
export const SOFTWARE_SUBMIT_NOTE =
  "a software adapter runs the work inside submit, so this includes it";

/** The profile as Markdown. */
export function profileMarkdown(p: PlanProfile, opts: ProfileReportOptions = {}): string {
  const out: string[] = [];
  if (opts.title) out.push(`# ${opts.title}`, "");
  for (const n of opts.notes ?? []) out.push(`- ${n}`);
  if (opts.notes?.length) out.push("");
  if (!p.timestamps) {
    out.push("The device has no timestamp queries: per-dispatch GPU times are not available.", "");
  }
  out.push(
    `## GPU time by stage (median of ${p.timedSteps} steps, every dispatch timed on its own)`,
    "",
    mdTable(
      ["stage", "stages", "every", "dispatches", "GPU ms per run", "GPU ms per step"],
      [...groupRows(p), ["step", "", "", String(p.dispatches.length), "", fmtMs(p.gpuStepMs)]],
    ),
    "",
  );
  const top = topKernels(p.dispatches).slice(0, opts.top ?? 15);
  if (top.length > 0) {
    out.push(
      "## Top kernels (dispatches of a stage with the same label and kernel added up)",
      "",
      mdTable(
        ["GPU ms", "count", "stage", "dispatch", "kernel"],
        top.map((k) => [fmtMs(k.ms), String(k.count), k.stage, k.label, kernelName(k) || "–"]),
      ),
      "",
    );
  }
  const t = p.throughput;
  out.push(
    `## Steps back to back (${t.steps} steps with their cadences, one wait at the end)`,
    "",
    `- CPU encode + submit per step: ${fmtMs(p.cpuEncodeSubmitMs)} ms (median${
      p.softwareAdapter ? `; ${SOFTWARE_SUBMIT_NOTE}` : ""
    })`,
    `- throughput: ${t.stepsPerSec.toFixed(1)} steps/s (${
      (t.seconds * 1000 / t.steps).toFixed(3)
    } ms per step wall)`,
  );
  if (t.gpuMsPerStep !== undefined) {
    out.push(
      `- GPU time from the first pass's start to the last pass's end: ${
        fmtMs(t.gpuMsPerStep)
      } ms per step`,
    );
  }
  return out.join("\n") + "\n";
}
