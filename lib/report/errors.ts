/**
 * The error of the reporting tools: a run directory or metrics file that
 * cannot be read as one. The message names the file and what is wrong.
 * @module
 */

/** A run directory, metrics log or checkpoint folder is missing or malformed. */
export class ReportError extends Error {
  /** `message` names the path and the problem, ready to print. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReportError";
  }
}
