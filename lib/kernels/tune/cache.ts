/**
 * The tuning cache: the fastest variant per adapter, family and problem.
 *
 * Choices live in memory (process-wide, {@link tuneCache}) and persist to
 * `.cache/tune.json`:
 *
 * ```json
 * { "version": 2, "adapters": { "<adapter key>": { "<family id>": { "<problem key>":
 *   { "variant": "tiled_64x64", "ms": 0.41, "timings": { "tiled_64x64": 0.41, … },
 *     "hash": "…", "date": "…" } } } } }
 * ```
 *
 * Each entry stores a hash of the WGSL of the candidates it compared and of
 * the names the family offered, so a changed generator or a new variant
 * makes it stale: stale entries are ignored (the heuristic decides) and
 * re-timed by the next tuning. Files of another version are ignored. Every
 * I/O failure (missing permission, read-only disk, corrupt JSON) is ignored
 * too: tuning is an optimisation, never a requirement. `ADABK_TUNE=0`
 * disables tuning and cached choices alike.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { envVar } from "../../util/env.ts";
import { granted } from "../../util/permissions.ts";
import type { KernelFamily } from "./family.ts";

/** Where tuning choices are persisted by default (relative to the working directory). */
export const DEFAULT_TUNE_PATH = ".cache/tune.json";

/** The file format version this code reads and writes. */
export const TUNE_FILE_VERSION = 2;

/** One remembered choice. */
export interface TuneEntry {
  /** The fastest variant's name. */
  variant: string;
  /** Its time per run, ms. */
  ms: number;
  /** Time per run (ms) of every candidate compared (its keys are the candidates). */
  timings: Record<string, number>;
  /** {@link entryHash} of the candidates compared, when they were compared. */
  hash: string;
  /** When it was measured (ISO 8601). */
  date: string;
}

type FamilyEntries = Record<string, Record<string, TuneEntry>>;

interface TuneFile {
  version: typeof TUNE_FILE_VERSION;
  adapters: Record<string, FamilyEntries>;
}

/** True unless `ADABK_TUNE` is "0", "false" or "off". */
export function tuningEnabled(): boolean {
  const v = envVar("ADABK_TUNE")?.toLowerCase();
  return !(v === "0" || v === "false" || v === "off");
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function readTuneFile(path: string): TuneFile | undefined {
  if (!granted({ name: "read", path })) return undefined;
  try {
    const data = JSON.parse(Deno.readTextFileSync(path));
    if (data?.version !== TUNE_FILE_VERSION || !isObject(data.adapters)) return undefined;
    return data as TuneFile;
  } catch {
    return undefined;
  }
}

function isEntry(e: unknown): e is TuneEntry {
  return isObject(e) && typeof e.variant === "string" && typeof e.ms === "number" &&
    typeof e.hash === "string" && isObject(e.timings);
}

/** Tuning choices per adapter key, family id and problem key, with file persistence. */
export class TuneCache {
  readonly #mem = new Map<string, TuneEntry>();
  readonly #loaded = new Set<string>();

  #id(adapter: string, family: string, key: string): string {
    return JSON.stringify([adapter, family, key]);
  }

  /** The entry for (adapter, family, problem), if any (valid or not: see {@link usableEntry}). */
  get(adapter: string, family: string, key: string): TuneEntry | undefined {
    return this.#mem.get(this.#id(adapter, family, key));
  }

  /** Records an entry in memory (persist with {@link save}). */
  set(adapter: string, family: string, key: string, entry: TuneEntry): void {
    this.#mem.set(this.#id(adapter, family, key), entry);
  }

  /** Number of entries in memory for `adapter` (and `family`, if given). */
  size(adapter: string, family?: string): number {
    let n = 0;
    for (const id of this.#mem.keys()) {
      const [a, f] = JSON.parse(id) as string[];
      if (a === adapter && (family === undefined || f === family)) n++;
    }
    return n;
  }

  /** Forgets every in-memory entry and which files were loaded. */
  clear(): void {
    this.#mem.clear();
    this.#loaded.clear();
  }

  /**
   * Merges the entries of `path` into memory (entries already in memory win:
   * they are newer). Returns false when the file is absent, unreadable, of
   * another version or invalid. Loads each path once unless `force`.
   */
  load(path: string, force = false): boolean {
    if (this.#loaded.has(path) && !force) return true;
    this.#loaded.add(path);
    const file = readTuneFile(path);
    if (!file) return false;
    for (const [adapter, families] of Object.entries(file.adapters)) {
      if (!isObject(families)) continue;
      for (const [family, entries] of Object.entries(families)) {
        if (!isObject(entries)) continue;
        for (const [key, e] of Object.entries(entries)) {
          if (isEntry(e) && !this.get(adapter, family, key)) this.set(adapter, family, key, e);
        }
      }
    }
    return true;
  }

  /**
   * Writes every in-memory entry to `path`, merged over what the file already
   * holds (another process may have tuned other problems), atomically through
   * a temporary file. A file of another version is replaced. Returns false on
   * any failure.
   */
  save(path: string): boolean {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    if (!granted({ name: "write", path }) || !granted({ name: "write", path: dir })) return false;
    try {
      const file: TuneFile = readTuneFile(path) ?? { version: TUNE_FILE_VERSION, adapters: {} };
      for (const [id, e] of this.#mem) {
        const [adapter, family, key] = JSON.parse(id) as string[];
        const families = (file.adapters[adapter] ??= {});
        (families[family] ??= {})[key] = e;
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

/** A 64-bit FNV-1a hash of `text` (UTF-16 code units), as 16 hex digits. */
export function hashText(text: string): string {
  // Two 32-bit lanes with different offset bases, mixed independently.
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x0100019d) ^ (h1 >>> 15);
  }
  const hex = (h: number) => (h >>> 0).toString(16).padStart(8, "0");
  return hex(h1) + hex(h2);
}

/** The variants the tuner times for `p` by default: the family's candidates, else all valid. */
export function defaultCandidates<P>(gpu: Gpu, family: KernelFamily<P>, p: P): string[] {
  const valid = family.variants(gpu, p);
  if (!family.candidates) return valid;
  const offered = family.candidates(gpu, p).filter((n) => valid.includes(n));
  return offered.length > 0 ? offered : valid;
}

/**
 * The hash an entry comparing `compared` for `p` must carry to be current:
 * the names the family offers by default and the WGSL every compared
 * candidate generates. A new variant, a removed one, or any change in a
 * compared generator's output changes it.
 */
export function entryHash<P>(
  gpu: Gpu,
  family: KernelFamily<P>,
  p: P,
  compared: readonly string[],
): string {
  const parts = [family.id, family.key(p), defaultCandidates(gpu, family, p).join(",")];
  for (const name of [...compared].sort()) parts.push(name, ...family.wgsl(gpu, p, name));
  return hashText(parts.join("\u0000"));
}

/** Why {@link usableEntry} found nothing. */
export type EntryStatus = "valid" | "missing" | "stale" | "partial";

/**
 * Validity verdicts per family object, entry object and requirement: entries
 * are replaced, never mutated, and a family's generators do not change while
 * it exists, so each verdict is computed once.
 */
const verdicts = new WeakMap<object, WeakMap<TuneEntry, Map<string, EntryStatus>>>();

/**
 * The cached entry for `p` on this adapter and whether it can be used:
 * `stale` when its variant is no longer valid or its hash no longer matches
 * (a changed generator or candidate list), `partial` when `exhaustive` is
 * asked and it did not compare every valid variant.
 */
export function lookupEntry<P>(
  gpu: Gpu,
  family: KernelFamily<P>,
  p: P,
  opts: { exhaustive?: boolean; cache?: TuneCache } = {},
): { entry?: TuneEntry; status: EntryStatus } {
  const cache = opts.cache ?? tuneCache;
  const entry = cache.get(gpu.adapter.key, family.id, family.key(p));
  if (!entry) return { status: "missing" };
  const need = `${gpu.adapter.key}|${opts.exhaustive ? "x" : "a"}`;
  let byEntry = verdicts.get(family);
  if (!byEntry) verdicts.set(family, byEntry = new WeakMap());
  let byNeed = byEntry.get(entry);
  if (!byNeed) byEntry.set(entry, byNeed = new Map());
  let status = byNeed.get(need);
  if (status === undefined) {
    const valid = family.variants(gpu, p);
    const compared = Object.keys(entry.timings);
    if (!valid.includes(entry.variant) || !compared.includes(entry.variant)) status = "stale";
    else if (entry.hash !== entryHash(gpu, family, p, compared)) status = "stale";
    else if (opts.exhaustive && valid.some((v) => !compared.includes(v))) status = "partial";
    else status = "valid";
    byNeed.set(need, status);
  }
  return status === "valid" ? { entry, status } : { status };
}

/** The cached entry for `p` when it is current ({@link lookupEntry} says `valid`). */
export function usableEntry<P>(
  gpu: Gpu,
  family: KernelFamily<P>,
  p: P,
  opts: { exhaustive?: boolean; cache?: TuneCache } = {},
): TuneEntry | undefined {
  return lookupEntry(gpu, family, p, opts).entry;
}
