/**
 * Curves over seeds: the runs of one optimizer are aligned on the global
 * step (every seed logs at the same steps, since the schedule is shared),
 * and each step becomes one point with the mean, spread and count of the
 * seeds that reached it (a diverged seed stops contributing where it stopped).
 * @module
 */

/** One measurement of one run. */
export interface Sample {
  /** Curve the run belongs to (the optimizer). */
  group: string;
  /** Alignment key across seeds (the global step). */
  key: number;
  /** Horizontal position (epochs, seconds). */
  x: number;
  /** Value. */
  y: number;
}

/** One aligned point of a group's curve. */
export interface Band {
  /** Curve name. */
  group: string;
  /** Alignment key. */
  key: number;
  /** Mean of the runs' x at this key (wall time differs per run; epochs do not). */
  x: number;
  /** Mean of y. */
  mean: number;
  /** Smallest y. */
  min: number;
  /** Largest y. */
  max: number;
  /** Sample standard deviation of y (n − 1 in the denominator; 0 when n = 1). */
  std: number;
  /** Number of runs at this key. */
  n: number;
}

/** Mean and sample standard deviation (0 for fewer than two values). */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, std: 0 };
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

/** Median of a list of numbers (NaN for none). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Groups samples by (group, key) and summarises each; the result is ordered
 * by group (first appearance) and then by key.
 */
export function aggregate(samples: readonly Sample[]): Band[] {
  const groups = new Map<string, Map<number, Sample[]>>();
  for (const s of samples) {
    let g = groups.get(s.group);
    if (!g) groups.set(s.group, g = new Map());
    const at = g.get(s.key);
    if (at) at.push(s);
    else g.set(s.key, [s]);
  }
  const out: Band[] = [];
  for (const [group, byKey] of groups) {
    for (const key of [...byKey.keys()].sort((a, b) => a - b)) {
      const at = byKey.get(key)!;
      const ys = at.map((s) => s.y);
      const { mean, std } = meanStd(ys);
      out.push({
        group,
        key,
        x: at.reduce((a, s) => a + s.x, 0) / at.length,
        mean,
        min: Math.min(...ys),
        max: Math.max(...ys),
        std,
        n: at.length,
      });
    }
  }
  return out;
}
