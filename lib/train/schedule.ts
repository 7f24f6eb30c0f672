/**
 * Learning-rate schedules as pure functions of the global step, so resuming
 * at step k gives exactly the rate an uninterrupted run would use.
 * @module
 */

/** The shape of the decay after warm-up. */
export type LrDecay =
  | { type: "constant" }
  /** lr·gamma^⌊t/stepSize⌋. */
  | { type: "step"; stepSize: number; gamma: number }
  /** lr·gamma^(number of milestones ≤ t). */
  | { type: "multistep"; milestones: number[]; gamma: number }
  /** minLr + (lr − minLr)·(1 + cos(π·t/T))/2, T the run length in the schedule's unit. */
  | { type: "cosine"; minLr: number };

/** A full schedule. */
export interface LrScheduleSpec {
  /** Base learning rate. */
  lr: number;
  /** Decay rule. */
  decay: LrDecay;
  /** Unit of `stepSize`/`milestones`: optimizer steps or epochs. */
  unit: "step" | "epoch";
  /** Linear warm-up over this many steps: lr·(k+1)/warmup. */
  warmupSteps: number;
  /** Steps per epoch (to convert epochs to steps). */
  stepsPerEpoch: number;
  /** Total steps of the run (cosine period). */
  totalSteps: number;
}

/** Learning rate used at 0-based global step `k`. */
export function lrAt(s: LrScheduleSpec, k: number): number {
  const t = s.unit === "epoch" ? Math.floor(k / s.stepsPerEpoch) : k;
  let lr = s.lr;
  const d = s.decay;
  if (d.type === "step") lr *= Math.pow(d.gamma, Math.floor(t / d.stepSize));
  else if (d.type === "multistep") {
    lr *= Math.pow(
      d.gamma,
      d.milestones.filter((m) => m <= t).length,
    );
  } else if (d.type === "cosine") {
    // The period counts the schedule's unit: whole epochs or steps.
    const period = s.unit === "epoch" ? Math.ceil(s.totalSteps / s.stepsPerEpoch) : s.totalSteps;
    const frac = Math.min(1, t / Math.max(1, period));
    lr = d.minLr + (s.lr - d.minLr) * (1 + Math.cos(Math.PI * frac)) / 2;
  }
  if (k < s.warmupSteps) lr *= (k + 1) / s.warmupSteps;
  return lr;
}
