/**
 * Kernel autotuning: time the valid variants of a problem on this adapter,
 * keep the fastest, remember it.
 *
 * Choices live in memory per adapter key (process-wide, see {@link tuneCache})
 * and are persisted to `.cache/tune.json` when the file is readable and
 * writable; any I/O failure (missing permission, read-only disk, corrupt
 * JSON) is ignored, because tuning is an optimisation, never a requirement.
 * `ADABK_TUNE=0` turns tuning off: {@link autotuneMatmul} does nothing and
 * kernels ignore cached choices (the heuristic decides).
 *
 * Timing submits batches of runs and waits once per batch (Deno's queue wait
 * polls every ~10 ms, so a batch must last several times that); candidates
 * are timed in interleaved rounds and scored by their fastest batch.
 * @module
 */

import { type Command, encode } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import { BufferArena } from "../../gpu/tensor.ts";
import { writeTensor } from "../../gpu/transfer.ts";
import { envVar } from "../../util/env.ts";
import { releaseTextureMirrors } from "../matmul/mirror.ts";
import { type MatmulProblem, problemKey, resolveMatmul, resolveProblem } from "../matmul/types.ts";
import { findMatmulVariant, validMatmulVariants } from "../matmul/variants.ts";

export type { MatmulProblem } from "../matmul/types.ts";

/** Where tuning choices are persisted by default (relative to the working directory). */
export const DEFAULT_TUNE_PATH = ".cache/tune.json";

/** One remembered choice. */
export interface TuneEntry {
  /** The fastest variant's name. */
  variant: string;
  /** Its time per run, ms (fastest of several batches). */
  ms: number;
  /** Time per run (ms) of every candidate timed. */
  timings: Record<string, number>;
  /** When it was measured (ISO 8601). */
  date: string;
}

interface TuneFile {
  version: 1;
  adapters: Record<string, Record<string, TuneEntry>>;
}

/** True unless `ADABK_TUNE` is "0", "false" or "off". */
export function tuningEnabled(): boolean {
  const v = envVar("ADABK_TUNE")?.toLowerCase();
  return !(v === "0" || v === "false" || v === "off");
}

function permitted(name: "read" | "write", path: string): boolean {
  try {
    // Query first so a missing permission never turns into an interactive prompt.
    return Deno.permissions.querySync({ name, path }).state === "granted";
  } catch {
    return false;
  }
}

function readTuneFile(path: string): TuneFile | undefined {
  if (!permitted("read", path)) return undefined;
  try {
    const data = JSON.parse(Deno.readTextFileSync(path));
    if (data?.version !== 1 || typeof data.adapters !== "object" || data.adapters === null) {
      return undefined;
    }
    return data as TuneFile;
  } catch {
    return undefined;
  }
}

function isEntry(e: unknown): e is TuneEntry {
  const x = e as TuneEntry;
  return typeof x?.variant === "string" && typeof x.ms === "number";
}

/** Tuning choices per adapter key and problem key, with file persistence. */
export class TuneCache {
  readonly #mem = new Map<string, Map<string, TuneEntry>>();
  readonly #loaded = new Set<string>();

  /** The entry for (adapter, problem), if any. */
  get(adapterKey: string, key: string): TuneEntry | undefined {
    return this.#mem.get(adapterKey)?.get(key);
  }

  /** Records an entry in memory (persist with {@link save}). */
  set(adapterKey: string, key: string, entry: TuneEntry): void {
    let m = this.#mem.get(adapterKey);
    if (!m) {
      m = new Map();
      this.#mem.set(adapterKey, m);
    }
    m.set(key, entry);
  }

  /** Number of entries in memory for `adapterKey`. */
  size(adapterKey: string): number {
    return this.#mem.get(adapterKey)?.size ?? 0;
  }

  /** Forgets every in-memory entry and which files were loaded. */
  clear(): void {
    this.#mem.clear();
    this.#loaded.clear();
  }

  /**
   * Merges the entries of `path` into memory (entries already in memory win:
   * they are newer). Returns false when the file is absent, unreadable or
   * invalid. Loads each path once unless `force`.
   */
  load(path: string, force = false): boolean {
    if (this.#loaded.has(path) && !force) return true;
    this.#loaded.add(path);
    const file = readTuneFile(path);
    if (!file) return false;
    for (const [adapter, entries] of Object.entries(file.adapters)) {
      if (typeof entries !== "object" || entries === null) continue;
      for (const [key, e] of Object.entries(entries)) {
        if (isEntry(e) && !this.get(adapter, key)) this.set(adapter, key, e);
      }
    }
    return true;
  }

  /**
   * Writes every in-memory entry to `path`, merged over what the file already
   * holds (another process may have tuned other shapes), atomically through a
   * temporary file. Returns false on any failure.
   */
  save(path: string): boolean {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    if (!permitted("write", path) || !permitted("write", dir)) return false;
    try {
      const file: TuneFile = readTuneFile(path) ?? { version: 1, adapters: {} };
      for (const [adapter, entries] of this.#mem) {
        const target = (file.adapters[adapter] ??= {});
        for (const [key, e] of entries) target[key] = e;
      }
      Deno.mkdirSync(dir, { recursive: true });
      const tmp = `${path}.${Deno.pid}.tmp`;
      Deno.writeTextFileSync(tmp, JSON.stringify(file, null, 1) + "\n");
      Deno.renameSync(tmp, path);
      return true;
    } catch {
      return false;
    }
  }
}

/** The process-wide tuning memory every kernel consults. */
export const tuneCache: TuneCache = new TuneCache();

/**
 * The tuned variant for `p` on this adapter, or undefined (tuning disabled,
 * nothing tuned, or a stale name no longer valid). Loads the default cache
 * file on first use.
 */
export function tunedMatmulVariant(gpu: Gpu, p: MatmulProblem): string | undefined {
  if (!tuningEnabled()) return undefined;
  tuneCache.load(DEFAULT_TUNE_PATH);
  const name = tuneCache.get(gpu.adapter.key, problemKey(p))?.variant;
  if (!name) return undefined;
  const v = findMatmulVariant(name);
  return v && v.valid(gpu, resolveProblem(p)) ? name : undefined;
}

/** What {@link autotuneMatmul} decided for one problem. */
export interface AutotuneResult {
  /** The problem's cache key. */
  key: string;
  /** The chosen variant. */
  variant: string;
  /** True when the choice came from the cache without timing. */
  cached: boolean;
  /** Time per run (ms) per candidate (timed now, or when it was cached). */
  timings: Record<string, number>;
}

/** Options for {@link autotuneMatmul}. */
export interface AutotuneOptions {
  /** Cache file; default {@link DEFAULT_TUNE_PATH}; null keeps choices in memory only. */
  path?: string | null;
  /** Re-time problems that already have a cached choice. */
  retune?: boolean;
  /**
   * Variant names to consider (intersected with the valid ones). Default: all
   * valid, except the storage-tiled family on software adapters, where it is
   * ~100x slower (one 1024³ run would take 15 s).
   */
  candidates?: readonly string[];
  /** Minimum duration of a timed batch, ms. Default 60. */
  minBatchMs?: number;
  /** Timing rounds per candidate (the fastest counts). Default 4. */
  samples?: number;
  /** Called once per distinct problem with the decision. */
  onResult?: (r: AutotuneResult) => void;
}

/** Submits `reps` runs of `cmds` (one submit each, like a step) and returns ms per run. */
async function runBatch(gpu: Gpu, cmds: readonly Command[], reps: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const enc = gpu.device.createCommandEncoder();
    encode(enc, cmds);
    gpu.device.queue.submit([enc.finish()]);
  }
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / reps;
}

/**
 * Times every candidate: one untimed run each (driver-side compilation), a
 * calibration of the batch size, then `samples` rounds that visit the
 * candidates in turn, so that load from other processes hits all of them
 * alike. Each candidate's score is its fastest batch: contention only ever
 * slows a run down, so the minimum is the least noisy estimate. Candidates
 * over 4x slower than the best after calibration get no further rounds.
 */
async function timeCandidates(
  gpu: Gpu,
  cands: readonly { name: string; cmds: readonly Command[] }[],
  minBatchMs: number,
  samples: number,
): Promise<Record<string, number>> {
  const reps = new Map<string, number>();
  const best = new Map<string, number>();
  for (const c of cands) {
    await runBatch(gpu, c.cmds, 1);
    let n = 1;
    let ms = await runBatch(gpu, c.cmds, n);
    while (ms * n < minBatchMs && n < 1 << 14) {
      n = Math.min(1 << 14, Math.max(n * 2, Math.ceil((minBatchMs * 1.2) / Math.max(ms, 1e-3))));
      ms = await runBatch(gpu, c.cmds, n);
    }
    reps.set(c.name, n);
    best.set(c.name, ms);
  }
  for (let s = 1; s < samples; s++) {
    const leader = Math.min(...best.values());
    for (const c of cands) {
      if (best.get(c.name)! > 4 * leader) continue;
      best.set(c.name, Math.min(best.get(c.name)!, await runBatch(gpu, c.cmds, reps.get(c.name)!)));
    }
  }
  return Object.fromEntries(best);
}

async function tuneOne(
  gpu: Gpu,
  p: MatmulProblem,
  names: readonly string[],
  opts: AutotuneOptions,
) {
  const r = resolveProblem(p);
  const arena = new BufferArena(gpu.device);
  const bBatch = r.bBroadcast ? 1 : r.batch;
  const a = arena.tensor("tune.a", [r.batch * r.m * r.k]);
  const b = arena.tensor("tune.b", [bBatch * r.k * r.n]);
  const out = arena.tensor("tune.out", [r.batch * r.m * r.n]);
  try {
    // Small finite values: speed must not depend on them, but NaN/denormal
    // paths could on some hardware.
    const fill = (n: number) =>
      Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 17) / 17 - 0.5);
    writeTensor(gpu, a, fill(a.size));
    writeTensor(gpu, b, fill(b.size));
    const resolved = resolveMatmul({ ...r, a, b, out, arena, label: "autotune" });
    // Compile every candidate concurrently where the driver allows it.
    await Promise.all(
      names.flatMap((n) => findMatmulVariant(n)!.wgsl(gpu, r, resolved.epilogue))
        .map((code) => gpu.pipelines.getAsync("autotune", code)),
    );
    const cands = names.map((name) => ({
      name,
      cmds: findMatmulVariant(name)!.build(gpu, resolved),
    }));
    const timings = await timeCandidates(gpu, cands, opts.minBatchMs ?? 60, opts.samples ?? 4);
    return timings;
  } finally {
    releaseTextureMirrors(a.buffer);
    releaseTextureMirrors(b.buffer);
    arena.dispose();
  }
}

/**
 * Times the valid variants of each problem on `gpu` and caches the fastest
 * per (adapter, problem). Problems already cached are skipped unless
 * `retune`. Does nothing when `ADABK_TUNE=0`.
 */
export async function autotuneMatmul(
  gpu: Gpu,
  problems: MatmulProblem[],
  opts: AutotuneOptions = {},
): Promise<void> {
  if (!tuningEnabled()) return;
  const path = opts.path === undefined ? DEFAULT_TUNE_PATH : opts.path;
  if (path !== null) tuneCache.load(path);
  const seen = new Set<string>();
  let changed = false;
  for (const p of problems) {
    const key = problemKey(p);
    if (seen.has(key)) continue;
    seen.add(key);
    const r = resolveProblem(p);
    let names = validMatmulVariants(gpu, r);
    if (opts.candidates) names = names.filter((n) => opts.candidates!.includes(n));
    else if (gpu.adapter.isFallbackAdapter) {
      names = names.filter((n) => findMatmulVariant(n)!.family !== "tiled");
    }
    if (names.length === 0) continue;
    const hit = tuneCache.get(gpu.adapter.key, key);
    if (hit && !opts.retune && findMatmulVariant(hit.variant)?.valid(gpu, r)) {
      opts.onResult?.({ key, variant: hit.variant, cached: true, timings: hit.timings });
      continue;
    }
    const timings = await tuneOne(gpu, p, names, opts);
    const variant = names.reduce((x, y) => (timings[y] < timings[x] ? y : x));
    tuneCache.set(gpu.adapter.key, key, {
      variant,
      ms: timings[variant],
      timings,
      date: new Date().toISOString(),
    });
    changed = true;
    opts.onResult?.({ key, variant, cached: false, timings });
  }
  if (changed && path !== null) tuneCache.save(path);
}
