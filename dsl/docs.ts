/**
 * Generates docs/yaml-reference.md from the zod schemas, so the reference can
 * never disagree with what the loader accepts: every field with its type,
 * default and `.describe()` text. A test fails when the committed file is out
 * of date.
 *
 * Regenerate: `deno run --allow-write=docs/yaml-reference.md dsl/docs.ts`
 * @module
 */
import type { z } from "zod";
import { MAX_REPORTED_ISSUES } from "./errors.ts";
import { DATASETS, LayerSchema, RunSpecSchema } from "./schema.ts";
import { MAX_ALIASES, MAX_ENTRIES } from "./yaml_limits.ts";

/** The command that rewrites the reference (printed at the top of the file). */
export const REGENERATE_COMMAND = "deno run --allow-write=docs/yaml-reference.md dsl/docs.ts";

/** Where the generated reference lives, relative to the repository root. */
export const REFERENCE_PATH = "docs/yaml-reference.md";

/** The zod v4 definition fields this generator reads (structural, to stay off zod internals' types). */
interface Def {
  type: string;
  innerType?: Schema;
  defaultValue?: unknown;
  in?: Schema;
  out?: Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  items?: Schema[];
  options?: Schema[];
  discriminator?: string;
  values?: unknown[];
  entries?: Record<string, string>;
  getter?: () => Schema;
  format?: string;
  checks?: { _zod: { def: CheckDef } }[];
}
interface CheckDef {
  check: string;
  value?: number;
  inclusive?: boolean;
  minimum?: number;
  maximum?: number;
  format?: string;
  pattern?: RegExp;
}
interface Schema {
  def: Def;
  description?: string;
}

const asSchema = (s: z.ZodType): Schema => s as unknown as Schema;

/** What a field holds once wrappers are peeled off, with what the wrappers said. */
interface Field {
  core: Schema;
  description?: string;
  required: boolean;
  default?: unknown;
}

/** Peels optional/default/prefault/pipe/lazy wrappers, collecting description and default. */
function peel(schema: Schema): Field {
  let s = schema;
  let description = s.description;
  let required = true;
  let dflt: unknown = undefined;
  for (;;) {
    description ??= s.description;
    const d = s.def;
    if (d.type === "optional") {
      required = false;
      s = d.innerType!;
    } else if (d.type === "default" || d.type === "prefault") {
      required = false;
      dflt = d.defaultValue;
      s = d.innerType!;
    } else if (d.type === "pipe") {
      // preprocess = pipe(transform, schema); .transform() = pipe(schema, transform)
      s = d.in!.def.type === "transform" ? d.out! : d.in!;
    } else if (d.type === "lazy") {
      s = d.getter!();
    } else break;
  }
  return { core: s, description: description ?? s.description, required, default: dflt };
}

/** Is `s` the layer union (rendered once, under "Layers")? */
function isLayerUnion(s: Schema): boolean {
  return s === asSchema(LayerSchema) || peel(s).core === peel(asSchema(LayerSchema)).core;
}

/** A compact YAML-flow rendering of a default value. */
function yamlValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(yamlValue).join(", ")}]`;
  if (v && typeof v === "object") {
    return `{${Object.entries(v).map(([k, x]) => `${k}: ${yamlValue(x)}`).join(", ")}}`;
  }
  if (typeof v === "number" && v !== 0 && Math.abs(v) < 1e-3) return v.toExponential();
  return String(v);
}

/** Number bounds as `≥ 1`, `> 0`, `in [0, 1)`. */
function numberType(def: Def): string {
  const base = def.format === "safeint" ? "integer" : "number";
  let lo: CheckDef | undefined;
  let hi: CheckDef | undefined;
  for (const c of def.checks ?? []) {
    if (c._zod.def.check === "greater_than") lo = c._zod.def;
    if (c._zod.def.check === "less_than") hi = c._zod.def;
  }
  if (lo && hi) {
    const max = hi.value === 0xffffffff ? "2³²−1" : hi.value;
    return `${base} in ${lo.inclusive ? "[" : "("}${lo.value}, ${max}${hi.inclusive ? "]" : ")"}`;
  }
  if (lo) return `${base} ${lo.inclusive ? "≥" : ">"} ${lo.value}`;
  if (hi) return `${base} ${hi.inclusive ? "≤" : "<"} ${hi.value}`;
  return base;
}

/** The type column for a (peeled) schema; `path` names nested sections. */
function typeOf(s: Schema, path: string): string {
  const d = s.def;
  switch (d.type) {
    case "number":
      return numberType(d);
    case "string": {
      const re = d.checks?.find((c) => c._zod.def.format === "regex")?._zod.def.pattern;
      const max = d.checks?.find((c) => c._zod.def.check === "max_length")?._zod.def.maximum;
      const base = max === undefined ? "string" : `string of at most ${max} characters`;
      return re ? `${base} matching \`${re.source}\`` : base;
    }
    case "boolean":
      return "boolean";
    case "literal":
      return d.values!.map((v) => `\`${String(v)}\``).join(" or ");
    case "enum":
      return `one of ${Object.values(d.entries!).map((v) => `\`${v}\``).join(", ")}`;
    case "tuple":
      return `[${d.items!.map((i) => typeOf(peel(i).core, path)).join(", ")}]`;
    case "array": {
      const el = peel(d.element!).core;
      const min = d.checks?.find((c) => c._zod.def.check === "min_length")?._zod.def.minimum;
      const max = d.checks?.find((c) => c._zod.def.check === "max_length")?._zod.def.maximum;
      const size = min && max ? ` (${min} to ${max})` : min ? ` (at least ${min})` : "";
      if (isLayerUnion(el)) return `list of layers${size} (see Layers)`;
      return `list of ${typeOf(el, `${path}[]`)}${size}`;
    }
    case "union":
      if (d.discriminator) return `mapping chosen by \`${d.discriminator}\` (see \`${path}\`)`;
      return d.options!.map((o) => typeOf(peel(o).core, path)).join(" or ");
    case "object":
      return `mapping (see \`${path}\`)`;
    default:
      throw new Error(`docs: no rendering for zod type "${d.type}" at ${path}`);
  }
}

/** Escapes a table cell. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

const graphemes = new Intl.Segmenter();
/** Display width as `deno fmt` counts it (grapheme clusters: `v̂` is one). */
const width = (s: string) => [...graphemes.segment(s)].length;

/** A Markdown table with columns padded the way `deno fmt` pads them. */
function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows].map((r) => r.map(cell));
  const w = header.map((_, c) => Math.max(3, ...all.map((r) => width(r[c]))));
  const line = (r: string[]) =>
    `| ${r.map((x, c) => x + " ".repeat(w[c] - width(x))).join(" | ")} |`;
  return [
    line(all[0]),
    `| ${w.map((n) => "-".repeat(n)).join(" | ")} |`,
    ...all.slice(1).map(line),
  ];
}

/** Accumulates the document. */
class Writer {
  readonly lines: string[] = [];
  readonly done = new Set<Schema>();

  para(text: string | undefined): void {
    if (text) this.lines.push(text, "");
  }

  heading(level: number, text: string): void {
    this.lines.push(`${"#".repeat(Math.min(level, 6))} ${text}`, "");
  }

  /** A mapping: its fields as a table, then a section per nested mapping or union. */
  object(obj: Schema, path: string, level: number, skip: readonly string[] = []): void {
    const rows: string[][] = [];
    const nested: [string, Schema][] = [];
    for (const [key, fieldSchema] of Object.entries(obj.def.shape!)) {
      if (skip.includes(key)) continue;
      const f = peel(fieldSchema);
      const childPath = path ? `${path}.${key}` : key;
      const dflt = f.default !== undefined
        ? `\`${yamlValue(f.default)}\``
        : f.required
        ? "**required**"
        : "optional";
      rows.push([`\`${key}\``, typeOf(f.core, childPath), dflt, f.description ?? ""]);
      const core = f.core.def.type === "array" ? peel(f.core.def.element!).core : f.core;
      if (core.def.type === "object" || (core.def.type === "union" && core.def.discriminator)) {
        nested.push([f.core.def.type === "array" ? `${childPath}[]` : childPath, core]);
      }
    }
    if (rows.length) {
      this.lines.push(...table(["field", "type", "default", "description"], rows), "");
    } else {this.para(
        skip.includes("name") ? "No fields besides `type` and `name`." : "No other fields.",
      );}
    for (const [p, s] of nested) this.section(s, p, level + 1);
  }

  /** A nested mapping or discriminated union (each emitted once). */
  section(s: Schema, path: string, level: number): void {
    if (this.done.has(s)) return;
    this.done.add(s);
    if (s.def.type === "object") {
      this.heading(level, `\`${path}\``);
      this.para(s.description);
      this.object(s, path, level);
      return;
    }
    const layers = isLayerUnion(s);
    const key = s.def.discriminator!;
    this.heading(level, layers ? "Layers" : `\`${path}\``);
    if (layers) {
      const name = peel(peel(asSchema(LayerSchema)).core.def.options![0].def.shape!.name);
      this.para(
        "Each entry of `model.layers`, `residual.layers`, `residual.shortcut` and `sequential.layers` " +
          "is one of these, chosen by `type`. Every layer also takes an optional `name`, a " +
          `${typeOf(name.core, "name")}. ${name.description}`,
      );
    } else this.para(s.description);
    for (const opt of s.def.options!) {
      const o = peel(opt);
      const value = String(o.core.def.shape![key].def.values![0]);
      this.heading(level + 1, `${layers ? "" : `\`${path}\` `}\`${key}: ${value}\``);
      this.para(o.description);
      this.object(o.core, layers ? value : path, level + 1, layers ? [key, "name"] : [key]);
    }
  }
}

/** The dataset table (shapes, classes, normalisation defaults, where files come from). */
function datasetTable(): string[] {
  const rows = Object.entries(DATASETS).map(([name, d]) => [
    `\`${name}\``,
    d.shape ? `[${d.shape.join(", ")}]` : "`synthetic.shape`",
    d.classes ? String(d.classes) : "`synthetic.classes`",
    `[${d.mean.join(", ")}]`,
    `[${d.std.join(", ")}]`,
    d.path,
    d.source,
  ]);
  return table([
    "dataset",
    "sample shape",
    "classes",
    "default mean",
    "default std",
    "path",
    "source",
  ], rows);
}

const INTRO =
  `A run spec is a plain YAML file (no tags, no code; duplicate keys are errors) with the sections
below. Unknown keys are errors, so a typo never falls back to a default silently. Errors name the file,
line, column and path, all at once:

\`\`\`
examples/bad.yaml:14:15: model.layers[2].kernel: must be >= 1, got -3
examples/bad.yaml:15:7: model.layers[2].kernal: unknown key "kernal" (did you mean "kernel"?)
\`\`\`

The TypeScript builder (\`dsl/builder.ts\`) produces the same objects: \`conv2d(32, 3, { padding: 1 })\` is
\`{type: conv2d, out: 32, kernel: 3, padding: 1}\`.

Both front ends also check the model's shapes layer by layer, and that the last layer gives one output
per class of the data (fewer or more are refused), before any data is loaded. A report lists at most
${MAX_REPORTED_ISSUES} issues and counts the rest. A file may use at most ${MAX_ALIASES} aliases
(\`*name\`) and at most ${MAX_ENTRIES.toLocaleString("en")} entries in one mapping or list.

A minimal file:

\`\`\`yaml
model:
  input: [28, 28, 1]
  layers:
    - { type: flatten }
    - { type: linear, out: 10 }
data: { dataset: fashion-mnist }
optimizer: { name: sgdm, lr: 0.05 }
schedule: { epochs: 5 }
\`\`\``;

/** The whole reference document. */
export function generateReference(): string {
  const w = new Writer();
  // Prose is not re-wrapped by hand here; the directive keeps `deno fmt` from
  // re-wrapping it, so the file stays byte-identical to this generator's output.
  w.lines.push("<!-- deno-fmt-ignore-file -->", "");
  w.heading(1, "Run spec (YAML) reference");
  w.para(
    `<!-- Generated from dsl/schema.ts by dsl/docs.ts; do not edit. Regenerate with: ${REGENERATE_COMMAND} -->`,
  );
  w.para(INTRO);
  w.heading(2, "Top level");
  const root = peel(asSchema(RunSpecSchema)).core;
  w.para(root.description ?? asSchema(RunSpecSchema).description);
  const rows: string[][] = [];
  for (const [key, s] of Object.entries(root.def.shape!)) {
    const f = peel(s);
    rows.push([
      `\`${key}\``,
      f.required ? "**required**" : `\`${yamlValue(f.default)}\``,
      f.description ?? f.core.description ?? "",
    ]);
  }
  w.lines.push(...table(["section", "default", "description"], rows), "");
  for (const [key, s] of Object.entries(root.def.shape!)) {
    const f = peel(s);
    w.done.add(f.core);
    w.heading(2, `\`${key}\``);
    w.para(f.description);
    if (f.core.def.type === "object") {
      w.object(f.core, key, 2);
    } else {
      // A discriminated union at the top (loss, optimizer): one table per choice.
      const disc = f.core.def.discriminator!;
      for (const opt of f.core.def.options!) {
        const o = peel(opt);
        w.heading(3, `\`${key}\` \`${disc}: ${String(o.core.def.shape![disc].def.values![0])}\``);
        w.para(o.description);
        w.object(o.core, key, 3, [disc]);
      }
    }
    if (key === "data") {
      w.heading(3, "Datasets");
      w.para(
        "Pixels are scaled to [0, 1] before normalisation; `normalize` defaults to the mean and std below " +
          "(training-set statistics). A model whose `input` is `[features]` gets the samples flattened (NHWC order).",
      );
      w.lines.push(...datasetTable(), "");
    }
  }
  return w.lines.join("\n").trimEnd() + "\n";
}

if (import.meta.main) {
  await Deno.writeTextFile(REFERENCE_PATH, generateReference());
  console.log(`wrote ${REFERENCE_PATH}`);
}
