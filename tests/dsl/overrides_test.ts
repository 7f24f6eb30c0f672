/**
 * `--set`: `key=null` unsets a key so the schema's default applies, and an
 * issue about a value that came from `--set` names the override instead of a
 * line of the file (which never held that value).
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { parseOverride, parseRunSpecYaml, SpecError } from "../../dsl/mod.ts";
import { main } from "../../cli/main.ts";

const FILE = "tests/fixtures/cli/tiny.yaml";
const TEXT = Deno.readTextFileSync(FILE);
const load = (...sets: string[]) => parseRunSpecYaml(TEXT, FILE, sets.map(parseOverride));

Deno.test("--set key=null (or ~) unsets the key: the default applies", () => {
  assertEquals(load().optimizer.lr, 0.01); // as the file says
  assertEquals(load("optimizer.lr=null").optimizer.lr, 1e-3); // adamw_bk's default
  const opt = load("optimizer.stat_every=~").optimizer;
  assertEquals(opt.name === "adamw_bk" && [opt.stat_every, opt.root_every], [200, 4]);
  assertEquals(load("run.log_every=null").run.log_every, 50);
  // Unsetting a key the file does not have changes nothing.
  assertEquals(load("data.augment.random_crop=null"), load());
  // An empty value is the empty string, not an unset.
  assertEquals(parseOverride("run.name=").value, "");
  assertEquals(parseOverride("run.name=null").value, null);
});

Deno.test("an invalid --set value is reported as coming from --set", () => {
  const e = assertThrows(() => load("optimizer.lr=abc"), SpecError);
  assertEquals(e.message, '--set optimizer.lr=abc: optimizer.lr: expected a number, got "abc"');
  assertEquals(e.issues[0].line, undefined);
  assertEquals(e.issues[0].source, "--set optimizer.lr=abc");
  // Unsetting a required key, a key under a mapping that --set created, a path through a scalar.
  assertEquals(
    assertThrows(() => load("model.input=null"), SpecError).message,
    "--set model.input=null: model.input: missing required field (expected a list)",
  );
  assert(
    assertThrows(() => load("data.extra.x=1"), SpecError).message.startsWith(
      '--set data.extra.x=1: data.extra: unknown key "extra"',
    ),
  );
  assertEquals(
    assertThrows(() => load("optimizer.lr.x=1"), SpecError).message,
    '--set optimizer.lr.x=1: optimizer.lr is not a mapping or a list, so it has no "x"',
  );
  assertEquals(
    assertThrows(() => load("model.layers.9.out=3"), SpecError).message,
    "--set model.layers.9.out=3: model.layers has 4 items: an index may be at most 4 (to append)",
  );
});

Deno.test("an issue in the file that a --set provoked keeps its line and names the --set", () => {
  const e = assertThrows(() => load("schedule.epochs=null"), SpecError);
  assertEquals(
    e.message,
    `${FILE}:14:11: schedule: give the run length: epochs or steps (with --set schedule.epochs=null)`,
  );
});

Deno.test("the CLI prints the --set origin", async () => {
  let err = "";
  const code = await main(["inspect", FILE, "--set", "optimizer.lr=abc"], {
    out: () => {},
    err: (s) => (err += s),
    acquire: { simulateUnavailable: true },
  });
  assertEquals(code, 1);
  assertEquals(err, 'error: --set optimizer.lr=abc: optimizer.lr: expected a number, got "abc"\n');
});
