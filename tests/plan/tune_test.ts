/**
 * Plan-time tuning with injected timings: a plan records every kernel
 * problem of its step, statistics and roots, tunes them, and is rebuilt
 * with the new choices (computing the same numbers); a second build reuses
 * the cache; `off` ignores it; `auto` times nothing on a software adapter
 * and stays within its budget on a hardware one.
 */
import { assert, assertEquals } from "../assert.ts";
import { loadRunSpecFile, parseRunSpecYaml } from "../../dsl/yaml.ts";
import { assertClose, gpuTest, randn, testGpu, withArenaSpy } from "../util.ts";
import { compileGraph, compileOptimizer } from "../../dsl/compile.ts";
import { encode } from "../../lib/gpu/commands.ts";
import { Gpu } from "../../lib/gpu/device.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import { tuneCache } from "../../lib/kernels/tune/cache.ts";
import type { Plan } from "../../lib/plan/plan.ts";
import { buildTunedPlan, type PlanTuning } from "../../lib/plan/tune.ts";
import {
  FakeClock,
  fakeTimers,
  removeQuietly,
  tempTunePath,
  withTuneEnv,
} from "../kernels/tune/fakes.ts";

const spec = await loadRunSpecFile("tests/fixtures/cli/tiny.yaml");
const graph = compileGraph(spec);
const planOptions = () => ({
  batch: spec.data.batch_size,
  seed: 3,
  optimizer: compileOptimizer(spec.optimizer),
});

/** A tagged dispatch: where it is, what it runs, and its problem. */
interface Tag {
  stage: string;
  label: string;
  variant: string;
  tuned: boolean;
  problem: string;
}

/**
 * Every tagged kernel of every stage: consecutive dispatches of one problem
 * count once, since variants of a problem may record different numbers of
 * dispatches (a product with or without its split-K reduction, a weight
 * relayout before a texture kernel).
 */
function tags(plan: Plan): Tag[] {
  const all = plan.stages.flatMap((s) =>
    s.commands.flatMap((c) => {
      if (c.kind !== "dispatch" || !c.kernel) return [];
      const { variant, tuned, family, problem } = c.kernel;
      return [{ stage: s.name, label: c.label, variant, tuned, problem: `${family}|${problem}` }];
    })
  );
  return all.filter((t, i) =>
    i === 0 || t.stage !== all[i - 1].stage || t.problem !== all[i - 1].problem ||
    t.variant !== all[i - 1].variant
  );
}

/** The loss sum and every parameter gradient of one step's forward, loss and backward. */
async function stepOutputs(plan: Plan): Promise<Float64Array> {
  const gpu = plan.gpu;
  writeTensor(gpu, plan.input, Float32Array.from(randn(7, plan.input.size)));
  writeTensor(gpu, plan.labels, Array.from({ length: plan.batch }, (_, i) => i % plan.classes));
  const enc = gpu.device.createCommandEncoder();
  encode(enc, plan.init);
  for (const s of plan.stages.slice(0, 3)) encode(enc, s.commands); // forward, loss, backward
  gpu.device.queue.submit([enc.finish()]);
  const parts = await readTensors(gpu, [plan.metrics.lossSum, ...plan.params.map((p) => p.grad)]);
  return Float64Array.from(parts.flatMap((x) => [...x]));
}

/** Cheap-to-compile variants first, so the fake winners compile fast on llvmpipe. */
const PREFERRED = ["tex_8x8", "tex_16x16", "splitk16_8x8"];

Deno.test(
  "plan-time tuning: tunes every problem, rebuilds with the new choices, reuses the cache",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const gpu = await testGpu();
      const path = tempTunePath("plan");
      // The fastest candidate is always one the heuristic did not pick.
      const winners = new Map<string, string>();
      const fake = fakeTimers((name, _round, key) => (winners.get(key) === name ? 1 : 2));
      // A root-chain variant changes which products the chain records; the
      // chains keep their heuristic here so the plans compare dispatch by
      // dispatch (nested tuning: tests/plan/tune_nested_test.ts).
      const timer: PlanTuning["timer"] = (g, family, p, names) => {
        const h = family.heuristic(g, p);
        const other = family.id === "root.chain" ? [] : names.filter((n) => n !== h);
        winners.set(family.key(p), PREFERRED.find((n) => other.includes(n)) ?? other[0] ?? h);
        return fake.factory(g, family, p, names);
      };
      const lines: string[] = [];
      try {
        const off = await buildTunedPlan(gpu, graph, planOptions(), { mode: "off", path });
        const reference = await stepOutputs(off.plan);
        const heuristic = tags(off.plan);
        off.plan.arena.dispose();
        assert(heuristic.length > 0 && heuristic.every((t) => !t.tuned));
        // The roots and the preconditioner record problems too, not only the step.
        for (const stage of ["forward", "backward", "roots:conv+fc", "precondition"]) {
          assert(heuristic.some((t) => t.stage === stage), `${stage} has tuned-family dispatches`);
        }

        const first = await buildTunedPlan(gpu, graph, planOptions(), {
          mode: "exhaustive",
          path,
          timer,
          log: (l) => lines.push(l),
        });
        const problems = new Set(first.choices.map((c) => `${c.family.id}|${c.key}`));
        assertEquals(first.results.length, problems.size, "one decision per distinct problem");
        // Problems with a single valid variant have nothing to compare.
        const single = new Set(
          first.results.filter((r) => r.source === "only").map((r) => `${r.family}|${r.key}`),
        );
        const timed = problems.size - single.size;
        assert(
          timed > 0 &&
            first.results.every((r) => r.source === "timed" || single.has(`${r.family}|${r.key}`)),
        );
        assertEquals(fake.log.problems.length, timed, "each timed once");
        assert(first.rebuilt, "choices changed: rebuilt");
        assertEquals(lines.length, 1);
        assert(
          new RegExp(`^tuned ${problems.size} problems in \\d+\\.\\d s \\(0 cached\\)$`).test(
            lines[0],
          ),
          lines[0],
        );
        const tuned = tags(first.plan);
        assertEquals(tuned.length, heuristic.length);
        tuned.forEach((t, i) => {
          if (single.has(t.problem) || t.problem.startsWith("root.chain|")) return;
          assert(t.tuned, `${t.stage} ${t.label} tuned`);
          assert(
            t.variant !== heuristic[i].variant,
            `${t.stage} ${t.label}: ${t.variant} is the tuned pick`,
          );
        });
        const got = await stepOutputs(first.plan);
        // Same initial weights and data; variants differ only in summation
        // order, so f32 rounding of sums of ≤ 65 terms bounds the difference.
        assertClose(got, reference, { atol: 1e-5, rtol: 1e-4 }, "loss and gradients");
        first.plan.arena.dispose();

        // Built again: everything from the cache, no timing, no rebuild.
        const second = await buildTunedPlan(gpu, graph, planOptions(), {
          mode: "exhaustive",
          path,
          timer,
        });
        assert(second.results.every((r) => r.source === "cached" || r.source === "only"));
        assertEquals(second.results.filter((r) => r.source === "cached").length, timed);
        assert(!second.rebuilt);
        assertEquals(fake.log.problems.length, timed);
        assertEquals(tags(second.plan), tuned);
        second.plan.arena.dispose();

        // auto on a software adapter: no timing, the cached choices apply.
        const auto = await buildTunedPlan(gpu, graph, planOptions(), { mode: "auto", path, timer });
        assertEquals(auto.results, []);
        assertEquals(auto.summary, undefined);
        assertEquals(tags(auto.plan), tuned);
        auto.plan.arena.dispose();

        // off: the heuristic, cache ignored.
        const off2 = await buildTunedPlan(gpu, graph, planOptions(), { mode: "off", path, timer });
        assertEquals(tags(off2.plan), heuristic);
        off2.plan.arena.dispose();
        assertEquals(fake.log.problems.length, timed);
      } finally {
        removeQuietly(path);
        tuneCache.clear();
      }
    }),
);

Deno.test(
  "plan-time tuning: auto on a hardware adapter times within its budget",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const base = await testGpu();
      // The same device presented as a hardware adapter (its own cache key).
      const gpu = new Gpu(base.device, {
        ...base.adapter,
        isFallbackAdapter: false,
        key: `${base.adapter.key}|as-hardware-${Math.random()}`,
      });
      const clock = new FakeClock();
      // 1 µs per run: a fake round costs ~10 ms (the wait) whatever the number
      // of candidates, so a problem costs ~60 ms (6 rounds) of fake time.
      const fake = fakeTimers(() => 1e-3, clock);
      const lines: string[] = [];
      try {
        const r = await buildTunedPlan(gpu, graph, planOptions(), {
          mode: "auto",
          path: null,
          timer: fake.factory,
          now: clock.now,
          budgetMs: 100,
          log: (l) => lines.push(l),
        });
        const sources = r.results.map((x) => x.source);
        assertEquals(sources.filter((s) => s === "timed").length, 2);
        // A problem with one valid variant (a small root chain) needs no timing.
        assert(sources.slice(2).every((s) => s === "skipped" || s === "only"), sources.join());
        assertEquals(fake.log.problems.length, 2, "no problem starts after the budget");
        assert(lines[0].includes("left to the heuristic"), lines[0]);
        r.plan.arena.dispose();
      } finally {
        tuneCache.clear();
      }
    }),
);

Deno.test(
  "plan-time tuning: a failure after the build gives the plan's buffers back",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const gpu = await testGpu();
      // Every arena that allocates a tensor while the plan is built and tuned.
      try {
        await withArenaSpy(async (arenas) => {
          const clock = new FakeClock();
          let message = "";
          try {
            await buildTunedPlan(gpu, graph, planOptions(), {
              mode: "exhaustive",
              path: null,
              timer: fakeTimers(() => 1e-3, clock).factory,
              now: clock.now,
              // Stands for any failure once buffers exist (out of memory, a lost device).
              log: () => {
                throw new Error("log failed");
              },
            });
          } catch (e) {
            message = (e as Error).message;
          }
          assertEquals(message, "log failed");
          assert(arenas.size > 0);
          assertEquals(
            [...arenas].map((a) => a.bytes),
            [...arenas].map(() => 0),
            "bytes still held",
          );
        });
      } finally {
        tuneCache.clear();
      }
    }),
);

Deno.test("run.tune: defaults to auto; an unknown mode names the field, line and choices", async () => {
  const text = await Deno.readTextFile("tests/fixtures/cli/tiny.yaml");
  assertEquals(parseRunSpecYaml(text).run.tune, "auto");
  const withMode = text.replace("run: { name: tiny,", "run: { tune: exhaustive, name: tiny,");
  assertEquals(parseRunSpecYaml(withMode).run.tune, "exhaustive");
  const bad = text.replace("run: { name: tiny,", "run: { tune: fastest, name: tiny,");
  let message = "";
  try {
    parseRunSpecYaml(bad, "tiny.yaml");
  } catch (e) {
    message = (e as Error).message;
  }
  assert(/tiny\.yaml:15:\d+: run\.tune/.test(message), message);
  for (const mode of ["auto", "off", "exhaustive"]) assert(message.includes(mode), message);
});
