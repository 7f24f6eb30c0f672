/**
 * AdaBK inverse roots: every roots stage of the demo (AdamW_BK) and of the
 * residual example (SGDM_BK) with their dispatch counts and FLOPs, and one
 * reference chain at 512² and 1569² per `root.chain` variant.
 *
 * Timing submits each command list several times per wait (timeCommands), so
 * Deno's ~10 ms queue poll is amortised; on software adapters the large
 * chains take seconds, so only the 512² chains run there.
 * @module
 */

import type { Gpu } from "../../lib/gpu/device.ts";
import type { Command } from "../../lib/gpu/commands.ts";
import { BufferArena } from "../../lib/gpu/tensor.ts";
import { writeTensor } from "../../lib/gpu/transfer.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { ROOT_CHAIN } from "../../lib/kernels/linalg/chain_family.ts";
import { matmulFlops } from "../../lib/kernels/matmul/types.ts";
import {
  batchedRoots,
  matrixRoot,
  ROOT_DEFAULTS,
  rootChainProblem,
  rootScalars,
  RootWorkspaces,
} from "../../lib/optim/inverse_root.ts";
import { compileGraph, compileOptimizer } from "../../dsl/compile.ts";
import { loadRunSpecFile, parseOverride } from "../../dsl/yaml.ts";
import { Rng } from "../../lib/util/rng.ts";
import { type BenchRow, timeCommands } from "../harness.ts";

/** Model files and the Kronecker optimizer each is benchmarked with. */
const PLANS: [string, string][] = [
  ["examples/fashion_cnn.yaml", "adamw_bk"],
  ["examples/fashion_resnet.yaml", "sgdm_bk"],
];

function dispatches(cmds: readonly Command[]): number {
  return cmds.filter((c) => c.kind === "dispatch").length;
}

/**
 * FLOPs of the roots of one stage, recorded again on scratch: the stage's
 * factor count and size come from its name ("roots:a.L+b.R") and the state.
 */
function stageFlops(gpu: Gpu, d: number, count: number): { gflop: number; variant: string } {
  const arena = new BufferArena(gpu.device);
  try {
    const factors = Array.from({ length: count }, (_, i) => ({
      A: arena.tensor(`A${i}`, [d, d]),
      out: arena.tensor(`o${i}`, [d, d]),
    }));
    const r = batchedRoots(gpu, {
      factors,
      d,
      which: "inverse_sqrt",
      options: ROOT_DEFAULTS,
      scalars: arena.tensor("s", [count * 8]),
      workspaces: new RootWorkspaces(arena),
      label: "flops",
    });
    const matvecs = 2 * ROOT_DEFAULTS.powerIterations * 2 * d * d * count;
    const flops = r.products.reduce((s, p) => s + matmulFlops(p), 0) + matvecs;
    return { gflop: flops / 1e9, variant: r.variant };
  } finally {
    arena.dispose();
  }
}

async function planRows(gpu: Gpu, file: string, optimizer: string): Promise<BenchRow[]> {
  const spec = await loadRunSpecFile(file, [parseOverride(`optimizer={name: ${optimizer}}`)]);
  const plan = buildPlan(gpu, compileGraph(spec), {
    batch: spec.data.batch_size,
    seed: 0,
    optimizer: compileOptimizer(spec.optimizer),
  });
  const rows: BenchRow[] = [];
  try {
    const state = new Map(plan.optimizer!.state.map((s) => [s.name, s.tensor]));
    // SPD-ish statistics: the identity (the roots' cost does not depend on values).
    for (const [name, t] of state) {
      if (!/\.kron\.[LR]$/.test(name)) continue;
      const d = t.shape[0];
      writeTensor(gpu, t, Float32Array.from({ length: d * d }, (_, i) => (i % (d + 1) ? 0 : 1)));
    }
    const stages = plan.stages.filter((s) => s.name.startsWith("roots"));
    const all = stages.flatMap((s) => s.commands);
    let total = 0;
    for (const s of stages) {
      const labels = s.name.slice("roots:".length).split("+");
      const [layer, side] = [labels[0].slice(0, -2), labels[0].slice(-1)];
      const d = state.get(`${layer}.kron.${side}`)!.shape[0];
      const { gflop, variant } = stageFlops(gpu, d, labels.length);
      total += gflop;
      rows.push({
        group: "roots",
        name: `${labels.length}×${d}² (${variant})`,
        shape: `${file}: ${labels.join(", ")}`,
        ms: await timeCommands(gpu, s.commands),
        note: `${dispatches(s.commands)} dispatches, ${gflop.toFixed(2)} GFLOP`,
      });
    }
    rows.unshift({
      group: "roots",
      name: `all roots stages (${optimizer}, reference)`,
      shape: file,
      ms: await timeCommands(gpu, all),
      note: `${stages.length} batches, ${dispatches(all)} dispatches, ${total.toFixed(1)} GFLOP`,
    });
  } finally {
    plan.arena.dispose();
  }
  return rows;
}

async function chainRows(gpu: Gpu, d: number): Promise<BenchRow[]> {
  const arena = new BufferArena(gpu.device);
  const rows: BenchRow[] = [];
  try {
    const r = new Rng(d);
    // XᵀX/N of random data, N = 2d, as the optimizer sees.
    const n = 2 * d;
    const X = Float64Array.from({ length: n * d }, () => r.normal());
    const A = new Float32Array(d * d);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < d; i++) {
        const xi = X[k * d + i] / n;
        for (let j = 0; j < d; j++) A[i * d + j] += xi * X[k * d + j];
      }
    }
    const At = arena.tensor("A", [d, d]);
    writeTensor(gpu, At, A);
    const problem = rootChainProblem(d, 1, "inverse_sqrt", ROOT_DEFAULTS);
    const slow = gpu.adapter.isFallbackAdapter;
    for (const variant of ROOT_CHAIN.variants(gpu, problem)) {
      const rc = matrixRoot(gpu, {
        A: At,
        out: arena.tensor(`root.${variant}`, [d, d]),
        d,
        which: "inverse_sqrt",
        options: ROOT_DEFAULTS,
        scalars: rootScalars(arena, variant),
        workspaces: new RootWorkspaces(arena),
        label: `bench${d}`,
        variant,
      });
      const flops = rc.products.reduce((s, p) => s + matmulFlops(p), 0);
      const ms = await timeCommands(gpu, rc.commands, slow ? { samples: 3, warmup: 1 } : {});
      rows.push({
        group: "roots",
        name: `reference chain, ${variant}`,
        shape: `${d}x${d}`,
        ms,
        gflops: flops / (ms * 1e6),
        note: `${dispatches(rc.commands)} dispatches, ${rc.products.length} products ` +
          `(${(flops / 1e9).toFixed(2)} GFLOP) + 20 matrix–vector products`,
      });
    }
  } finally {
    arena.dispose();
  }
  return rows;
}

/** Rows of the roots benchmark. */
export async function rootsSection(gpu: Gpu, o: { quick?: boolean } = {}): Promise<BenchRow[]> {
  const hardware = !gpu.adapter.isFallbackAdapter;
  const rows: BenchRow[] = [];
  // On a software adapter the demo's roots take ~10 s a run (the optim section times them).
  if (hardware) { for (const [file, opt] of PLANS) rows.push(...await planRows(gpu, file, opt)); }
  for (const d of hardware && !o.quick ? [512, 1569] : [512]) rows.push(...await chainRows(gpu, d));
  return rows;
}
