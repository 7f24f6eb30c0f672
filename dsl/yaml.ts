/**
 * The YAML front end: YAML text → RunSpec, with every problem reported at
 * once as `file:line:col: path: message`.
 *
 * Safety: a model file is plain data. The `yaml` package's core schema has no
 * executable tags, and any tag it does not know (`!!js/function`, `!custom`)
 * is reported as an error rather than read as a string. Duplicate keys are
 * errors too (a later key silently overriding an earlier one hides mistakes).
 *
 * Locating schema issues: the document's AST keeps source ranges, so each zod
 * path is looked up with `doc.getIn(path, true)`; a missing key is reported
 * at its parent mapping, an unknown key at the key itself.
 * @module
 */
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  LineCounter,
  parseDocument,
  visit,
  type YAMLError,
} from "yaml";
import { modelIssues } from "./compile.ts";
import { clip, formatPath, type PathIssue, SpecError, type SpecIssue } from "./errors.ts";
import { applyOverrides, attributeIssue, type Override } from "./overrides.ts";
import { type RunSpec, safeParseRunSpec } from "./schema.ts";
import { structureIssues } from "./yaml_limits.ts";

export { type Override, parseOverride } from "./overrides.ts";

/** Error codes after which the tree is still what the user wrote, so schema checks stay meaningful. */
const TREE_INTACT = new Set(["DUPLICATE_KEY", "TAG_RESOLVE_FAILED"]);

/**
 * Parses and validates a run spec written in YAML, with `overrides` (from
 * `--set`) laid over it first.
 * @param text the YAML source.
 * @param file the name used in messages.
 * @throws {SpecError} with every syntax and schema issue, each with line and column.
 */
export function parseRunSpecYaml(
  text: string,
  file = "<input>",
  overrides: readonly Override[] = [],
): RunSpec {
  // Hostile structure (thousands of aliases or keys) is refused before the
  // document is built, which would take quadratic time on it.
  const limits = yamlEnv(() => structureIssues(text));
  if (limits.length) throw new SpecError(limits, file);
  const lineCounter = new LineCounter();
  const doc = yamlEnv(() =>
    parseDocument(text, {
      lineCounter,
      uniqueKeys: true,
      schema: "core",
      merge: false, // `<<` is a YAML 1.1 feature; here it is an ordinary (unknown) key
      prettyErrors: true,
      strict: true,
    })
  );
  const at = (offset: number) => lineCounter.linePos(offset);

  // A tab in the indentation derails the parser and every later message is a
  // consequence of it: report the tabs alone.
  const tabs = doc.errors.filter((e) => e.code === "TAB_AS_INDENT");
  const problems = tabs.length ? tabs : [...doc.errors, ...doc.warnings];
  const syntax: SpecIssue[] = problems.map((e) => syntaxIssue(e, text, at));
  syntax.push(...unresolvedAliases(doc, at));
  const intact = problems.every((e) => TREE_INTACT.has(e.code)) &&
    syntax.length === problems.length;
  if (!intact) throw new SpecError(sortIssues(syntax), file);
  const unapplied = applyOverrides(doc, overrides);
  if (unapplied.length) throw new SpecError([...sortIssues(syntax), ...unapplied], file);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // An alias bomb: a few aliases that expand to a huge tree; yaml refuses it.
    const message = /alias/i.test((e as Error).message)
      ? "aliases expand to too large a document (each alias of a list or mapping copies it)"
      : (e as Error).message;
    throw new SpecError([...syntax, { path: "", message, line: 1, col: 1 }], file);
  }
  const result = safeParseRunSpec(value);
  // Shape errors (and a last layer that does not fit the classes) point at the layer too.
  const found = result.success ? modelIssues(result.data) : result.issues;
  if (result.success && found.length === 0 && syntax.length === 0) return result.data;

  const schema = found.map((i) =>
    attributeIssue(doc, overrides, i.segments, placeIssue(doc, i, at))
  );
  // A value with a rejected tag also fails the schema (it was read as a
  // string); one message per line is enough.
  const taken = new Set(syntax.map((s) => s.line));
  const issues = [...syntax, ...schema.filter((s) => s.line === undefined || !taken.has(s.line))];
  throw new SpecError(sortIssues(issues), file);
}

/**
 * Reads and parses a YAML run-spec file (needs `--allow-read` for it).
 * @throws {SpecError} when the file cannot be read or is invalid.
 */
export async function loadRunSpecFile(
  path: string | URL,
  overrides: readonly Override[] = [],
): Promise<RunSpec> {
  const name = path instanceof URL ? path.pathname : path;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new SpecError([{ path: "", message: `cannot read the file: ${why}` }], name);
  }
  return parseRunSpecYaml(text, name, overrides);
}

/**
 * Runs a yaml parse, with a pointer to the fix when permissions are missing:
 * the yaml package reads the variables LOG_TOKENS and LOG_STREAM while
 * parsing, which Deno refuses without `--allow-env` or `--ignore-env`.
 */
function yamlEnv<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new Deno.errors.NotCapable(
        `${e.message}. The yaml parser reads LOG_TOKENS and LOG_STREAM: run with ` +
          "--ignore-env=LOG_TOKENS,LOG_STREAM (or --allow-env=LOG_TOKENS,LOG_STREAM)",
        { cause: e },
      );
    }
    throw e;
  }
}

type LinePosOf = (offset: number) => { line: number; col: number };

/** A yaml error or warning as an issue, with the library's code frame dropped. */
function syntaxIssue(e: YAMLError, text: string, at: LinePosOf): SpecIssue {
  const { line, col } = at(e.pos[0]);
  let message = e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, "").trim();
  switch (e.code) {
    case "TAG_RESOLVE_FAILED": {
      const tag = text.slice(e.pos[0], e.pos[1]).trim() || message.replace(/^Unresolved tag: /, "");
      message =
        `unsupported tag ${tag}: a run spec is plain YAML (mappings, lists, numbers, strings, booleans)`;
      break;
    }
    case "DUPLICATE_KEY": {
      const key = /^[^\s:,{}[\]]+/.exec(text.slice(e.pos[0]))?.[0];
      message = `duplicate key${key ? ` "${key}"` : ""} (keys must be unique within a mapping)`;
      break;
    }
    case "MULTIPLE_DOCS":
      message = "a run spec is a single YAML document; remove the second one (after ---)";
      break;
    case "TAB_AS_INDENT":
      message = "tabs are not allowed as indentation (indent with spaces)";
      break;
    default:
      message = message.charAt(0).toLowerCase() + message.slice(1);
  }
  // Messages quoting the source (`unexpected scalar token in YAML stream: "…"`)
  // would copy a whole line of junk.
  return { path: "", message: clip(message, 120), line, col };
}

/** `*name` with no `&name` before it: yaml only notices when converting, so look for them first. */
function unresolvedAliases(doc: Document, at: LinePosOf): SpecIssue[] {
  const out: SpecIssue[] = [];
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) === undefined && node.range) {
        out.push({
          path: "",
          message: `unknown alias *${node.source} (no &${node.source} anchor before it)`,
          ...at(node.range[0]),
        });
      }
    },
  });
  return out;
}

/** Places a schema issue on the YAML node its path names (or the nearest ancestor that exists). */
function placeIssue(doc: Document, issue: PathIssue, at: LinePosOf): SpecIssue {
  const path = formatPath(issue.segments);
  const segs = issue.segments;
  if (issue.atKey && segs.length > 0) {
    const parent = segs.length === 1 ? doc.contents : doc.getIn(segs.slice(0, -1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === segs.at(-1));
      if (pair && isNode(pair.key) && pair.key.range) {
        return { path, message: issue.message, ...at(pair.key.range[0]) };
      }
    }
  }
  for (let n = segs.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(segs.slice(0, n), true);
    if (isNode(node) && !isAlias(node) && node.range) {
      return { path, message: issue.message, ...at(node.range[0]) };
    }
    if (isAlias(node) && node.range) return { path, message: issue.message, ...at(node.range[0]) };
  }
  return { path, message: issue.message, line: 1, col: 1 };
}

/** Source order; issues without a line (none here in practice) go last. */
function sortIssues(issues: SpecIssue[]): SpecIssue[] {
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) =>
      (a.issue.line ?? Number.MAX_SAFE_INTEGER) - (b.issue.line ?? Number.MAX_SAFE_INTEGER) ||
      (a.issue.col ?? 0) - (b.issue.col ?? 0) || a.i - b.i
    )
    .map(({ issue }) => issue);
}
