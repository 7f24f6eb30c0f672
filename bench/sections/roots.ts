/**
 * AdaBK inverse roots: all roots of the demo (AdamW_BK) and of the residual
 * example (SGDM_BK), each of their batches (equal-size factors) with its
 * dispatch count and FLOPs, and one reference chain at 512² and 1569² per
 * `root.chain` variant.
 *
 * Timing submits each command list several times per wait (timeCommands), so
 * Deno's ~10 ms queue poll is amortised; on software adapters the large
 * chains take seconds, so only the 512² chains run there.
 * @module
 */

import type { Gpu } from "../../lib/gpu/device.ts";
import { dispatchCount } from "../../lib/gpu/commands.ts";
import { BufferArena } from "../../lib/gpu/tensor.ts";
import { writeTensor } from "../../lib/gpu/transfer.ts";
import { buildPlan, type Plan } from "../../lib/plan/plan.ts";
import { ROOT_CHAIN } from "../../lib/kernels/linalg/chain_family.ts";
import { matmulFlops } from "../../lib/kernels/matmul/types.ts";
import { SCALAR_SLOTS } from "../../lib/kernels/linalg/linalg.ts";
import {
  batchedRoots,
  matrixRoot,
  ROOT_DEFAULTS,
  rootChainProblem,
  rootScalars,
  RootWorkspaces,
} from "../../lib/optim/inverse_root.ts";
import { compileGraph } from "../../dsl/compile.ts";
import { planOptions } from "../../lib/run/plan.ts";
import { loadRunSpecFile, parseOverride } from "../../dsl/yaml.ts";
import { Rng } from "../../lib/util/rng.ts";
import { type BenchRow, timeCommands } from "../harness.ts";

/** Model files and the Kronecker optimizer each is benchmarked with. */
const PLANS: [string, string][] = [
  ["examples/fashion_cnn.yaml", "adamw_bk"],
  ["examples/fashion_resnet.yaml", "sgdm_bk"],
];

/** The roots batches a plan's optimizer recorded (none without a Kronecker optimizer). */
export function rootBatchesOf(plan: Plan): readonly { d: number; count: number }[] {
  return plan.optimizer?.rootBatches ?? [];
}

/**
 * One batch of reference chains recorded on scratch factors (identity: the
 * cost does not depend on the values): its commands, variant and FLOPs
 * (products plus the 20 matrix–vector products of the power iteration).
 */
export function batchChain(gpu: Gpu, arena: BufferArena, d: number, count: number) {
  const factors = Array.from({ length: count }, (_, i) => {
    const A = arena.tensor(`A${d}.${i}`, [d, d]);
    writeTensor(gpu, A, Float32Array.from({ length: d * d }, (_, k) => (k % (d + 1) ? 0 : 1)));
    return { A, out: arena.tensor(`o${d}.${i}`, [d, d]) };
  });
  const r = batchedRoots(gpu, {
    factors,
    d,
    which: "inverse_sqrt",
    options: ROOT_DEFAULTS,
    scalars: arena.tensor(`s${d}`, [count, SCALAR_SLOTS]),
    workspaces: new RootWorkspaces(arena),
    label: `bench${count}x${d}`,
  });
  const matvecs = 2 * ROOT_DEFAULTS.powerIterations * 2 * d * d * count;
  const flops = r.products.reduce((s, p) => s + matmulFlops(p), 0) + matvecs;
  return { commands: r.commands, variant: r.variant, gflop: flops / 1e9 };
}

/** The training plan of `file` with `optimizer` in place of its own (untuned); also its spec. */
export async function planWith(gpu: Gpu, file: string, optimizer?: string) {
  const overrides = optimizer ? [parseOverride(`optimizer={name: ${optimizer}}`)] : [];
  const spec = await loadRunSpecFile(file, overrides);
  const plan = buildPlan(gpu, compileGraph(spec), { ...planOptions(spec, "train"), seed: 0 });
  return { spec, plan };
}

async function planRows(gpu: Gpu, file: string, optimizer: string): Promise<BenchRow[]> {
  const { plan } = await planWith(gpu, file, optimizer);
  const rows: BenchRow[] = [];
  const arena = new BufferArena(gpu.device);
  try {
    // Identity statistics (the roots' cost does not depend on values).
    for (const { name, tensor: t } of plan.optimizer!.state) {
      if (!/\.kron\.[LR]$/.test(name)) continue;
      const d = t.shape[0];
      writeTensor(gpu, t, Float32Array.from({ length: d * d }, (_, i) => (i % (d + 1) ? 0 : 1)));
    }
    const stages = plan.stages.filter((s) => s.name.startsWith("roots"));
    const all = stages.flatMap((s) => s.commands);
    let total = 0;
    const batches = rootBatchesOf(plan);
    for (const { d, count } of batches) {
      const b = batchChain(gpu, arena, d, count);
      total += b.gflop;
      rows.push({
        group: "roots",
        name: `batch ${count}×${d}² (${b.variant})`,
        shape: file,
        ms: await timeCommands(gpu, b.commands),
        note: `${dispatchCount(b.commands)} dispatches, ${b.gflop.toFixed(2)} GFLOP`,
      });
    }
    rows.unshift({
      group: "roots",
      name: `all roots (${optimizer}, reference)`,
      shape: file,
      ms: await timeCommands(gpu, all),
      note: `${batches.length} batches, ${dispatchCount(all)} dispatches, ${
        total.toFixed(1)
      } GFLOP`,
    });
  } finally {
    arena.dispose();
    plan.arena.dispose();
  }
  return rows;
}

/**
 * A d×d SPD factor like the optimizer sees, seeded by d: XᵀX/N of N = 2d
 * standard normal rows.
 */
export function spdFactor(d: number): Float32Array {
  const r = new Rng(d);
  const n = 2 * d;
  const X = Float64Array.from({ length: n * d }, () => r.normal());
  const A = new Float32Array(d * d);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < d; i++) {
      const xi = X[k * d + i] / n;
      for (let j = 0; j < d; j++) A[i * d + j] += xi * X[k * d + j];
    }
  }
  return A;
}

async function chainRows(gpu: Gpu, d: number): Promise<BenchRow[]> {
  const arena = new BufferArena(gpu.device);
  const rows: BenchRow[] = [];
  try {
    const At = arena.tensor("A", [d, d]);
    writeTensor(gpu, At, spdFactor(d));
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
        note: `${dispatchCount(rc.commands)} dispatches, ${rc.products.length} products ` +
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
