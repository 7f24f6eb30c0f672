/**
 * Strings of a run spec that become file names, directory names or
 * checkpoint keys: paths, the run name and layer names, with the length and
 * character limits the schema enforces. A value past these limits is refused
 * at load time with its path and line, never later by the file system.
 *
 * Each limit is checked first and aborts the others, so a 1 MB value costs
 * one comparison and gives one message.
 * @module
 */
import { z } from "zod";

/** Longest path accepted (`data.path`, `run.out_dir`), in characters; Linux allows 4,095 bytes. */
export const MAX_PATH_CHARS = 1024;
/** Longest path component, in UTF-8 bytes (Linux and macOS: 255). */
export const MAX_PATH_COMPONENT_BYTES = 255;
/** Longest run name: it becomes a directory name, with room for suffixes such as `-compare`. */
export const MAX_RUN_NAME_CHARS = 100;
/** Longest layer name: it becomes a segment of parameter and checkpoint keys. */
export const MAX_LAYER_NAME_CHARS = 64;

/** The path rules in words, for the reference. */
export const PATH_RULES =
  `Each part between slashes at most ${MAX_PATH_COMPONENT_BYTES} bytes; no control characters.`;

const utf8 = new TextEncoder();
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A file-system path: non-empty, at most {@link MAX_PATH_CHARS}, no control characters. */
export const pathString = z
  .string()
  .min(1)
  .max(MAX_PATH_CHARS, { abort: true })
  .refine((p) => !CONTROL.test(p), {
    error: "a path may not hold control characters (newlines, tabs, NUL)",
    abort: true,
  })
  .refine(
    (p) => p.split("/").every((part) => utf8.encode(part).length <= MAX_PATH_COMPONENT_BYTES),
    {
      error:
        `each part of a path between slashes must be at most ${MAX_PATH_COMPONENT_BYTES} bytes`,
    },
  );

/**
 * A run name: it becomes a directory name, so no path separators, and it
 * starts with a letter or digit (so it is never `.` or `..`).
 */
export const runNameString = z
  .string()
  .max(MAX_RUN_NAME_CHARS, { abort: true })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, {
    error: "a run name may hold letters, digits, _, . and - (and starts with a letter or digit)",
  });

/** Layer names become parameter-name segments (`block1.conv.weight`): short identifiers. */
export const layerNameString = z
  .string()
  .max(MAX_LAYER_NAME_CHARS, { abort: true })
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: "a layer name must be an identifier (letters, digits, _; not starting with a digit)",
  });
