/**
 * The generic tuner on the real GPU with the matmul family: real timing
 * (timestamp queries, and wall time of batched submits), the choice used by
 * `matmul`, persistence, the hash check against the real generators, and
 * dispatches tagged with their family and variant.
 */
import { assert, assertEquals } from "../../assert.ts";
import { gpuTest, testGpu, withArena } from "../../util.ts";
import { lookupEntry, TuneCache, tuneCache } from "../../../lib/kernels/tune/cache.ts";
import { gpuRoundTimer, scratchTensor } from "../../../lib/kernels/tune/measure.ts";
import type { KernelFamily } from "../../../lib/kernels/tune/family.ts";
import { dispatch } from "../../../lib/gpu/commands.ts";
import { tune } from "../../../lib/kernels/tune/tuner.ts";
import {
  matmul,
  matmulChoice,
  matmulFamily,
  type MatmulProblem,
  problemKey,
} from "../../../lib/kernels/matmul/matmul.ts";
import { removeQuietly, tempTunePath, withTuneEnv } from "./fakes.ts";

// Cheap-to-compile candidates keep the test quick; timing runs for real.
const CANDIDATES = ["tex_8x8", "tex_16x16", "splitk16_8x8"];

// Odd shapes nobody else tunes, so the shared default cache cannot interfere.
const P1: MatmulProblem = { m: 23, n: 19, k: 37, transB: true };
const P2: MatmulProblem = { m: 6, n: 10, k: 300 };

function checkTimings(timings: Record<string, number>, variant: string) {
  assertEquals(Object.keys(timings).sort(), [...CANDIDATES].sort());
  const best = Math.min(...Object.values(timings));
  assertEquals(timings[variant], best, "the fastest candidate wins");
  assert(best > 0 && Number.isFinite(best), `timing ${best}`);
}

Deno.test(
  "tune(matmul): timestamp timing picks the fastest, matmul uses it, the file keeps it",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const gpu = await testGpu();
      assert(gpu.hasTimestamps, "llvmpipe offers timestamp queries");
      const path = tempTunePath("matmul");
      try {
        const results = await tune(gpu, matmulFamily, [P1, P1, P2], {
          path,
          candidates: CANDIDATES,
          samples: 2,
        });
        assertEquals(results.map((r) => r.key).sort(), [problemKey(P1), problemKey(P2)].sort());
        for (const r of results) {
          assertEquals(r.source, "timed");
          checkTimings(r.timings, r.variant);
        }
        const r1 = results.find((r) => r.key === problemKey(P1))!;
        assertEquals(matmulChoice(gpu, P1), { variant: r1.variant, source: "tuned" });

        const file = JSON.parse(Deno.readTextFileSync(path));
        assertEquals(file.version, 2);
        assertEquals(file.adapters[gpu.adapter.key].matmul[problemKey(P1)].variant, r1.variant);
        const fresh = new TuneCache();
        assert(fresh.load(path));
        assertEquals(fresh.get(gpu.adapter.key, "matmul", problemKey(P1))?.variant, r1.variant);

        // The stored hash matches the real generators; a different one is stale.
        assertEquals(lookupEntry(gpu, matmulFamily, P1).status, "valid");
        const entry = tuneCache.get(gpu.adapter.key, "matmul", problemKey(P1))!;
        tuneCache.set(gpu.adapter.key, "matmul", problemKey(P1), { ...entry, hash: "0" });
        assertEquals(lookupEntry(gpu, matmulFamily, P1).status, "stale");
        assertEquals(matmulChoice(gpu, P1).source, "heuristic");
      } finally {
        removeQuietly(path);
        tuneCache.clear();
      }
    }),
);

Deno.test(
  "tune(matmul): wall-time timing of batched submits when timestamps are not used",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const gpu = await testGpu();
      try {
        const [r] = await tune(gpu, matmulFamily, [P2], {
          path: null,
          candidates: CANDIDATES,
          samples: 2,
          timer: (g, f, p, names) => gpuRoundTimer(g, f, p, names, { timestamps: false }),
        });
        assertEquals(r.source, "timed");
        checkTimings(r.timings, r.variant);
      } finally {
        tuneCache.clear();
      }
    }),
);

Deno.test(
  "matmul dispatches carry their family, variant and problem",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const a = arena.tensor("a", [6, 300]);
      const b = arena.tensor("b", [300, 10]);
      const out = arena.tensor("out", [6, 10]);
      const forced = matmul(gpu, { a, b, out, ...P2, variant: "splitk16_8x8" });
      const ds = forced.filter((c) => c.kind === "dispatch");
      assertEquals(ds.length, 2, "split-K: product and reduction");
      for (const d of ds) {
        assertEquals(d.kernel, {
          family: "matmul",
          variant: "splitk16_8x8",
          problem: problemKey(P2),
          tuned: false,
        });
      }
      const chosen = matmul(gpu, { a, b, out, ...P2 });
      const tag = chosen.find((c) => c.kind === "dispatch")!.kernel!;
      assertEquals(tag.variant, matmulChoice(gpu, P2).variant);
      await Promise.resolve();
    }),
);

Deno.test(
  "gpuRoundTimer: a candidate whose WGSL does not compile is left out; the device stays usable",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const gpu = await testGpu();
      const good = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { x[g.x] += 1.0; }`;
      const family: KernelFamily<{ n: number }> = {
        id: `test.broken.${Math.random()}`,
        key: (p) => `n${p.n}`,
        variants: () => ["good", "bad"],
        heuristic: () => "good",
        wgsl: (_g, _p, v) => [v === "good" ? good : "this is not WGSL"],
        benchCommands: (g, p, v, arena) => [
          dispatch(g, `t_${v}`, good, [scratchTensor(g, arena, "x", [64 * p.n])], [p.n]),
        ],
      };
      try {
        const [r] = await tune(gpu, family, [{ n: 2 }], { path: null, samples: 2 });
        assertEquals(r.source, "timed");
        assertEquals(Object.keys(r.timings), ["good"]);
        assertEquals(r.variant, "good");
        gpu.checkAlive();
      } finally {
        tuneCache.clear();
      }
    }),
);
