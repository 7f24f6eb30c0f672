/**
 * Test doubles for the tuner: a family over plain numbers, an adapter, and
 * timers that return injected timings on a fake clock (no GPU, no real
 * speed involved).
 * @module
 */

import type { Gpu } from "../../../lib/gpu/device.ts";
import type { KernelFamily } from "../../../lib/kernels/tune/family.ts";
import type { TimerFactory } from "../../../lib/kernels/tune/measure.ts";
import type { RoundTimer } from "../../../lib/kernels/tune/rounds.ts";

/** A problem of the fake family. */
export interface FakeProblem {
  n: number;
}

/** A software or hardware adapter without a device (the tuner only reads its identity). */
export function fakeGpu(fallback = false): Gpu {
  return {
    adapter: {
      description: "fake",
      vendor: "test",
      architecture: "",
      isFallbackAdapter: fallback,
      key: `test|fake${fallback ? "-sw" : ""}|`,
    },
  } as unknown as Gpu;
}

/** Mutable knobs of a fake family: its variants, candidates and generator version. */
export interface FakeFamilyState {
  variants: string[];
  candidates?: string[];
  heuristic: string;
  /** Changing it changes every variant's generated WGSL. */
  version: number;
}

/** A family whose generated "WGSL" names the variant, the problem and `state.version`. */
export function fakeFamily(id: string, state: FakeFamilyState): KernelFamily<FakeProblem> {
  return {
    id,
    key: (p) => `n${p.n}`,
    variants: () => [...state.variants],
    heuristic: () => state.heuristic,
    ...(state.candidates ? { candidates: () => [...state.candidates!] } : {}),
    wgsl: (_gpu, p, v) => [`// ${v} for n=${p.n}, generator v${state.version}`],
    benchCommands: () => [],
    work: (p) => p.n,
  };
}

/** A clock advanced by the fake timers. */
export class FakeClock {
  /** Current time, ms. */
  t = 0;
  /** The clock function to inject. */
  readonly now = (): number => this.t;
}

/** What the fake timers saw. */
export interface TimerLog {
  /** Problem keys a timer was made for, in order. */
  problems: string[];
  /** Per problem key and candidate: the reps of every round it ran in. */
  reps: Map<string, Map<string, number[]>>;
}

/**
 * Timers returning `ms(name, round, key)` per run (round counts from 0 per
 * problem, warm-up included); each round advances `clock` by the time its
 * batches would take plus 10 ms (the queue wait).
 */
export function fakeTimers(
  ms: (name: string, round: number, key: string) => number,
  clock = new FakeClock(),
  opts: { targetBatchMs?: number; maxReps?: number } = {},
): { factory: TimerFactory; log: TimerLog; clock: FakeClock } {
  const log: TimerLog = { problems: [], reps: new Map() };
  const factory: TimerFactory = (_gpu, family, p, names) => {
    const key = family.key(p);
    log.problems.push(key);
    const byName = new Map(names.map((n) => [n, [] as number[]]));
    log.reps.set(key, byName);
    let round = 0;
    const timer: RoundTimer = {
      targetBatchMs: opts.targetBatchMs ?? 1,
      maxReps: opts.maxReps ?? 64,
      round(reps) {
        const r = round++;
        let spent = 10;
        const out = reps.map((n, i) => {
          if (n === 0) return NaN;
          byName.get(names[i])!.push(n);
          const t = ms(names[i], r, key);
          spent += n * (Number.isFinite(t) ? t : 0);
          return t;
        });
        clock.t += spent;
        return Promise.resolve(out);
      },
      dispose() {},
    };
    return Promise.resolve(timer);
  };
  return { factory, log, clock };
}

/** A unique scratch path for a cache file under .cache/. */
export function tempTunePath(tag: string): string {
  return `.cache/test-tune-${tag}-${Deno.pid}-${Math.floor(Math.random() * 1e9)}.json`;
}

/** Removes `path` if it exists. */
export function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* already gone */ }
}

/** Runs `fn` with ADABK_TUNE set to `value` (undefined: unset), restoring it. */
export async function withTuneEnv<T>(
  value: string | undefined,
  fn: () => Promise<T> | T,
): Promise<T> {
  const prev = Deno.env.get("ADABK_TUNE");
  if (value === undefined) Deno.env.delete("ADABK_TUNE");
  else Deno.env.set("ADABK_TUNE", value);
  try {
    return await fn();
  } finally {
    if (prev === undefined) Deno.env.delete("ADABK_TUNE");
    else Deno.env.set("ADABK_TUNE", prev);
  }
}
