/**
 * `--set key.path=value`: values laid over a model file before validation.
 *
 * A value is read as YAML (numbers, booleans, lists); `null` (or `~`) unsets
 * the key, so the schema's default applies. An issue about a value that an
 * override wrote names the override (`--set optimizer.lr=abc: optimizer.lr:
 * expected a number, got "abc"`) rather than the file's line, which never
 * held that value.
 * @module
 */
import { type Document, isMap, isNode, isSeq, parseDocument } from "yaml";
import { formatPath, SpecError, type SpecIssue } from "./errors.ts";

/** A value set on top of the file, e.g. from `--set optimizer.lr=0.01`. */
export interface Override {
  /** Keys (and list indices) from the root. */
  path: (string | number)[];
  /** The new value; `null` unsets the key (the default applies). */
  value: unknown;
  /** The text as given (`optimizer.lr=0.01`), for messages. */
  text?: string;
  /** How messages name it when it did not come from `--set` (e.g. `--out runs/x`). */
  source?: string;
}

/**
 * Parses `key.path=value` (value read as YAML: numbers, booleans, lists;
 * `null` or `~` unsets the key; an empty value is the empty string).
 * @throws {SpecError} when the text has no `=` or an empty key.
 */
export function parseOverride(text: string): Override {
  const eq = text.indexOf("=");
  const key = eq > 0 ? text.slice(0, eq).trim() : "";
  if (!key || key.split(".").some((k) => k === "")) {
    throw new SpecError(
      [{ path: "", message: `--set expects key.path=value, got "${text}"` }],
      "--set",
    );
  }
  const path = key.split(".").map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = parseDocument(raw, { schema: "core" }).toJS();
  } catch { /* keep the string */ }
  if (value === null || value === undefined) value = raw.trim() === "" ? raw : null;
  return { path, value, text };
}

/** How an override is named in messages: `--set optimizer.lr=abc`, or its `source`. */
export function overrideLabel(o: Override): string {
  return o.source ?? `--set ${o.text ?? `${o.path.join(".")}=${JSON.stringify(o.value)}`}`;
}

/**
 * Applies the overrides to `doc` in order. Intermediate mappings are created
 * as needed; a list index may be at most the list's length (appending);
 * unsetting a key that is not there does nothing.
 * @returns an issue for each override that cannot apply (a scalar in its path).
 */
export function applyOverrides(doc: Document, overrides: readonly Override[]): SpecIssue[] {
  const issues: SpecIssue[] = [];
  for (const o of overrides) {
    const problem = pathProblem(doc, o.path);
    if (problem) {
      issues.push({ path: "", message: problem, source: overrideLabel(o) });
    } else if (o.value === null) {
      if (doc.hasIn(o.path)) doc.deleteIn(o.path);
    } else {
      doc.setIn(o.path, doc.createNode(o.value));
    }
  }
  return issues;
}

/** Why `path` cannot be written in `doc`, or undefined when it can. */
function pathProblem(doc: Document, path: readonly (string | number)[]): string | undefined {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    if (node === null || node === undefined) return undefined; // created as needed
    const where = formatPath(path.slice(0, i)) || "the document";
    const seg = path[i];
    if (isSeq(node)) {
      if (typeof seg !== "number") return `${where} is a list: expected an index, got "${seg}"`;
      if (seg > node.items.length) {
        return `${where} has ${node.items.length} items: an index may be at most ${node.items.length} (to append)`;
      }
    } else if (!isMap(node)) {
      return `${where} is not a mapping or a list, so it has no "${seg}"`;
    }
    node = node.get(seg, true);
  }
  return undefined;
}

/**
 * Says where an issue at `segments` (already placed in the file as `issue`)
 * really comes from: an issue inside a value an override wrote (or in a
 * mapping it created) names that override instead of a file line; an issue
 * about a part of the file that an override changed keeps its line and says
 * which override was involved.
 */
export function attributeIssue(
  doc: Document,
  overrides: readonly Override[],
  segments: readonly (string | number)[],
  issue: SpecIssue,
): SpecIssue {
  for (let k = overrides.length - 1; k >= 0; k--) {
    const o = overrides[k];
    const inside = startsWith(segments, o.path);
    const above = !inside && segments.length > 0 && startsWith(o.path, segments);
    if (!inside && !above) continue;
    const node = doc.getIn(segments, true);
    const written = inside || !(isNode(node) && node.range);
    if (written) return { path: issue.path, message: issue.message, source: overrideLabel(o) };
    return { ...issue, message: `${issue.message} (with ${overrideLabel(o)})` };
  }
  return issue;
}

/** True when `path` begins with every segment of `prefix`. */
function startsWith(
  path: readonly (string | number)[],
  prefix: readonly (string | number)[],
): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}
