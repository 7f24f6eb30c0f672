/**
 * Optimizer benchmarks: AdamW_BK against AdamW on a model file's network —
 * each AdaBK stage on its own (preconditioning and statistics next to their
 * TensorFlow.js twins), the step time composed from measured stage costs at
 * the paper's cadence, at the cadence of docs/results.md and at
 * T_s = T_ir = 1 — and inverse-root time per method at 256 and 512 next to
 * TensorFlow.js WebGPU doing the same 30 matrix products.
 * @module
 */

import type { Gpu } from "../../lib/gpu/device.ts";
import { type Command, encode } from "../../lib/gpu/commands.ts";
import { BufferArena } from "../../lib/gpu/tensor.ts";
import { writeTensor } from "../../lib/gpu/transfer.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { stagesAt } from "../../lib/gpu/stage.ts";
import {
  matrixRoot,
  ROOT_DEFAULTS,
  rootScalars,
  RootWorkspaces,
} from "../../lib/optim/inverse_root.ts";
import { adamw } from "../../lib/optim/first_order.ts";
import { adamwBK } from "../../lib/optim/adabk.ts";
import type { OptimizerFactory } from "../../lib/optim/types.ts";
import type { Graph } from "../../lib/graph/graph.ts";
import { type BenchRow, timeCommands } from "../harness.ts";
import { peerNewtonSchulz, peerStageTimes } from "./optim_peer.ts";
import { Rng } from "../../lib/util/rng.ts";
import { spdFactor } from "./roots.ts";

// deno-lint-ignore no-explicit-any
type Tf = any;

function stageCommands(
  plan: ReturnType<typeof buildPlan>,
  k: number,
  filter?: (name: string) => boolean,
): Command[] {
  return stagesAt(plan.stages, k).filter((s) => !filter || filter(s.name)).flatMap((s) =>
    s.commands
  );
}

function planCommands(gpu: Gpu, graph: Graph, batch: number, factory: OptimizerFactory) {
  const plan = buildPlan(gpu, graph, { batch, seed: 0, optimizer: factory });
  const r = new Rng(1);
  writeTensor(gpu, plan.input, Float32Array.from({ length: plan.input.size }, () => r.normal()));
  writeTensor(gpu, plan.labels, Float32Array.from({ length: batch }, (_, i) => i % plan.classes));
  const enc = gpu.device.createCommandEncoder();
  encode(enc, [...plan.init, ...stageCommands(plan, 0)]);
  gpu.device.queue.submit([enc.finish()]);
  plan.optimizer!.prepareStep(1, 1e-3);
  const named = (prefix: string) =>
    plan.stages.filter((s) => s.name.startsWith(prefix)).flatMap((s) => s.commands);
  // A step that is not a multiple of any cadence: forward, backward, precondition, update.
  return {
    plan,
    regular: stageCommands(plan, 1),
    stats: named("statistics"),
    precondition: named("precondition"),
    roots: named("roots"),
  };
}

/**
 * Timing of root chains: single runs on software adapters (seconds each);
 * batches of runs per wait on hardware, where one run is far shorter than
 * Deno's ~10 ms queue poll.
 */
function rootTiming(gpu: Gpu) {
  return gpu.adapter.isFallbackAdapter ? { samples: 3, minBatchMs: 1, warmup: 1 } : { samples: 3 };
}

/** Rows for AdamW_BK vs AdamW on `graph` at `batch`. */
export async function optimSection(
  gpu: Gpu,
  tf: Tf | undefined,
  graph: Graph,
  batch: number,
  modelName: string,
  o: { quick?: boolean } = {},
): Promise<BenchRow[]> {
  const quick = o.quick ?? false;
  const rows: BenchRow[] = [];
  const a = planCommands(gpu, graph, batch, adamw({ lr: 1e-3 }));
  const b = planCommands(
    gpu,
    graph,
    batch,
    adamwBK({ lr: 1e-3, statEvery: 200, rootEvery: 2000 }),
  );
  // Interleaved rounds, best median of each: a ratio of two steps must not
  // depend on which one ran while something else loaded the machine.
  const opts = quick ? { samples: 3, minBatchMs: 100 } : {};
  let baseRegular = Infinity, bkRegular = Infinity;
  for (let round = 0; round < (quick ? 1 : 3); round++) {
    baseRegular = Math.min(baseRegular, await timeCommands(gpu, a.regular, opts));
    bkRegular = Math.min(bkRegular, await timeCommands(gpu, b.regular, opts));
  }
  const bk = {
    regular: bkRegular,
    stats: await timeCommands(gpu, b.stats, opts),
    precondition: await timeCommands(gpu, b.precondition, opts),
    roots: await timeCommands(gpu, b.roots, rootTiming(gpu)),
  };
  const taps = b.plan.taps;
  const factors = b.plan.optimizer!.state.filter((t) => /\.kron\.[LR]$/.test(t.name))
    .map((t) => `${t.tensor.shape[0]}²`).join(", ");
  a.plan.arena.dispose();
  b.plan.arena.dispose();
  const peer = tf ? await peerStageTimes(tf, taps) : undefined;
  const shape = `${modelName}, batch ${batch}`;
  const vsPeer = (ms: number, peerMs?: number) => ({
    ms,
    peerMs,
    speedup: peerMs ? peerMs / ms : undefined,
  });
  rows.push({ group: "optim", name: "AdamW step", shape, ms: baseRegular });
  rows.push({
    group: "optim",
    name: "AdamW_BK step without statistics or roots",
    shape,
    ms: bk.regular,
    note: `ratio ${(bk.regular / baseRegular).toFixed(3)} vs AdamW (preconditioning every step)`,
  });
  rows.push({
    group: "optim",
    name: "AdaBK preconditioning, all layers",
    shape,
    ...vsPeer(bk.precondition, peer?.precondition),
    note: "Ĝ = L̂·G·R̂ with norm recovery; peer: the same products in TF.js",
  });
  rows.push({
    group: "optim",
    name: "AdaBK statistics pass, all layers",
    shape,
    ...vsPeer(bk.stats, peer?.statistics),
    note: "EMA of DᵀD and X̃ᵀX̃ (conv patches never materialised); " +
      "peer: TF.js on a ready patch matrix",
  });
  rows.push({
    group: "optim",
    name: "AdaBK inverse roots, all factors (reference)",
    shape,
    ms: bk.roots,
    note: `factors ${factors}; no peer: the 30 products alone on the largest factor ` +
      "take minutes in TF.js here (see the 512×512 rows)",
  });
  for (const [ts, tir] of [[200, 2000], [20, 200]]) {
    const composed = bk.regular + bk.stats / ts + bk.roots / tir;
    rows.push({
      group: "optim",
      name: `AdamW_BK step, T_s=${ts}, T_ir=${tir}`,
      shape,
      ms: composed,
      note: `ratio ${(composed / baseRegular).toFixed(3)} vs AdamW; composed: ${
        bk.regular.toFixed(2)
      } ms + statistics ${bk.stats.toFixed(2)}/${ts} + roots ${bk.roots.toFixed(1)}/${tir}`,
    });
  }
  const every = bk.regular + bk.stats + bk.roots;
  rows.push({
    group: "optim",
    name: "AdamW_BK step, T_s=T_ir=1",
    shape,
    ms: every,
    note: `ratio ${(every / baseRegular).toFixed(2)} vs AdamW`,
  });

  for (const d of quick ? [256] : [256, 512]) {
    const arena = new BufferArena(gpu.device);
    const A = spdFactor(d);
    const At = arena.tensor("A", [d, d]);
    writeTensor(gpu, At, A);
    for (const method of ["reference", "converged"] as const) {
      const out = arena.tensor(`root.${method}`, [d, d]);
      const rc = matrixRoot(gpu, {
        A: At,
        out,
        d,
        which: "inverse_sqrt",
        options: { ...ROOT_DEFAULTS, method },
        scalars: rootScalars(arena, method),
        workspaces: new RootWorkspaces(arena),
        label: `bench${d}`,
      });
      const ms = await timeCommands(gpu, rc.commands, rootTiming(gpu));
      const peerMs = tf && method === "reference" ? await peerNewtonSchulz(tf, A, d) : undefined;
      rows.push({
        group: "inverse root",
        name: `${method} (${rc.iterations} iterations + 10 power rounds)`,
        shape: `${d}x${d}`,
        ms,
        peerMs,
        speedup: peerMs ? peerMs / ms : undefined,
        note: method === "reference" ? "peer: the same 30 matmuls in TF.js WebGPU" : undefined,
      });
    }
    arena.dispose();
  }
  return rows;
}
