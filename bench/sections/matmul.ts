/**
 * Matmul benchmark section: every variant and the autotuned choice at square
 * sizes, and the three products of an MLP layer (784 → 256, batch 128), each
 * next to TensorFlow.js WebGPU's `tf.matMul` on the same shapes.
 *
 * On hardware adapters the squares include 4096³, and each variant's row is
 * its GPU time from timestamp queries (median pass; the wall clock would
 * mostly measure submits and Deno's poll), so the rows say which
 * configuration wins on that GPU; the log prints TFLOP/s. On software
 * adapters rows are wall times and the register-blocked family is left out
 * (workgroup-memory kernels run ~100x slower on llvmpipe).
 * @module
 */

import type { Gpu } from "../../lib/gpu/device.ts";
import { BufferArena, type Tensor } from "../../lib/gpu/tensor.ts";
import { writeTensor } from "../../lib/gpu/transfer.ts";
import { tune } from "../../lib/kernels/tune/tuner.ts";
import {
  matmul,
  matmulChoice,
  matmulFamily,
  matmulFlops,
  type MatmulProblem,
  matmulVariants,
} from "../../lib/kernels/matmul/matmul.ts";
import { releaseTextureMirrors } from "../../lib/kernels/matmul/mirror.ts";
import { findMatmulVariant } from "../../lib/kernels/matmul/variants.ts";
import { type BenchRow, gflops, gpuRunTimes, timeCommands, timePeer } from "../harness.ts";

// deno-lint-ignore no-explicit-any
type Tf = any;

/** Options of {@link matmulSection}. */
export interface MatmulSectionOptions {
  /** Fewer sizes and no per-variant MLP rows: a smoke run of about a minute. */
  quick?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** A variant slower than this per run (projected) is skipped: it would take minutes to time. */
const MAX_RUN_MS = 1500;

/** The same on hardware, where only variants near the best matter (tex at 4096³: ~0.2 s). */
const MAX_RUN_MS_HW = 100;

/** Square sizes per adapter class. */
function squareSizes(gpu: Gpu, quick: boolean): number[] {
  if (gpu.adapter.isFallbackAdapter) return quick ? [256, 512] : [256, 512, 1024];
  return quick ? [512, 1024] : [256, 512, 1024, 4096];
}

interface Named extends MatmulProblem {
  label: string;
}

/** The MLP layer's three products, in the layouts the engine stores. */
const MLP: readonly Named[] = [
  { label: "mlp fwd y = x·Wᵀ", m: 128, n: 256, k: 784, transB: true },
  { label: "mlp bwd dX = dY·W", m: 128, n: 784, k: 256 },
  { label: "mlp bwd dW = dYᵀ·X", m: 256, n: 784, k: 128, transA: true },
];

function shapeOf(p: MatmulProblem): string {
  return `${p.m}x${p.n}x${p.k}${p.transA ? " Aᵀ" : ""}${p.transB ? " Bᵀ" : ""}`;
}

/** tf.matMul on the same stored layouts: returns its median ms. */
async function peerMs(tf: Tf, p: MatmulProblem): Promise<number> {
  const a = tf.randomNormal(p.transA ? [p.k, p.m] : [p.m, p.k]);
  const b = tf.randomNormal(p.transB ? [p.n, p.k] : [p.k, p.n]);
  try {
    return await timePeer(tf, () => tf.matMul(a, b, Boolean(p.transA), Boolean(p.transB)));
  } finally {
    tf.dispose([a, b]);
  }
}

function operands(
  gpu: Gpu,
  arena: BufferArena,
  p: MatmulProblem,
): { a: Tensor; b: Tensor; out: Tensor } {
  const a = arena.tensor("bench.a", p.transA ? [p.k, p.m] : [p.m, p.k]);
  const b = arena.tensor("bench.b", p.transB ? [p.n, p.k] : [p.k, p.n]);
  const out = arena.tensor("bench.out", [p.m, p.n]);
  const fill = (n: number, s: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * s));
  writeTensor(gpu, a, fill(a.size, 0.37));
  writeTensor(gpu, b, fill(b.size, 0.73));
  return { a, b, out };
}

/**
 * Times `p` with every variant in `names` (skipping those projected slower
 * than {@link MAX_RUN_MS}, or {@link MAX_RUN_MS_HW} on hardware, from `prev`:
 * their ms per FLOP on the previous size) and with the autotuned choice next
 * to the peer.
 */
async function benchProblem(
  gpu: Gpu,
  tf: Tf | undefined,
  p: Named,
  names: readonly string[],
  prev: Map<string, number>,
  log: (s: string) => void,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const flops = matmulFlops(p);
  const shape = shapeOf(p);
  const arena = new BufferArena(gpu.device);
  const ops = operands(gpu, arena, p);
  const hw = !gpu.adapter.isFallbackAdapter;
  const maxRun = hw ? MAX_RUN_MS_HW : MAX_RUN_MS;
  try {
    for (const name of names) {
      const projected = (prev.get(name) ?? 0) * flops;
      if (projected > maxRun) {
        rows.push({
          group: "matmul",
          name,
          shape,
          ms: NaN,
          note: `skipped: ~${
            projected >= 1000 ? `${(projected / 1000).toFixed(0)} s` : `${projected.toFixed(0)} ms`
          } per run`,
        });
        continue;
      }
      const cmds = matmul(gpu, { ...p, ...ops, variant: name, label: p.label });
      // Hardware: GPU time per run from timestamps (fewer runs when slow).
      const runs = Math.max(1, Math.min(16, Math.floor(50 / Math.max(projected, 1e-3))));
      const passes = hw ? await gpuRunTimes(gpu, cmds, { rounds: 5, runs }) : undefined;
      const ms = passes ? passes.median : await timeCommands(gpu, cmds);
      prev.set(name, ms / flops);
      const rate = gflops(flops, ms);
      const how = passes ? `GPU time, best ${passes.best.toFixed(3)} ms` : "wall time";
      const note = passes ? `${p.label}; ${how}` : p.label;
      rows.push({ group: "matmul", name, shape, ms, gflops: rate, note });
      log(
        `  ${p.label} ${name}: ${ms.toFixed(3)} ms, ` +
          (hw ? `${(rate / 1000).toFixed(2)} TFLOP/s (${how})` : `${rate.toFixed(1)} GFLOP/s`),
      );
    }
    await tune(gpu, matmulFamily, [p]);
    const choice = matmulChoice(gpu, p);
    const cmds = matmul(gpu, { ...p, ...ops, label: p.label });
    const ms = await timeCommands(gpu, cmds);
    const passes = await gpuRunTimes(gpu, cmds, { rounds: 5, runs: 16 });
    const gpuNote = passes
      ? `; GPU pass median ${passes.median.toFixed(2)} ms, best ${passes.best.toFixed(2)} ms = ` +
        `${gflops(flops, passes.best).toFixed(1)} GFLOP/s`
      : "";
    const row: BenchRow = {
      group: "matmul",
      name: `autotuned (${choice.variant})`,
      shape,
      ms,
      gflops: gflops(flops, ms),
      note: `${p.label}; choice: ${choice.source}${gpuNote}`,
    };
    if (tf) {
      row.peerMs = await peerMs(tf, p);
      row.peerGflops = gflops(flops, row.peerMs);
      row.speedup = row.peerMs / ms;
    }
    log(
      `  ${p.label} ${row.name}: ${ms.toFixed(2)} ms, ${row.gflops!.toFixed(1)} GFLOP/s` +
        (row.peerMs ? `; TF.js ${row.peerMs.toFixed(1)} ms` : "") + gpuNote,
    );
    rows.push(row);
    return rows;
  } finally {
    releaseTextureMirrors(ops.a.buffer);
    releaseTextureMirrors(ops.b.buffer);
    arena.dispose();
  }
}

/**
 * GFLOP/s per variant and for the autotuned choice at square sizes (software:
 * 256, 512, 1024; hardware: also 4096, see {@link squareSizes}), plus the MLP
 * shapes, each autotuned row next to TensorFlow.js WebGPU (speedup = peerMs /
 * ms). Variants projected slower than 1.5 s per run (hardware: 0.1 s) are
 * skipped.
 */
export async function matmulSection(
  gpu: Gpu,
  tf: Tf | undefined,
  opts: MatmulSectionOptions = {},
): Promise<BenchRow[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const rows: BenchRow[] = [];
  const perFlop = new Map<string, number>();
  const soft = gpu.adapter.isFallbackAdapter;
  for (const n of squareSizes(gpu, Boolean(opts.quick))) {
    const p: Named = { label: `square ${n}`, m: n, n, k: n };
    log(`matmul ${p.label}`);
    // Software adapters: the storage-tiled baselines only (see the module doc).
    const names = matmulVariants(gpu, p).filter((v) => !(soft && v.startsWith("reg_")));
    rows.push(...await benchProblem(gpu, tf, p, names, perFlop, log));
  }
  for (const p of MLP) {
    log(`matmul ${p.label}`);
    // Per-variant rows for the MLP shapes only in full runs; the tiled family
    // is known to be ~100x off on software adapters and is left out there.
    const names = opts.quick
      ? []
      : matmulVariants(gpu, p).filter((n) => !(soft && findMatmulVariant(n)!.family === "tiled"));
    rows.push(...await benchProblem(gpu, tf, p, names, new Map(), log));
  }
  return rows;
}
