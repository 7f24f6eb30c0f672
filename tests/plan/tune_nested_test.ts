/**
 * Plan-time tuning when a choice brings new problems: a `root.chain` slab
 * variant records different matrix products than the full chain, so the
 * rebuild's new products must be tuned too (a second pass), and the final
 * plan computes the same roots.
 */
import { assert } from "../assert.ts";
import { loadRunSpecFile } from "../../dsl/yaml.ts";
import { assertClose, gpuTest, maxAbs, testGpu } from "../util.ts";
import { compileGraph, compileOptimizer } from "../../dsl/compile.ts";
import { encode } from "../../lib/gpu/commands.ts";
import { stagesAt } from "../../lib/gpu/stage.ts";
import { readTensors } from "../../lib/gpu/transfer.ts";
import { tuneCache } from "../../lib/kernels/tune/cache.ts";
import type { Plan } from "../../lib/plan/plan.ts";
import { buildTunedPlan, type PlanTuning } from "../../lib/plan/tune.ts";
import { fakeTimers, withTuneEnv } from "../kernels/tune/fakes.ts";
import { referenceInverseSqrt } from "../ref/linalg.ts";

const spec = await loadRunSpecFile("tests/fixtures/cli/tiny.yaml");
const graph = compileGraph(spec);
const planOptions = () => ({
  batch: spec.data.batch_size,
  seed: 3,
  optimizer: compileOptimizer(spec.optimizer),
});

/** Each factor's statistic and root after the plan's first step. */
async function roots(plan: Plan): Promise<{ A: Float32Array; root: Float32Array; d: number }[]> {
  const enc = plan.gpu.device.createCommandEncoder();
  encode(enc, [...plan.init, ...stagesAt(plan.stages, 0).flatMap((s) => s.commands)]);
  plan.gpu.device.queue.submit([enc.finish()]);
  const state = plan.optimizer!.state;
  const roots = state.filter((s) => /\.kron\.[LR]_root$/.test(s.name));
  const stats = roots.map((r) => state.find((s) => s.name === r.name.replace(/_root$/, ""))!);
  const A = await readTensors(plan.gpu, stats.map((s) => s.tensor));
  const R = await readTensors(plan.gpu, roots.map((s) => s.tensor));
  return roots.map((r, i) => ({ A: A[i], root: R[i], d: r.tensor.shape[0] }));
}

Deno.test(
  "plan-time tuning decides the problems a chosen variant brings in, in a second pass",
  gpuTest,
  () =>
    withTuneEnv(undefined, async () => {
      const gpu = await testGpu();
      // Chains prefer a slab variant; every other problem keeps its heuristic.
      const winners = new Map<string, string>();
      const fake = fakeTimers((name, _round, key) => (winners.get(key) === name ? 1 : 2));
      const timer: PlanTuning["timer"] = (g, family, p, names) => {
        const h = family.heuristic(g, p);
        const slab = names.find((n) => n.startsWith("sym"));
        winners.set(family.key(p), family.id === "root.chain" && slab ? slab : h);
        return fake.factory(g, family, p, names);
      };
      try {
        const off = await buildTunedPlan(gpu, graph, planOptions(), { mode: "off", path: null });
        const reference = await roots(off.plan);
        off.plan.arena.dispose();
        const r = await buildTunedPlan(gpu, graph, planOptions(), {
          mode: "exhaustive",
          path: null,
          timer,
        });
        assert(r.rebuilt, "a chain changed variant: rebuilt");
        const chains = r.results.filter((x) => x.family === "root.chain" && x.variant !== "full");
        assert(chains.length > 0, "some chain tuned to a slab variant");
        const decided = new Set(r.results.map((x) => `${x.family}|${x.key}`));
        const undecided = r.choices.filter((c) => !decided.has(`${c.family.id}|${c.key}`));
        assert(
          undecided.length === 0,
          `undecided: ${[...new Set(undecided.map((c) => c.key))].join(", ")}`,
        );
        // The slab products (transB) exist only in the rebuilt plan, and were timed.
        const slabs = r.results.filter((x) => x.family === "matmul" && x.key.endsWith("|NT"));
        assert(slabs.length > 0 && slabs.every((x) => x.source === "timed"), "slab products tuned");
        const stage = r.plan.stages.find((s) => s.name.startsWith("roots"))!;
        assert(stage.commands.some((c) => c.label === "root_sym_assemble"), "slab chain recorded");
        // Both chains against the float64 transcription of the published code
        // on the same statistics: f32 through 10 Newton–Schulz steps drifts by
        // ~1e-5 of the largest entry (these rank-deficient factors have entries
        // up to ~2e3), so 1e-4 of it.
        const got = await roots(r.plan);
        got.forEach((x, i) => {
          const ref = referenceInverseSqrt(Float64Array.from(x.A), x.d);
          const tol = { atol: 1e-4 * maxAbs(ref), rtol: 0 };
          assertClose(x.root, ref, tol, `tuned root ${i} (${x.d}²)`);
          assertClose(reference[i].root, ref, tol, `heuristic root ${i} (${x.d}²)`);
        });
        r.plan.arena.dispose();
      } finally {
        tuneCache.clear();
      }
    }),
);
