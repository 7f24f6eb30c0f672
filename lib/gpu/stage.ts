/**
 * Stages: named command lists with a cadence. A training step encodes every
 * stage whose cadence fires at the global step counter into one encoder.
 * @module
 */

import type { Command } from "../gpu/commands.ts";

/** When a stage runs, in terms of the global step counter k (from 0). */
export interface Cadence {
  /** Run when k mod every == offset. 1 = every step. */
  every: number;
  /** Phase within the period (used to stagger refreshes across layers). */
  offset: number;
  /** Also run at k = 0 whatever the phase (a staggered refresh's first computation). */
  atStart?: boolean;
}

/** A named list of commands with a cadence. */
export interface Stage {
  /** e.g. "forward", "backward", "statistics:conv1", "update". */
  name: string;
  /** When it runs. */
  cadence: Cadence;
  /** What it records. */
  commands: Command[];
}

/** Every step. */
export const EVERY_STEP: Cadence = { every: 1, offset: 0 };

/** True when `cadence` fires at step `k`. */
export function fires(cadence: Cadence, k: number): boolean {
  return k % cadence.every === cadence.offset % cadence.every ||
    (k === 0 && cadence.atStart === true);
}

/** The stages that fire at step `k`, in order. */
export function stagesAt(stages: readonly Stage[], k: number): Stage[] {
  return stages.filter((s) => fires(s.cadence, k));
}
