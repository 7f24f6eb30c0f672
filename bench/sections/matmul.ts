/**
 * Matmul benchmark section: every variant and the autotuned choice at square
 * sizes, and the three products of an MLP layer (784 → 256, batch 128), each
 * next to TensorFlow.js WebGPU's `tf.matMul` on the same shapes.
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
import { type Command, encode } from "../../lib/gpu/commands.ts";
import { GpuTimer } from "../../lib/gpu/timing.ts";
import { type BenchRow, gflops, timeCommands, timePeer } from "../harness.ts";
import { median } from "../../lib/report/aggregate.ts";

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

/**
 * Median and best GPU time (ms) of the compute passes of `cmds`, from
 * timestamp queries, or undefined without them. Wall-clock timing on a CPU
 * shared with other processes mixes runs where llvmpipe had both cores with
 * runs where it had one; the best pass shows what the kernel does unhindered.
 */
async function passTimes(
  gpu: Gpu,
  cmds: readonly Command[],
): Promise<{ median: number; best: number } | undefined> {
  const timer = GpuTimer.create(gpu, 32);
  if (!timer) return undefined;
  const times: number[] = [];
  for (let round = 0; round < 6; round++) {
    const enc = gpu.device.createCommandEncoder();
    for (let i = 0; i < 16; i++) {
      encode(enc, cmds, { timestampWrites: (label) => timer.next(label) });
    }
    gpu.device.queue.submit([enc.finish()]);
    const passes = await timer.read();
    if (round > 0) times.push(...passes.map(([, ms]) => ms)); // round 0 warms up
  }
  return { median: median(times), best: Math.min(...times) };
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
 * than {@link MAX_RUN_MS} from `slowest`, their ms on the previous size
 * scaled by FLOPs) and with the autotuned choice next to the peer.
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
  try {
    for (const name of names) {
      const projected = (prev.get(name) ?? 0) * flops;
      if (projected > MAX_RUN_MS) {
        rows.push({
          group: "matmul",
          name,
          shape,
          ms: NaN,
          note: `skipped: ~${(projected / 1000).toFixed(0)} s per run`,
        });
        continue;
      }
      const ms = await timeCommands(
        gpu,
        matmul(gpu, { ...p, ...ops, variant: name, label: p.label }),
      );
      prev.set(name, ms / flops);
      rows.push({ group: "matmul", name, shape, ms, gflops: gflops(flops, ms), note: p.label });
      log(`  ${p.label} ${name}: ${ms.toFixed(2)} ms, ${gflops(flops, ms).toFixed(1)} GFLOP/s`);
    }
    await tune(gpu, matmulFamily, [p]);
    const choice = matmulChoice(gpu, p);
    const cmds = matmul(gpu, { ...p, ...ops, label: p.label });
    const ms = await timeCommands(gpu, cmds);
    const passes = await passTimes(gpu, cmds);
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
 * GFLOP/s at N = 256, 512, 1024 (square) per variant and for the autotuned
 * choice, plus the MLP shapes, each autotuned row next to TensorFlow.js
 * WebGPU (speedup = peerMs / ms). On software adapters the storage-tiled
 * family is skipped once it is projected to take over 1.5 s per run.
 */
export async function matmulSection(
  gpu: Gpu,
  tf: Tf | undefined,
  opts: MatmulSectionOptions = {},
): Promise<BenchRow[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const rows: BenchRow[] = [];
  const perFlop = new Map<string, number>();
  for (const n of opts.quick ? [256, 512] : [256, 512, 1024]) {
    const p: Named = { label: `square ${n}`, m: n, n, k: n };
    log(`matmul ${p.label}`);
    rows.push(...await benchProblem(gpu, tf, p, matmulVariants(gpu, p), perFlop, log));
  }
  for (const p of MLP) {
    log(`matmul ${p.label}`);
    // Per-variant rows for the MLP shapes only in full runs; the tiled family
    // is known to be ~100x off on software adapters and is left out there.
    const names = opts.quick
      ? []
      : matmulVariants(gpu, p).filter((n) =>
        !(gpu.adapter.isFallbackAdapter && findMatmulVariant(n)!.family === "tiled")
      );
    rows.push(...await benchProblem(gpu, tf, p, names, new Map(), log));
  }
  return rows;
}
