/**
 * Limits on the shape of a YAML model file, checked in linear time before the
 * document is built, so hostile input is refused early and fast: resolving
 * aliases costs time per alias proportional to the document, and the
 * document builder checks key uniqueness in time quadratic in a mapping's
 * size. Aliases are counted on the lexer's tokens (stopping at the first one
 * too many), collection sizes on the concrete syntax tree. No run spec comes
 * near these limits.
 * @module
 */
import { CST, Lexer, LineCounter, Parser } from "yaml";
import type { SpecIssue } from "./errors.ts";

/** Most aliases (`*name`) a model file may use. */
export const MAX_ALIASES = 100;
/** Most entries of one mapping or list. */
export const MAX_ENTRIES = 1000;

/**
 * The first alias past {@link MAX_ALIASES}, or else the first collection with
 * more than {@link MAX_ENTRIES} entries, as an issue (empty when the file is
 * within both limits).
 */
export function structureIssues(text: string): SpecIssue[] {
  const alias = excessAlias(text);
  if (alias) {
    return [{
      path: "",
      message: `more than ${MAX_ALIASES} aliases (${
        alias.source.slice(0, 40)
      } is one too many); a run spec needs only a few`,
      ...linePos(text, alias.offset),
    }];
  }
  // An explicit stack (nesting depth is the file's to choose), children
  // pushed in reverse so tokens are visited in source order.
  const lines = new LineCounter();
  const stack: CST.Token[] = [...new Parser(lines.addNewLine).parse(text)].reverse();
  while (stack.length) {
    const t = stack.pop()!;
    if (t.type === "document" && t.value) stack.push(t.value);
    if (t.type !== "block-map" && t.type !== "block-seq" && t.type !== "flow-collection") continue;
    if (t.items.length > MAX_ENTRIES) {
      return [{
        path: "",
        message: `a ${t.type === "block-map" ? "mapping" : "list or mapping"} with ${
          t.items.length.toLocaleString("en")
        } entries (at most ${MAX_ENTRIES.toLocaleString("en")}); no run spec is this large`,
        ...lines.linePos(t.offset),
      }];
    }
    for (let i = t.items.length - 1; i >= 0; i--) {
      const item = t.items[i];
      if (item.value) stack.push(item.value);
      if ("key" in item && item.key) stack.push(item.key);
    }
  }
  return [];
}

/** Lexer tokens that mark a state change and stand for no source text. */
const MARKERS = new Set([CST.DOCUMENT, CST.FLOW_END, CST.SCALAR]);

/**
 * The alias one past {@link MAX_ALIASES}, from the lexer alone (linear, and
 * it stops there): a token starting with `*` is an alias unless it is the
 * content of a scalar, which the lexer announces with {@link CST.SCALAR}.
 */
function excessAlias(text: string): { source: string; offset: number } | undefined {
  let count = 0;
  let offset = 0;
  let scalarNext = false;
  for (const token of new Lexer().lex(text)) {
    if (MARKERS.has(token)) {
      scalarNext = token === CST.SCALAR;
      continue;
    }
    if (!scalarNext && token.startsWith("*") && ++count > MAX_ALIASES) {
      return { source: token, offset };
    }
    scalarNext = false;
    offset += token.length;
  }
  return undefined;
}

/** 1-based line and column of `offset` (a line ends at `\n`). */
function linePos(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}
