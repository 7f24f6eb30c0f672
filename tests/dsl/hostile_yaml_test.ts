/**
 * Hostile model files are refused fast with a short report: 1 MB of binary
 * junk lists its first 20 issues and counts the rest, 10,000 aliases (or
 * 10,000 keys) are refused before the document is built. Time bounds are
 * loose (the machine is shared); the size of the report is exact.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { MAX_REPORTED_ISSUES, parseRunSpecYaml, SpecError } from "../../dsl/mod.ts";
import { Rng } from "../../lib/util/rng.ts";

/** Parses `text`, expecting a SpecError; returns it with the seconds it took. */
function refuse(text: string): { e: SpecError; seconds: number } {
  const t0 = performance.now();
  const e = assertThrows(() => parseRunSpecYaml(text, "hostile.yaml"), SpecError);
  return { e, seconds: (performance.now() - t0) / 1000 };
}

Deno.test("1 MB of binary junk: the first 20 issues, then how many more", () => {
  const rng = new Rng(1, 1); // (some seeds put a tab in an indentation: then only tabs are reported)
  const bytes = Uint8Array.from({ length: 1 << 20 }, () => Math.floor(rng.next() * 256));
  const { e, seconds } = refuse(new TextDecoder().decode(bytes)); // as Deno.readTextFile reads it
  assert(seconds < 2, `took ${seconds.toFixed(2)} s`);
  assert(e.issues.length > MAX_REPORTED_ISSUES, `${e.issues.length} issues`);
  const lines = e.message.split("\n");
  assertEquals(lines.length, MAX_REPORTED_ISSUES + 1);
  assertEquals(lines.at(-1), `… and ${e.issues.length - MAX_REPORTED_ISSUES} more issues`);
  for (const line of lines.slice(0, -1)) {
    assert(/^hostile\.yaml:\d+:\d+: /.test(line), line);
    assert(line.length <= 200, `${line.length} characters: ${line.slice(0, 80)}…`);
  }
});

Deno.test("10,000 aliases are refused before the document is built, at the 101st", () => {
  // 100 small mappings of 100 aliases each: no collection is large, only the alias count.
  const rows = Array.from(
    { length: 100 },
    (_, m) => `m${m}: {${Array.from({ length: 100 }, (_, k) => `k${k}: *a`).join(", ")}}`,
  );
  const { e, seconds } = refuse(`a: &a 1\n${rows.join("\n")}\n`);
  assert(seconds < 2, `took ${seconds.toFixed(2)} s`);
  assertEquals(e.issues.length, 1, e.message);
  assertEquals(
    e.message,
    "hostile.yaml:3:10: more than 100 aliases (*a is one too many); a run spec needs only a few",
  );
  // A `*` that starts a line of a block scalar is text, not an alias.
  const text = `model: { input: [784], layers: [{ type: linear, out: 10 }] }
data:
  dataset: mnist
  path: |
${"    *a\n".repeat(150)}optimizer: { name: sgd, lr: 0.1 }
schedule: { epochs: 1 }
`;
  assertEquals(refuse(text).e.issues.map((i) => i.message), [
    "a path may not hold control characters (newlines, tabs, NUL)",
  ]);
});

Deno.test("a mapping of 10,000 keys is refused before the document is built", () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `k${i}: ${i}`).join("\n");
  const { e, seconds } = refuse(`${keys}\n`);
  assert(seconds < 2, `took ${seconds.toFixed(2)} s`);
  assertEquals(
    e.message,
    "hostile.yaml:1:1: a mapping with 10,000 entries (at most 1,000); no run spec is this large",
  );
});

Deno.test("a few aliases that expand to a huge document are refused too", () => {
  const levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"];
  for (let k = 1; k < 9; k++) {
    levels.push(
      `${"abcdefghi"[k]}: &${"abcdefghi"[k]} [${
        Array(10).fill(`*${"abcdefghi"[k - 1]}`).join(", ")
      }]`,
    );
  }
  const { e, seconds } = refuse(`${levels.join("\n")}\n`);
  assert(seconds < 2, `took ${seconds.toFixed(2)} s`);
  assert(e.message.includes("aliases expand to too large a document"), e.message);
});
