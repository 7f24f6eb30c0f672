/**
 * Run by tuner_test.ts with ADABK_TUNE=0 in a child process: tuning does
 * nothing and writes nothing, cached choices are ignored, and plan-time
 * tuning times nothing even when exhaustive.
 */
import { assert, assertEquals } from "../../assert.ts";
import { tuneCache, tuningEnabled } from "../../../lib/kernels/tune/cache.ts";
import { explainChoice } from "../../../lib/kernels/tune/choose.ts";
import { tune } from "../../../lib/kernels/tune/tuner.ts";
import { tunesOn } from "../../../lib/plan/tune.ts";
import { fakeFamily, fakeGpu, fakeTimers, removeQuietly, tempTunePath } from "./fakes.ts";

assertEquals(Deno.env.get("ADABK_TUNE"), "0");
assert(!tuningEnabled());
const gpu = fakeGpu();
const family = fakeFamily("test.off", { variants: ["a", "b"], heuristic: "a", version: 1 });
const path = tempTunePath("off");
try {
  const fake = fakeTimers((n) => (n === "b" ? 1 : 2));
  assertEquals(await tune(gpu, family, [{ n: 1 }], { path, timer: fake.factory }), []);
  assertEquals(fake.log.problems, [], "nothing timed");
  assert(!(await Deno.stat(path).then(() => true, () => false)), "nothing written");
  tuneCache.set(gpu.adapter.key, family.id, "n1", {
    variant: "b",
    ms: 1,
    timings: { a: 2, b: 1 },
    hash: "irrelevant",
    date: "",
  });
  assertEquals(explainChoice(gpu, family, { n: 1 }).tuned, false, "cache ignored");
  assert(!tunesOn(gpu, "exhaustive") && !tunesOn(gpu, "auto"), "plans time nothing");
  console.log("ADABK_TUNE=0 checks passed");
} finally {
  removeQuietly(path);
}
