/**
 * Drops texture-mirror refreshes that would copy what the mirror already
 * holds. Kernels record a `copyToTexture` before every read through a
 * mirror, since a builder cannot know what ran before; within a step the
 * same tensor is often mirrored twice with nothing writing it in between
 * (an activation read by its conv's forward and again by the weight
 * gradient, a weight read by the head's forward and its input gradient).
 *
 * The analysis follows one step's stages in order and tracks which mirrors
 * surely hold their tensor's current values: a refresh makes its mirror
 * valid; any dispatch, copy or clear that may write an overlapping byte range
 * (dispatches without a known write set: anything) makes it stale. A stage
 * that does not run every step may still drop refreshes that earlier
 * every-step stages made, but its own refreshes are not relied on later,
 * while its writes are. The step starts with nothing valid (the data stage
 * and the update write between steps).
 * @module
 */

import type { Binding, Command } from "./commands.ts";
import { EVERY_STEP, type Stage } from "./stage.ts";
import type { TextureOperand } from "./texture.ts";

/** A byte range of a buffer. */
interface Range {
  readonly buffer: GPUBuffer;
  readonly start: number;
  readonly end: number;
}

function rangeOf(t: { buffer: GPUBuffer; offset: number; size: number }): Range {
  return { buffer: t.buffer, start: t.offset, end: t.offset + t.size * 4 };
}

function overlaps(a: Range, b: Range): boolean {
  return a.buffer === b.buffer && a.start < b.end && b.start < a.end;
}

/** Mirror → the range it surely holds. */
type Valid = Map<TextureOperand, Range>;

/** Forgets every mirror a write to `r` (undefined: anything) may make stale. */
function invalidate(valid: Valid, r: Range | undefined): void {
  for (const [tex, held] of valid) if (!r || overlaps(held, r)) valid.delete(tex);
}

/** Forgets what a write to binding `b` may make stale (a written texture: itself). */
function invalidateBinding(valid: Valid, b: Binding): void {
  if ("buffer" in b) invalidate(valid, rangeOf(b));
  else if ("storageTexture" in b) {
    for (const tex of valid.keys()) if (tex.view === b.storageTexture) valid.delete(tex);
  }
}

/** Processes `commands` against `valid` (updated in place); returns the ones to keep. */
function elide(commands: readonly Command[], valid: Valid): Command[] {
  const kept: Command[] = [];
  for (const c of commands) {
    if (c.kind === "copyToTexture") {
      const r = rangeOf(c.src);
      const held = valid.get(c.dst);
      if (held && held.buffer === r.buffer && held.start === r.start && held.end === r.end) {
        continue;
      }
      valid.set(c.dst, r);
    } else if (c.kind === "dispatch") {
      if (c.writes === undefined) invalidate(valid, undefined);
      else for (const b of c.writes) invalidateBinding(valid, b);
    } else invalidate(valid, rangeOf(c.dst));
    kept.push(c);
  }
  return kept;
}

function everyStep(s: Stage): boolean {
  return s.cadence.every === EVERY_STEP.every && s.cadence.offset === EVERY_STEP.offset;
}

/**
 * The stages of one step with redundant mirror refreshes removed, and how
 * many were removed. The stages must run in the given order within a step
 * (as the trainer, the profiler and `stagesAt` run them); a stage run on
 * its own may then read a mirror an earlier stage refreshed.
 */
export function elideMirrorRefreshes(
  stages: readonly Stage[],
): { stages: Stage[]; elided: number } {
  const valid: Valid = new Map();
  let elided = 0;
  const out = stages.map((s) => {
    let commands: Command[];
    if (everyStep(s)) commands = elide(s.commands, valid);
    else {
      // When it runs: drop what earlier every-step refreshes cover. Afterwards,
      // only what held before and survived its writes is sure.
      const inside: Valid = new Map(valid);
      commands = elide(s.commands, inside);
      for (const [tex, r] of valid) if (inside.get(tex) !== r) valid.delete(tex);
    }
    elided += s.commands.length - commands.length;
    return { ...s, commands };
  });
  return { stages: out, elided };
}
