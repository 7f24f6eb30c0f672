/**
 * Errors of the run-spec front ends: one {@link SpecError} carries every
 * problem found in a spec, each with its path (and, for YAML, its line), so a
 * user fixes a file in one pass instead of one error per run.
 *
 * This module also turns zod issues into short human messages; both front
 * ends (objects via `parseRunSpec`, YAML via `parseRunSpecYaml`) share it.
 * @module
 */

/** One problem in a run spec. */
export interface SpecIssue {
  /** Where, as `model.layers[2].kernel`; empty for the document itself or a YAML syntax error. */
  readonly path: string;
  /** What is wrong, in one line (no stack trace, no zod jargon). */
  readonly message: string;
  /** 1-based line in the source file, when the spec came from text. */
  readonly line?: number;
  /** 1-based column in the source file, when the spec came from text. */
  readonly col?: number;
  /**
   * Where the offending value came from when not from the file itself, e.g.
   * `--set optimizer.lr=abc`; printed instead of `file:line:col`.
   */
  readonly source?: string;
}

/** At most this many issues are listed in a report; the rest are counted. */
export const MAX_REPORTED_ISSUES = 20;
/** Messages (and quoted values in them) are cut to this many characters. */
export const MAX_MESSAGE_CHARS = 200;

/** `text` cut to `max` characters (an ellipsis marks the cut). */
export function clip(text: string, max = MAX_MESSAGE_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * A run spec failed to parse or validate. `message` is the report, one line
 * per issue (`file:line:col: path: message` for files), ready to print as is;
 * past {@link MAX_REPORTED_ISSUES} issues it ends with `… and N more`, so a
 * file of junk cannot flood a terminal. `issues` holds every issue for
 * programs.
 */
export class SpecError extends Error {
  /** Every problem found, in source order for files. */
  readonly issues: readonly SpecIssue[];
  /** The file name the issues refer to, when the spec came from text. */
  readonly file?: string;

  /** Creates the error; `file` prefixes every line of the report when given. */
  constructor(issues: readonly SpecIssue[], file?: string) {
    const shown = issues.slice(0, MAX_REPORTED_ISSUES).map((i) => formatIssue(i, file));
    const more = issues.length - shown.length;
    if (more > 0) shown.push(`… and ${more} more issue${more === 1 ? "" : "s"}`);
    super(shown.join("\n") || "invalid run spec");
    this.name = "SpecError";
    this.issues = issues;
    this.file = file;
  }
}

/**
 * One report line: `file:line:col: path: message` (or `source: path: message`
 * for a value from elsewhere), dropping the parts that are absent; the
 * message is clipped to one short line.
 */
export function formatIssue(issue: SpecIssue, file?: string): string {
  let where = "";
  if (issue.source !== undefined) where = `${clip(issue.source, 80)}: `;
  else if (file !== undefined) {
    where = issue.line !== undefined ? `${file}:${issue.line}:${issue.col ?? 1}: ` : `${file}: `;
  }
  const message = clip(issue.message.replace(/\s*\n\s*/g, " "), 2 * MAX_MESSAGE_CHARS);
  return `${where}${issue.path ? `${clip(issue.path)}: ` : ""}${message}`;
}

/** A path as written in messages: `["model", "layers", 2, "kernel"]` → `model.layers[2].kernel`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/**
 * An issue before it is placed in a source: the path as segments (so the YAML
 * front end can find the node) and whether it names a key rather than a value
 * (an unknown key is reported at the key itself).
 */
export interface PathIssue {
  /** The path as object keys and array indices. */
  readonly segments: readonly (string | number)[];
  /** The human message. */
  readonly message: string;
  /** True when the last segment is a key that should be pointed at (unknown keys). */
  readonly atKey: boolean;
}

/** The subset of a zod v4 issue this module reads (kept structural so no zod import is needed). */
export interface ZodIssueLike {
  /** zod's issue code (`invalid_type`, `too_small`, …). */
  readonly code: string;
  /** Where the issue is, as keys and indices. */
  readonly path: readonly PropertyKey[];
  /** zod's own message (used when no better one is known). */
  readonly message: string;
  /** The offending value (absent when the key is missing). */
  readonly input?: unknown;
  /** `invalid_type`: the expected type name. */
  readonly expected?: string;
  /** `unrecognized_keys`: the unknown keys. */
  readonly keys?: readonly string[];
  /** `invalid_value`: the allowed values. */
  readonly values?: readonly unknown[];
  /** `too_small`: the bound. */
  readonly minimum?: number | bigint;
  /** `too_big`: the bound. */
  readonly maximum?: number | bigint;
  /** Whether the bound itself is allowed. */
  readonly inclusive?: boolean;
  /** What was measured (`number`, `array`, `string`). */
  readonly origin?: string;
  /** `invalid_union`: zod's note (`No matching discriminator`). */
  readonly note?: string;
  /** `invalid_union`: the discriminator key. */
  readonly discriminator?: string;
  /** `invalid_union`: the allowed discriminator values. */
  readonly options?: readonly unknown[];
}

/**
 * Converts zod issues (parsed with `reportInput: true`) to {@link PathIssue}s
 * with short messages. An `unrecognized_keys` issue becomes one issue per key,
 * because each key sits on its own line in a file. `allowedKeys` returns the
 * known keys of the object an unknown key was found in (for "did you mean").
 */
export function issuesFromZod(
  issues: readonly ZodIssueLike[],
  allowedKeys: (input: unknown) => readonly string[] | undefined = () => undefined,
): PathIssue[] {
  const out: PathIssue[] = [];
  for (const issue of issues) {
    const segments = issue.path.map((s) => (typeof s === "number" ? s : String(s)));
    if (issue.code === "unrecognized_keys") {
      const allowed = allowedKeys(issue.input) ?? [];
      for (const key of issue.keys ?? []) {
        out.push({ segments: [...segments, key], message: unknownKey(key, allowed), atKey: true });
      }
      continue;
    }
    out.push({ segments, message: messageFor(issue), atKey: false });
  }
  return out;
}

/** The candidate within a typo's reach of `word` (about a third of its letters), if any. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  return candidates
    .map((k) => ({ k, d: editDistance(word.toLowerCase(), k.toLowerCase()) }))
    .filter(({ k, d }) => d <= Math.max(1, Math.floor(k.length / 3)))
    .sort((a, b) => a.d - b.d)[0]?.k;
}

/** `unknown key "kernal" (did you mean "kernel"?)` */
function unknownKey(key: string, allowed: readonly string[]): string {
  // A key far longer than any known one is no typo (and its distance would be costly).
  const close = key.length <= 64 ? closest(key, allowed) : undefined;
  const hint = close
    ? ` (did you mean "${close}"?)`
    : allowed.length
    ? ` (expected one of: ${allowed.join(", ")})`
    : "";
  return `unknown key ${quote(key)}${hint}`;
}

/** Levenshtein distance; the strings are short keys, so the O(mn) table is fine. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** A string quoted for a message, cut to a readable length. */
function quote(s: string): string {
  return s.length <= 60
    ? JSON.stringify(s)
    : `${JSON.stringify(s.slice(0, 40)).slice(0, -1)}…" (${
      s.length.toLocaleString("en")
    } characters)`;
}

/** A value as a user sees it in their file. */
export function describeValue(v: unknown): string {
  if (v === null) return "an empty value";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return quote(v);
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return `${typeof v} ${String(v)}`;
}

/** The words for zod's `expected` names. */
const EXPECTED: Record<string, string> = {
  number: "a number",
  int: "an integer",
  string: "a string",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  tuple: "a list",
  literal: "a fixed value",
};

function bound(n: number | bigint | undefined, inclusive: boolean | undefined, big: boolean) {
  const op = big ? (inclusive ? "<=" : "<") : inclusive ? ">=" : ">";
  return `${op} ${String(n)}`;
}

/** What a discriminated union chooses, named by where it sits (`layer type`, `optimizer`). */
function unionLabel(issue: ZodIssueLike): string {
  const parent = issue.path.slice(0, -1).filter((s) => typeof s === "string").at(-1);
  if (parent === "layers" || parent === "shortcut") return "layer type";
  if (parent === "optimizer") return "optimizer";
  if (parent === "lr") return "lr schedule";
  if (parent === "loss") return "loss";
  return issue.discriminator ?? "value";
}

/** A short message for one (non-`unrecognized_keys`) zod issue. */
function messageFor(issue: ZodIssueLike): string {
  const hasInput = "input" in issue && issue.input !== undefined;
  const got = hasInput ? `, got ${describeValue(issue.input)}` : "";
  switch (issue.code) {
    case "invalid_type": {
      const want = EXPECTED[issue.expected ?? ""] ?? issue.expected ?? "a value";
      if (!hasInput) return `missing required field (expected ${want})`;
      if (issue.expected === "int" && typeof issue.input === "number") {
        return `expected an integer, got ${issue.input}`;
      }
      return `expected ${want}${got}`;
    }
    case "too_small":
    case "too_big": {
      const big = issue.code === "too_big";
      if (issue.origin === "array") {
        const n = Number(big ? issue.maximum : issue.minimum);
        const side = big ? "at most" : "at least";
        return `expected ${side} ${n} item${n === 1 ? "" : "s"}${
          Array.isArray(issue.input) ? `, got ${issue.input.length}` : ""
        }`;
      }
      if (issue.origin === "string") {
        if (!big) return "must not be empty";
        const len = typeof issue.input === "string"
          ? `, got ${issue.input.length.toLocaleString("en")}`
          : "";
        return `expected at most ${String(issue.maximum)} characters${len}`;
      }
      const lim = big ? issue.maximum : issue.minimum;
      return `must be ${bound(lim, issue.inclusive, big)}${
        typeof issue.input === "number" ? `, got ${issue.input}` : ""
      }`;
    }
    case "invalid_value": {
      const vals = (issue.values ?? []).map((v) => JSON.stringify(v));
      return vals.length === 1
        ? `expected ${vals[0]}${got}`
        : `expected one of ${vals.join(", ")}${got}`;
    }
    case "invalid_union": {
      if (issue.note === "No matching discriminator" && issue.discriminator) {
        const opts = (issue.options ?? []).map((o) => String(o)).join(", ");
        const value = (issue.input as Record<string, unknown> | undefined)?.[issue.discriminator];
        if (value === undefined) {
          return `missing required field (expected one of: ${opts})`;
        }
        const close = typeof value === "string" && value.length <= 64
          ? closest(value, (issue.options ?? []).map(String))
          : undefined;
        const hint = close ? ` (did you mean "${close}"?)` : "";
        return `unknown ${unionLabel(issue)} ${
          describeValue(value)
        }${hint}; expected one of: ${opts}`;
      }
      if (!hasInput) return `missing required field (${issue.message})`;
      return `${issue.message}${got}`;
    }
    default:
      return issue.message;
  }
}
