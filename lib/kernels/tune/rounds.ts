/**
 * Timing candidates in interleaved rounds, independent of how a round is
 * measured (GPU timestamps, wall time, or injected timings in tests).
 * @module
 */

/** Measures rounds of candidate runs (see {@link timeInRounds}). */
export interface RoundTimer {
  /**
   * Length (ms) a batch of runs should reach to be measured well: short with
   * GPU timestamps, several times Deno's ~10 ms queue poll with wall time.
   */
  readonly targetBatchMs: number;
  /** The most runs per batch. */
  readonly maxReps: number;
  /**
   * Runs candidate `i` `reps[i]` times back to back (0: not this round) and
   * returns milliseconds per run of each (NaN where it did not run or could
   * not be measured).
   */
  round(reps: readonly number[]): Promise<number[]>;
  /** Frees what the timer allocated. */
  dispose(): void;
}

/** Options of {@link timeInRounds}. */
export interface RoundOptions {
  /** Scored rounds per candidate, calibration included (the fastest counts). Default 4. */
  samples?: number;
  /** No further scored round starts after this time (`now()` units, ms). Default: none. */
  deadline?: number;
  /** The clock of `deadline`. Default `performance.now`. */
  now?: () => number;
}

/** Calibration rounds at most, so a timer that never reaches its target still ends. */
const MAX_CALIBRATION = 12;

/** A candidate slower than this multiple of the leader gets no further rounds. */
export const DROP_FACTOR = 4;

/**
 * Times `names` with `timer`: one untimed warm-up round (driver-side
 * compilation, first touch of memory), calibration of each candidate's batch
 * length until it reaches the timer's target (its last batch is its first
 * score), then scored rounds that visit every remaining candidate in turn, so
 * that load from other processes hits all alike. A candidate's score is its
 * fastest batch: contention only ever slows a run down. Candidates over
 * {@link DROP_FACTOR}× the leader after calibration get no further rounds;
 * past the deadline no further round starts. Returns ms per run by name;
 * candidates that could never be measured are left out.
 */
export async function timeInRounds(
  names: readonly string[],
  timer: RoundTimer,
  opts: RoundOptions = {},
): Promise<Record<string, number>> {
  const n = names.length;
  const samples = opts.samples ?? 4;
  const now = opts.now ?? (() => performance.now());
  const deadline = opts.deadline ?? Infinity;
  const reps = new Array<number>(n).fill(1);
  const best = new Array<number>(n).fill(NaN);
  await timer.round(reps);

  let pending = names.map((_, i) => i);
  for (let it = 0; it < MAX_CALIBRATION && pending.length > 0; it++) {
    const ms = await timer.round(reps.map((r, i) => (pending.includes(i) ? r : 0)));
    const next: number[] = [];
    for (const i of pending) {
      const m = ms[i];
      if (!(m > 0) || !Number.isFinite(m)) continue; // cannot be measured: left out
      best[i] = m;
      if (m * reps[i] < timer.targetBatchMs && reps[i] < timer.maxReps) {
        const want = Math.ceil((1.2 * timer.targetBatchMs) / m);
        reps[i] = Math.min(timer.maxReps, Math.max(2 * reps[i], want));
        next.push(i);
      }
    }
    pending = next;
  }

  for (let s = 1; s < samples && now() < deadline; s++) {
    const leader = Math.min(...best.filter((b) => b > 0));
    const active = reps.map((r, i) => (best[i] > 0 && best[i] <= DROP_FACTOR * leader ? r : 0));
    if (active.filter((r) => r > 0).length < 2) break; // nothing left to compare
    const ms = await timer.round(active);
    active.forEach((r, i) => {
      if (r > 0 && ms[i] > 0) best[i] = Math.min(best[i], ms[i]);
    });
  }
  const out: Record<string, number> = {};
  names.forEach((name, i) => {
    if (best[i] > 0) out[name] = best[i];
  });
  return out;
}
