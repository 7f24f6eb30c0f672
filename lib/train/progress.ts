/**
 * Progress output: one redrawn line on a terminal, plain periodic lines
 * otherwise (logs, CI). Fed by trainer events, so it never syncs the GPU.
 * @module
 */

import type { TrainerEvent } from "./events.ts";

function fmtTime(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(r).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Writes trainer events as human-readable progress. */
export class ProgressReporter {
  readonly #tty: boolean;
  readonly #write: (s: string) => void;
  readonly #epochs: number;
  readonly #totalSteps: number | undefined;
  #lineOpen = false;

  /**
   * `epochs` is the run's total (and `totalSteps` its length in steps when
   * that is not whole epochs); output goes to stderr unless `write` is given;
   * `tty` defaults to whether stderr is a terminal.
   */
  constructor(
    epochs: number,
    opts: { tty?: boolean; write?: (s: string) => void; totalSteps?: number } = {},
  ) {
    this.#epochs = epochs;
    this.#totalSteps = opts.totalSteps;
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
    const enc = new TextEncoder();
    this.#write = opts.write ?? ((s) => Deno.stderr.writeSync(enc.encode(s)));
  }

  /** Handles one event. */
  onEvent(e: TrainerEvent): void {
    if (e.kind === "train") {
      const totalSteps = this.#totalSteps ?? this.#epochs * e.steps;
      const done = e.epoch * e.steps + e.step;
      const rate = done / Math.max(e.wallTime, 1e-9);
      const eta = (totalSteps - done) / rate;
      const line = `epoch ${e.epoch + 1}/${this.#epochs} step ${e.step}/${e.steps} ` +
        `loss ${e.loss.toFixed(4)} acc ${(100 * e.accuracy).toFixed(2)}% ` +
        `${Math.round(e.samplesPerSec)} samples/s lr ${e.lr.toExponential(2)} ` +
        `elapsed ${fmtTime(e.wallTime)} eta ${fmtTime(eta)}`;
      if (this.#tty) {
        let width = 120;
        try {
          width = Deno.consoleSize().columns;
        } catch { /* not a console after all */ }
        this.#write(`\r${line.slice(0, Math.max(10, width - 1))}\x1b[K`);
        this.#lineOpen = true;
      } else this.#write(line + "\n");
      return;
    }
    const split = e.split ?? "test";
    const line = `eval  epoch ${e.epoch + 1}: ${split} loss ${e.loss.toFixed(4)} ` +
      `${split} acc ${(100 * e.accuracy).toFixed(2)}% (${fmtTime(e.wallTime)})`;
    this.#write((this.#lineOpen ? "\n" : "") + line + "\n");
    this.#lineOpen = false;
  }

  /** Ends an open redrawn line. */
  close(): void {
    if (this.#lineOpen) this.#write("\n");
    this.#lineOpen = false;
  }
}
