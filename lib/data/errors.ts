/**
 * The error every dataset reader raises for bad input files.
 *
 * @module
 */

/**
 * A data file is missing, truncated, corrupt or inconsistent.
 *
 * The message always starts with the file (or source) it concerns and then
 * says what is wrong, e.g. `train-images-idx3-ubyte: truncated: header says
 * 60000×28×28 = 47040000 data bytes, file has 1000`, so a user can act on it
 * without a stack trace.
 */
export class DataError extends Error {
  /** The file or source the problem was found in. */
  readonly file: string;
  /** Creates the error for `file` with the problem `detail`. */
  constructor(file: string, detail: string, options?: ErrorOptions) {
    super(`${file}: ${detail}`, options);
    this.name = "DataError";
    this.file = file;
  }
}
