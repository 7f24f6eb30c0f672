import { assert, assertEquals } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";
import {
  autotuneMatmul,
  type AutotuneResult,
  TuneCache,
  tuneCache,
  tunedMatmulVariant,
  tuningEnabled,
} from "../../lib/kernels/tune/autotune.ts";
import { matmulChoice, type MatmulProblem, problemKey } from "../../lib/kernels/matmul/matmul.ts";

// Cheap-to-compile candidates keep the test quick; timing still runs for real.
const CANDIDATES = ["tex_8x8", "tex_16x16", "splitk16_8x8"];

function tempPath(tag: string): string {
  return `.cache/test-tune-${tag}-${Deno.pid}-${Math.floor(Math.random() * 1e9)}.json`;
}

function removeQuietly(path: string) {
  try {
    Deno.removeSync(path);
  } catch { /* already gone */ }
}

/** Runs `fn` with ADABK_TUNE set to `value` (undefined: unset), restoring it. */
async function withTuneEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const prev = Deno.env.get("ADABK_TUNE");
  if (value === undefined) Deno.env.delete("ADABK_TUNE");
  else Deno.env.set("ADABK_TUNE", value);
  try {
    return await fn();
  } finally {
    if (prev === undefined) Deno.env.delete("ADABK_TUNE");
    else Deno.env.set("ADABK_TUNE", prev);
  }
}

// Odd shapes nobody else tunes, so the shared default cache cannot interfere.
const P1: MatmulProblem = { m: 23, n: 19, k: 37, transB: true };
const P2: MatmulProblem = { m: 6, n: 10, k: 300 };

Deno.test(
  "autotune: times candidates, picks the fastest, persists, then hits the cache",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const gpu = await testGpu();
      const path = tempPath("roundtrip");
      try {
        const results: AutotuneResult[] = [];
        await autotuneMatmul(gpu, [P1, P1, P2], {
          path,
          candidates: CANDIDATES,
          onResult: (r) => results.push(r),
        });
        // Duplicates are tuned once.
        assertEquals(results.map((r) => r.key), [problemKey(P1), problemKey(P2)]);
        for (const r of results) {
          assert(!r.cached, "first tuning must time");
          assertEquals(Object.keys(r.timings).sort(), [...CANDIDATES].sort());
          const best = Math.min(...Object.values(r.timings));
          assertEquals(r.timings[r.variant], best, "the fastest candidate wins");
          assert(best > 0 && Number.isFinite(best));
        }
        // matmul now uses the tuned choice.
        assertEquals(matmulChoice(gpu, P1), { variant: results[0].variant, source: "tuned" });

        // Cache hit: no timing, same answer.
        const again: AutotuneResult[] = [];
        await autotuneMatmul(gpu, [P1], {
          path,
          candidates: CANDIDATES,
          onResult: (r) => again.push(r),
        });
        assertEquals(again.length, 1);
        assert(again[0].cached, "second call must come from the cache");
        assertEquals(again[0].variant, results[0].variant);

        // Persistence: the file holds both entries under this adapter, and a
        // fresh cache loads them back.
        const file = JSON.parse(Deno.readTextFileSync(path));
        assertEquals(file.version, 1);
        assertEquals(file.adapters[gpu.adapter.key][problemKey(P2)].variant, results[1].variant);
        const fresh = new TuneCache();
        assert(fresh.load(path));
        assertEquals(fresh.get(gpu.adapter.key, problemKey(P1))?.variant, results[0].variant);
        assertEquals(fresh.get(gpu.adapter.key, problemKey(P2))?.timings, results[1].timings);

        // The process-wide memory, cleared, is refilled from the file.
        tuneCache.clear();
        assertEquals(tuneCache.get(gpu.adapter.key, problemKey(P1)), undefined);
        assert(tuneCache.load(path));
        assertEquals(tunedMatmulVariant(gpu, P1), results[0].variant);

        // retune times again.
        const re: AutotuneResult[] = [];
        await autotuneMatmul(gpu, [P2], {
          path,
          candidates: CANDIDATES,
          retune: true,
          onResult: (r) => re.push(r),
        });
        assert(!re[0].cached);
      } finally {
        removeQuietly(path);
        tuneCache.clear();
      }
    }),
);

Deno.test(
  "autotune: ADABK_TUNE=0 disables tuning and cached choices",
  gpuTest,
  () =>
    withTuneEnv("0", async () => {
      const gpu = await testGpu();
      assert(!tuningEnabled());
      const path = tempPath("off");
      try {
        const results: AutotuneResult[] = [];
        await autotuneMatmul(gpu, [P2], {
          path,
          candidates: CANDIDATES,
          onResult: (r) => results.push(r),
        });
        assertEquals(results.length, 0);
        assertEquals(tuneCache.get(gpu.adapter.key, problemKey(P2)), undefined);
        assert(!(await Deno.stat(path).then(() => true, () => false)), "nothing may be written");
        // Even a cached entry is ignored: the heuristic decides.
        tuneCache.set(gpu.adapter.key, problemKey(P2), {
          variant: "tex_16x16",
          ms: 1,
          timings: {},
          date: "",
        });
        assertEquals(tunedMatmulVariant(gpu, P2), undefined);
        assertEquals(matmulChoice(gpu, P2).source, "heuristic");
      } finally {
        removeQuietly(path);
        tuneCache.clear();
      }
    }),
);

Deno.test(
  "autotune: unreadable, corrupt or unwritable cache files never fail",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const gpu = await testGpu();
      const corrupt = tempPath("corrupt");
      try {
        Deno.writeTextFileSync(corrupt, "{ not json");
        const c = new TuneCache();
        assertEquals(c.load(corrupt), false);
        assertEquals(new TuneCache().load(".cache/does-not-exist/tune.json"), false);
        // Not writable (outside --allow-write, and /proc refuses even root): save
        // reports failure and tuning still succeeds.
        assertEquals(c.save("/proc/adabk-tune-test/tune.json"), false);
        const results: AutotuneResult[] = [];
        await autotuneMatmul(gpu, [P2], {
          path: "/proc/adabk-tune-test/tune.json",
          candidates: ["tex_8x8"],
          onResult: (r) => results.push(r),
        });
        assertEquals(results[0].variant, "tex_8x8");
        // A stale entry naming an unknown variant is ignored, not trusted.
        tuneCache.set(gpu.adapter.key, problemKey(P1), {
          variant: "tex_99x99",
          ms: 1,
          timings: {},
          date: "",
        });
        assertEquals(tunedMatmulVariant(gpu, P1), undefined);
        assertEquals(matmulChoice(gpu, P1).source, "heuristic");
      } finally {
        removeQuietly(corrupt);
        tuneCache.clear();
      }
    }),
);
