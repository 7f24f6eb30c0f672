/**
 * The metrics log: one JSON object per line (JSONL) in the run directory,
 * appended as events arrive.
 * @module
 */

import type { TrainerEvent } from "./events.ts";

/** Appends trainer events (plus anything extra) to a JSONL file. */
export class MetricsLog {
  readonly #file: Deno.FsFile;
  readonly #enc = new TextEncoder();

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /** Opens (truncates, or appends when resuming) `path`. */
  static async open(path: string, append = false): Promise<MetricsLog> {
    const file = await Deno.open(path, { write: true, create: true, append, truncate: !append });
    return new MetricsLog(file);
  }

  /** Writes one record. */
  write(record: TrainerEvent | Record<string, unknown>): void {
    this.#file.writeSync(this.#enc.encode(JSON.stringify(record) + "\n"));
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}
