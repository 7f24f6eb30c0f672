/**
 * The layer rules of the source tree, checked from the import statements:
 * which module may import which (docs: /work/shared/DESIGN.md "Layers of
 * code"), no import cycle between files, and an optimizer module that stays
 * importable by URL. `deno task check` runs it; tests/arch/layers_test.ts
 * proves it catches each kind of violation.
 *
 * Run: `deno run --allow-read=. scripts/check_layers.ts`
 * @module
 */

/** A module of the tree: a folder under lib/, `dsl`, `cli`, or the root `mod.ts`. */
export type Layer = string;

/** Every folder of lib/, bottom to top. */
const LIB: readonly Layer[] = [
  "lib/util",
  "lib/gpu",
  "lib/kernels",
  "lib/ops",
  "lib/graph",
  "lib/optim",
  "lib/plan",
  "lib/data",
  "lib/report",
  "lib/train",
];

/**
 * What each module may import (besides itself). A module missing from this
 * table is an error, so a new module states its place here.
 */
export const LAYER_RULES: Readonly<Record<Layer, readonly Layer[]>> = {
  "lib/util": [],
  "lib/gpu": ["lib/util"],
  "lib/kernels": ["lib/util", "lib/gpu"],
  "lib/ops": ["lib/util", "lib/gpu", "lib/kernels"],
  "lib/graph": ["lib/util", "lib/ops"],
  // The optimizer engine: no plan, trainer, DSL or CLI (it also serves user WebGPU code).
  "lib/optim": ["lib/util", "lib/gpu", "lib/kernels", "lib/ops"],
  // The plan knows optimizers only through their contract (TYPE_ONLY below).
  "lib/plan": ["lib/util", "lib/gpu", "lib/kernels", "lib/ops", "lib/graph"],
  "lib/data": ["lib/util"],
  "lib/report": ["lib/util"],
  "lib/train": LIB.filter((l) => l !== "lib/train"),
  dsl: LIB,
  cli: [...LIB, "dsl"],
  "mod.ts": [...LIB, "dsl"],
};

/**
 * Files a module may import with `import type` only, although their module is
 * not in its {@link LAYER_RULES} list: the plan builds an optimizer's stages
 * through the optimizer contract and never loads optimizer code.
 */
export const TYPE_ONLY: Readonly<Record<Layer, readonly string[]>> = {
  "lib/plan": ["lib/optim/types.ts"],
};

/** Entry points that must load by URL: every import in their closure is relative or a full `npm:` specifier. */
export const URL_IMPORTABLE: readonly string[] = ["lib/optim/mod.ts"];

/** Folders (and files) whose `.ts` files are checked, relative to the repository root. */
export const CHECKED_ROOTS: readonly string[] = ["lib", "dsl", "cli", "mod.ts"];

/** One import or re-export statement. */
export interface ImportEdge {
  /** Importing file, relative to the root (`lib/plan/plan.ts`). */
  from: string;
  /** The specifier as written. */
  specifier: string;
  /** Resolved file relative to the root, for relative specifiers. */
  to?: string;
  /** `import type` / `export type`, or braces holding only `type` names. */
  typeOnly: boolean;
  /** 1-based line of the statement. */
  line: number;
}

// Top-level statements only (deno fmt puts them at column 0), so import
// examples in JSDoc (` * import …`) are not read as imports.
const STATIC =
  /^(import|export)\s+(type\s+)?(\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*\{[^}]*\})?)\s+from\s+["']([^"']+)["']/gm;
const SIDE_EFFECT = /^import\s+["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["'`]([^"'`]+)["'`]\s*\)/g;

/** Joins and normalises a relative path (`lib/plan/../gpu/x.ts` → `lib/gpu/x.ts`). */
function resolvePath(dir: string, specifier: string): string {
  const parts = dir === "" ? [] : dir.split("/");
  for (const seg of specifier.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return parts.join("/");
}

function lineAt(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** The import statements of one file's source text. */
export function parseImports(file: string, text: string): ImportEdge[] {
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
  const edges: ImportEdge[] = [];
  const add = (specifier: string, typeOnly: boolean, index: number) => {
    const to = specifier.startsWith(".") ? resolvePath(dir, specifier) : undefined;
    edges.push({ from: file, specifier, to, typeOnly, line: lineAt(text, index) });
  };
  for (const m of text.matchAll(STATIC)) {
    const clause = m[3];
    const names = clause.startsWith("{")
      ? clause.slice(1, -1).split(",").map((s) => s.trim()).filter((s) => s !== "")
      : [];
    const typeOnly = m[2] !== undefined ||
      (names.length > 0 && names.every((n) => n.startsWith("type ")));
    add(m[4], typeOnly, m.index!);
  }
  for (const m of text.matchAll(SIDE_EFFECT)) add(m[1], false, m.index!);
  for (const m of text.matchAll(DYNAMIC)) add(m[1], false, m.index!);
  return edges;
}

/** The module a file belongs to: `lib/<folder>`, `dsl`, `cli`, or the file itself at the root. */
export function layerOf(file: string): Layer {
  const parts = file.split("/");
  if (parts[0] === "lib" && parts.length > 2) return `lib/${parts[1]}`;
  return parts.length > 1 ? parts[0] : file;
}

/** A broken rule, printed as `file:line: message`. */
export interface Violation {
  /** File of the offending import (or the first file of a cycle). */
  file: string;
  /** Its line. */
  line: number;
  /** What is wrong. */
  message: string;
}

/** Imports that cross modules against {@link LAYER_RULES} / {@link TYPE_ONLY}. */
export function layerViolations(
  edges: readonly ImportEdge[],
  rules: Readonly<Record<Layer, readonly Layer[]>> = LAYER_RULES,
  typeOnly: Readonly<Record<Layer, readonly string[]>> = TYPE_ONLY,
): Violation[] {
  const out: Violation[] = [];
  const unknown = new Set<Layer>();
  for (const e of edges) {
    if (e.to === undefined) continue;
    const from = layerOf(e.from);
    const to = layerOf(e.to);
    for (const layer of [from, to]) {
      if (!(layer in rules) && !unknown.has(layer)) {
        unknown.add(layer);
        out.push({
          file: e.from,
          line: e.line,
          message: `module "${layer}" has no entry in LAYER_RULES (scripts/check_layers.ts): ` +
            "say what it may import",
        });
      }
    }
    if (from === to || !(from in rules) || !(to in rules)) continue;
    if (rules[from].includes(to)) continue;
    if (typeOnly[from]?.includes(e.to)) {
      if (e.typeOnly) continue;
      out.push({
        file: e.from,
        line: e.line,
        message: `${from} may import ${e.to} only with \`import type\` (got "${e.specifier}")`,
      });
      continue;
    }
    out.push({
      file: e.from,
      line: e.line,
      message: `${from} must not import ${to} ("${e.specifier}"); ${from} may import ${
        rules[from].length ? rules[from].join(", ") : "nothing outside itself"
      }`,
    });
  }
  return out;
}

/** Every import cycle between files (type-only imports included): each cycle's files sorted, cycles by first file. */
export function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    if (e.to === undefined) continue;
    if (!next.has(e.from)) next.set(e.from, new Set());
    next.get(e.from)!.add(e.to);
  }
  // Tarjan's strongly connected components, iteratively (no deep recursion).
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  for (const root of [...next.keys()].sort()) {
    if (index.has(root)) continue;
    const work: { node: string; it: Iterator<string> }[] = [];
    const visit = (node: string) => {
      index.set(node, counter);
      low.set(node, counter++);
      stack.push(node);
      onStack.add(node);
      work.push({ node, it: [...(next.get(node) ?? [])].sort()[Symbol.iterator]() });
    };
    visit(root);
    while (work.length) {
      const top = work[work.length - 1];
      const step = top.it.next();
      if (!step.done) {
        const w = step.value;
        if (!index.has(w)) visit(w);
        else if (onStack.has(w)) low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== top.node);
        const selfLoop = next.get(top.node)?.has(top.node) ?? false;
        if (scc.length > 1 || selfLoop) cycles.push(scc.sort());
      }
    }
  }
  return cycles.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

/** Imports in the closure of `entries` that a URL import could not resolve (bare specifiers). */
export function urlImportViolations(
  edges: readonly ImportEdge[],
  entries: readonly string[] = URL_IMPORTABLE,
): Violation[] {
  const byFile = new Map<string, ImportEdge[]>();
  for (const e of edges) {
    if (!byFile.has(e.from)) byFile.set(e.from, []);
    byFile.get(e.from)!.push(e);
  }
  const out: Violation[] = [];
  for (const entry of entries) {
    const seen = new Set<string>([entry]);
    const queue = [entry];
    while (queue.length) {
      const file = queue.shift()!;
      for (const e of byFile.get(file) ?? []) {
        if (e.to !== undefined) {
          if (!seen.has(e.to)) {
            seen.add(e.to);
            queue.push(e.to);
          }
        } else if (!/^(npm|jsr|https?|node):/.test(e.specifier)) {
          out.push({
            file,
            line: e.line,
            message: `"${e.specifier}" needs this project's import map, so ${entry} would not ` +
              "load by URL: use a relative path or a full npm: specifier",
          });
        }
      }
    }
  }
  return out;
}

/** Every `.ts` file under `roots` (relative to `base`), sorted. */
export async function sourceFiles(base: URL, roots: readonly string[] = CHECKED_ROOTS) {
  const files: string[] = [];
  const walk = async (rel: string) => {
    const info = await Deno.stat(new URL(rel, base));
    if (info.isFile) {
      if (rel.endsWith(".ts")) files.push(rel);
      return;
    }
    for await (const entry of Deno.readDir(new URL(`${rel}/`, base))) {
      await walk(`${rel}/${entry.name}`);
    }
  };
  for (const root of roots) await walk(root);
  return files.sort();
}

/** Reads the tree at `base` and returns every violation of the rules, cycles included. */
export async function checkTree(base: URL): Promise<Violation[]> {
  const edges: ImportEdge[] = [];
  for (const file of await sourceFiles(base)) {
    edges.push(...parseImports(file, await Deno.readTextFile(new URL(file, base))));
  }
  const out = [...layerViolations(edges), ...urlImportViolations(edges)];
  for (const cycle of importCycles(edges)) {
    out.push({ file: cycle[0], line: 1, message: `import cycle: ${cycle.join(" → ")}` });
  }
  return out;
}

if (import.meta.main) {
  const violations = await checkTree(new URL("../", import.meta.url));
  for (const v of violations) console.error(`${v.file}:${v.line}: ${v.message}`);
  if (violations.length) {
    console.error(`layer check: ${violations.length} violation(s)`);
    Deno.exit(1);
  }
  console.log("layer check: ok");
}
