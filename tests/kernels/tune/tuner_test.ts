/**
 * The tuner and its cache with injected timings (no GPU): selection,
 * persistence in the version-2 file, invalidation when a generator or the
 * candidate list changes, exhaustive coverage, the time budget, and
 * graceful handling of bad files and ADABK_TUNE=0.
 */
import { assert, assertEquals } from "../../assert.ts";
import {
  lookupEntry,
  TUNE_FILE_VERSION,
  TuneCache,
  tuneCache,
} from "../../../lib/kernels/tune/cache.ts";
import {
  buildChosen,
  chooseVariant,
  explainChoice,
  recordChoices,
} from "../../../lib/kernels/tune/choose.ts";
import type { Command, DispatchCommand } from "../../../lib/gpu/commands.ts";
import { tune, type TuneResult, tuneSummary } from "../../../lib/kernels/tune/tuner.ts";
import {
  fakeFamily,
  type FakeFamilyState,
  fakeGpu,
  fakeTimers,
  removeQuietly,
  tempTunePath,
  withTuneEnv,
} from "./fakes.ts";
import { childEnv } from "../../../lib/util/subprocess.ts";

const gpu = fakeGpu();
const MS: Record<string, number> = { a: 3, b: 1, c: 2, d: 1.5 };

function setup(tag: string, state: Partial<FakeFamilyState> = {}) {
  const s: FakeFamilyState = { variants: ["a", "b", "c"], heuristic: "a", version: 1, ...state };
  const family = fakeFamily(`test.${tag}.${Math.random()}`, s);
  return { state: s, family, path: tempTunePath(tag) };
}

/** Runs `fn` with tuning enabled, then forgets every entry and removes `path`. */
function scoped(path: string, fn: () => Promise<void>): Promise<void> {
  return withTuneEnv(undefined, async () => {
    try {
      await fn();
    } finally {
      tuneCache.clear();
      removeQuietly(path);
    }
  });
}

Deno.test("tuner: picks the fastest, once per distinct problem, costliest first; persists version 2", () => {
  const { family, path } = setup("pick");
  return scoped(path, async () => {
    const fake = fakeTimers((n) => MS[n]);
    const results = await tune(gpu, family, [{ n: 2 }, { n: 7 }, { n: 2 }], {
      path,
      timer: fake.factory,
    });
    assertEquals(fake.log.problems, ["n7", "n2"], "duplicates timed once, more work first");
    assertEquals(results.map((r) => [r.key, r.variant, r.source]), [
      ["n7", "b", "timed"],
      ["n2", "b", "timed"],
    ]);
    assertEquals(results[0].timings, { a: 3, b: 1, c: 2 });
    // chooseVariant now returns the tuned choice instead of the heuristic "a".
    assertEquals(explainChoice(gpu, family, { n: 7 }).variant, "b");
    assert(explainChoice(gpu, family, { n: 7 }).tuned);
    assertEquals(chooseVariant(gpu, family, { n: 3 }), "a", "untuned problem: heuristic");

    const file = JSON.parse(Deno.readTextFileSync(path));
    assertEquals(file.version, TUNE_FILE_VERSION);
    const entry = file.adapters[gpu.adapter.key][family.id].n7;
    assertEquals(entry.variant, "b");
    assertEquals(entry.ms, 1);
    assert(/^[0-9a-f]{16}$/.test(entry.hash), entry.hash);

    // A second pass comes from the cache (memory, then a fresh process's file load).
    const again = await tune(gpu, family, [{ n: 7 }], { path, timer: fake.factory });
    assertEquals(again[0].source, "cached");
    tuneCache.clear();
    const reloaded = await tune(gpu, family, [{ n: 7 }], { path, timer: fake.factory });
    assertEquals(reloaded[0].source, "cached");
    assertEquals(reloaded[0].variant, "b");
    assertEquals(fake.log.problems.length, 2, "no timing for cached problems");
    // retune times again.
    const re = await tune(gpu, family, [{ n: 7 }], { path, timer: fake.factory, retune: true });
    assertEquals(re[0].source, "timed");
  });
});

Deno.test("tuner: a changed generator makes the entry stale: ignored, then re-timed", () => {
  const { family, state, path } = setup("stale-gen");
  return scoped(path, async () => {
    const fake = fakeTimers((n) => MS[n]);
    await tune(gpu, family, [{ n: 4 }], { path, timer: fake.factory });
    assertEquals(chooseVariant(gpu, family, { n: 4 }), "b");
    // The generator changes in the next version of the code: a new process
    // loads the file and finds the hash no longer matches.
    state.version = 2;
    tuneCache.clear();
    tuneCache.load(path);
    assertEquals(lookupEntry(gpu, family, { n: 4 }).status, "stale");
    assertEquals(explainChoice(gpu, family, { n: 4 }), {
      family,
      problem: { n: 4 },
      key: "n4",
      variant: "a",
      tuned: false,
    });
    const r = await tune(gpu, family, [{ n: 4 }], { path, timer: fake.factory });
    assertEquals(r[0].source, "timed", "a stale entry is re-timed");
    assertEquals(fake.log.problems, ["n4", "n4"]);
    assertEquals(lookupEntry(gpu, family, { n: 4 }).status, "valid");
  });
});

Deno.test("tuner: a new or removed variant makes the entry stale; a vanished winner too", () => {
  const { family, state, path } = setup("stale-list");
  return scoped(path, async () => {
    const fake = fakeTimers((n) => MS[n]);
    await tune(gpu, family, [{ n: 5 }], { path, timer: fake.factory });
    state.variants = ["a", "b", "c", "d"]; // a new variant worth trying
    tuneCache.clear();
    tuneCache.load(path);
    assertEquals(lookupEntry(gpu, family, { n: 5 }).status, "stale");
    const r = await tune(gpu, family, [{ n: 5 }], { path, timer: fake.factory });
    assertEquals(r[0].timings, { a: 3, b: 1, c: 2, d: 1.5 });
    // The winner is no longer valid (e.g. a device limit): stale, heuristic.
    state.variants = ["a", "c", "d"];
    tuneCache.clear();
    tuneCache.load(path);
    assertEquals(lookupEntry(gpu, family, { n: 5 }).status, "stale");
    assertEquals(chooseVariant(gpu, family, { n: 5 }), "a");
  });
});

Deno.test("tuner: candidates restrict default timing; exhaustive times every valid variant", () => {
  const { family, path } = setup("exhaustive", {
    variants: ["a", "b", "c", "d"],
    candidates: ["a", "c"],
  });
  return scoped(path, async () => {
    const fake = fakeTimers((n) => MS[n]);
    const r = await tune(gpu, family, [{ n: 1 }], { path, timer: fake.factory });
    assertEquals(r[0].timings, { a: 3, c: 2 });
    assertEquals(r[0].variant, "c");
    assertEquals(lookupEntry(gpu, family, { n: 1 }).status, "valid");
    // That entry did not compare b and d: exhaustive mode re-times it.
    assertEquals(lookupEntry(gpu, family, { n: 1 }, { exhaustive: true }).status, "partial");
    const x = await tune(gpu, family, [{ n: 1 }], { path, timer: fake.factory, exhaustive: true });
    assertEquals(x[0].source, "timed");
    assertEquals(x[0].variant, "b");
    assertEquals(Object.keys(x[0].timings).sort(), ["a", "b", "c", "d"]);
    const y = await tune(gpu, family, [{ n: 1 }], { path, timer: fake.factory, exhaustive: true });
    assertEquals(y[0].source, "cached");
    assertEquals(chooseVariant(gpu, family, { n: 1 }), "b", "an exhaustive entry serves auto too");
  });
});

Deno.test("tuner: past the budget, problems keep the heuristic and are not cached", () => {
  const { family, path } = setup("budget");
  return scoped(path, async () => {
    const fake = fakeTimers((n) => MS[n]);
    const results: TuneResult[] = [];
    // Each problem costs 6 fake rounds (~75 ms of fake time with the waits).
    await tune(gpu, family, [{ n: 3 }, { n: 2 }, { n: 1 }], {
      path,
      timer: fake.factory,
      budgetMs: 100,
      now: fake.clock.now,
      onResult: (r) => results.push(r),
    });
    assertEquals(results.map((r) => r.source), ["timed", "timed", "skipped"]);
    assertEquals(results[2].variant, "a", "the heuristic");
    assertEquals(lookupEntry(gpu, family, { n: 1 }).status, "missing");
    assertEquals(
      tuneSummary(results, 2100),
      "tuned 3 problems in 2.1 s (0 cached, 1 left to the heuristic)",
    );
  });
});

Deno.test("tuner: a single candidate is not timed; nothing measurable keeps the heuristic", () => {
  const { family, path } = setup("single", { variants: ["b"], heuristic: "b" });
  return scoped(path, async () => {
    const fake = fakeTimers(() => NaN);
    const r = await tune(gpu, family, [{ n: 1 }], { path, timer: fake.factory });
    assertEquals([r[0].source, r[0].variant], ["only", "b"]);
    const two = setup("nan");
    const r2 = await tune(gpu, two.family, [{ n: 1 }], { path, timer: fake.factory });
    assertEquals([r2[0].source, r2[0].variant], ["skipped", "a"]);
    assertEquals(fake.log.problems, ["n1"]);
  });
});

Deno.test("cache: version-1, corrupt, absent and unwritable files are ignored", () => {
  const { family, path } = setup("files");
  return scoped(path, async () => {
    // A version-1 file (the matmul-only format) is ignored, then replaced.
    Deno.writeTextFileSync(
      path,
      JSON.stringify({
        version: 1,
        adapters: { [gpu.adapter.key]: { "matmul|8x8x8|b1|NN": { variant: "x", ms: 1 } } },
      }),
    );
    const c = new TuneCache();
    assertEquals(c.load(path), false);
    const fake = fakeTimers((n) => MS[n]);
    await tune(gpu, family, [{ n: 1 }], { path, timer: fake.factory });
    const file = JSON.parse(Deno.readTextFileSync(path));
    assertEquals(file.version, 2);
    assertEquals(file.adapters[gpu.adapter.key]["matmul|8x8x8|b1|NN"], undefined);

    Deno.writeTextFileSync(path, "{ not json");
    assertEquals(new TuneCache().load(path), false);
    assertEquals(new TuneCache().load(".cache/does-not-exist/tune.json"), false);
    // Entries missing fields are skipped, valid ones kept.
    Deno.writeTextFileSync(
      path,
      JSON.stringify({
        version: 2,
        adapters: {
          k: {
            f: {
              good: { variant: "a", ms: 1, timings: { a: 1 }, hash: "h", date: "" },
              bad: { variant: 3 },
            },
          },
        },
      }),
    );
    const d = new TuneCache();
    assert(d.load(path));
    assertEquals(d.get("k", "f", "good")?.variant, "a");
    assertEquals(d.get("k", "f", "bad"), undefined);
    // Not writable (outside --allow-write, and /proc refuses even root).
    assertEquals(d.save("/proc/adabk-tune-test/tune.json"), false);
    const r = await tune(gpu, family, [{ n: 9 }], {
      path: "/proc/adabk-tune-test/tune.json",
      timer: fake.factory,
    });
    assertEquals(r[0].variant, "b", "tuning succeeds without a writable file");
  });
});

Deno.test("ADABK_TUNE=0 disables tuning and cached choices (in a child process)", async () => {
  // The environment is shared by test modules running in parallel: set it in
  // a child only.
  const child = await new Deno.Command("deno", {
    args: [
      "run",
      "--no-prompt",
      "--allow-read=.",
      "--allow-write=.cache",
      "--allow-env=ADABK_TUNE",
      "tests/kernels/tune/tune_off_child.ts",
    ],
    env: childEnv({ ADABK_TUNE: "0" }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(child.stderr);
  assertEquals(child.code, 0, err);
  assertEquals(new TextDecoder().decode(child.stdout).trim(), "ADABK_TUNE=0 checks passed");
});

Deno.test("chooseVariant: records every choice in open scopes, under the innermost policy; buildChosen tags dispatches", () => {
  const { family, path } = setup("record");
  return scoped(path, async () => {
    const fake = fakeTimers((n) => MS[n]);
    await tune(gpu, family, [{ n: 2 }], { path, timer: fake.factory });
    const outer = recordChoices({ useCache: true }, () => {
      chooseVariant(gpu, family, { n: 2 });
      const inner = recordChoices({ useCache: false }, () => chooseVariant(gpu, family, { n: 2 }));
      assertEquals(inner.result, "a", "the inner scope ignores the cache");
      assertEquals(inner.choices.map((c) => [c.key, c.variant, c.tuned]), [["n2", "a", false]]);
      return buildChosen(gpu, family, { n: 3 }, (v) => [
        { kind: "dispatch", label: `k_${v}` } as DispatchCommand,
        { kind: "clear", label: "z" } as Command,
      ]);
    });
    assertEquals(outer.choices.map((c) => [c.key, c.variant, c.tuned]), [
      ["n2", "b", true],
      ["n2", "a", false],
      ["n3", "a", false],
    ]);
    const [d, clear] = outer.result;
    assertEquals((d as DispatchCommand).kernel, {
      family: family.id,
      variant: "a",
      problem: "n3",
      tuned: false,
    });
    assertEquals(clear, { kind: "clear", label: "z" } as Command);
    assertEquals(recordChoices({ useCache: true }, () => 1).choices, [], "scopes closed");
  });
});
