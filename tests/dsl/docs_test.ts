/**
 * docs/yaml-reference.md is generated from the schemas: it must be up to date
 * and document every field of every section, layer, optimizer and lr curve.
 */
import { assert, assertEquals } from "../assert.ts";
import { generateReference, REFERENCE_PATH, REGENERATE_COMMAND } from "../../dsl/docs.ts";
import {
  DATASET_NAMES,
  LAYER_SCHEMAS,
  LR_SCHEDULE_SCHEMAS,
  OPTIMIZER_SCHEMAS,
} from "../../dsl/schema.ts";

Deno.test("docs/yaml-reference.md is up to date", () => {
  const committed = Deno.readTextFileSync(REFERENCE_PATH);
  assert(
    committed === generateReference(),
    `${REFERENCE_PATH} is stale: regenerate it with \`${REGENERATE_COMMAND}\``,
  );
  assert(committed.includes(REGENERATE_COMMAND), "the file names its regeneration command");
});

/** The zod v4 definition fields read here. */
interface Def {
  type: string;
  in?: { def: Def };
  shape?: Record<string, { def: { values?: unknown[] } }>;
}

/** The field schemas of a (possibly transformed) strict-object schema. */
function shapeOf(s: unknown): NonNullable<Def["shape"]> {
  let def = (s as { def: Def }).def;
  while (def.type === "pipe") def = def.in!.def;
  return def.shape!;
}

Deno.test("every layer, optimizer and lr curve has a section listing all its fields", () => {
  const doc = generateReference();
  const groups: [string, readonly unknown[], string][] = [
    ["type", LAYER_SCHEMAS, "#### "],
    ["name", OPTIMIZER_SCHEMAS, "### `optimizer` "],
    ["type", LR_SCHEDULE_SCHEMAS, "#### `schedule.lr` "],
  ];
  for (const [disc, schemas, prefix] of groups) {
    for (const s of schemas) {
      const value = String(shapeOf(s)[disc].def.values![0]);
      const heading = `${prefix}\`${disc}: ${value}\``;
      const start = doc.indexOf(`${heading}\n`);
      assert(start >= 0, `no section "${heading}"`);
      const end = doc.indexOf("\n#", start + heading.length);
      const section = doc.slice(start, end < 0 ? undefined : end);
      for (const key of Object.keys(shapeOf(s))) {
        if (key === disc || (disc === "type" && key === "name")) continue;
        assert(section.includes(`| \`${key}\``), `${heading} lacks field ${key}`);
      }
    }
  }
  for (const d of DATASET_NAMES) assert(doc.includes(`| \`${d}\``), `dataset ${d} missing`);
});

Deno.test("every table row has a type, a default column and a description", () => {
  const rows = generateReference().split("\n").filter((l) => l.startsWith("| `"));
  assert(rows.length > 60, `only ${rows.length} rows`);
  for (const row of rows) {
    const cells = row.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    assert(cells.every((c) => c.length > 0), `empty cell in: ${row}`);
  }
  // Spot-check that defaults render as written in the schema.
  const doc = generateReference();
  for (
    const row of [
      "| `batch_size`       | integer ≥ 1",
      "| `eps`      | number > 0       | `1e-5`",
      "| `weight_decay`   | number ≥ 0                           | `0.01`",
      "| `betas`          | [number in [0, 1), number in [0, 1)] | `[0.9, 0.999]`",
    ]
  ) assert(doc.includes(row), `missing: ${row}`);
  assertEquals(doc.endsWith("\n") && !doc.endsWith("\n\n"), true);
});
