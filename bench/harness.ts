/**
 * Benchmark plumbing shared by every bench section: timing our recorded
 * commands, timing TensorFlow.js (the peer) on the same adapter in the same
 * process, and writing results as JSON plus a Markdown table.
 *
 * Timing method: submit a batch of R runs, wait once for the queue
 * (`onSubmittedWorkDone`), divide; R is grown until a batch lasts ≥ 150 ms so
 * Deno's ~10 ms poll interval is amortised; the median of `samples` batches is
 * reported. Medians resist this machine's ±20 % noise.
 * @module
 */

import { acquireGpu, type Gpu } from "../lib/gpu/device.ts";
import { GpuUnavailableError } from "../lib/gpu/errors.ts";
import { type Command, encode } from "../lib/gpu/commands.ts";
import { GpuTimer } from "../lib/gpu/timing.ts";
import { median } from "../lib/report/aggregate.ts";
import { TFJS, TFJS_WEBGPU } from "./peer_packages.ts";

/** One line of a result table. */
export interface BenchRow {
  /** Section, e.g. "matmul", "conv". */
  group: string;
  /** What ran, e.g. "autotuned" or "tex_32x32". */
  name: string;
  /** Problem description, e.g. "512x512x512". */
  shape: string;
  /** Our median time per run, ms. */
  ms: number;
  /** Our throughput when FLOPs are known. */
  gflops?: number;
  /** The peer's median time per run, ms (TensorFlow.js WebGPU). */
  peerMs?: number;
  /** The peer's throughput. */
  peerGflops?: number;
  /** peerMs / ms: how many times faster we are. */
  speedup?: number;
  /** Anything else worth knowing. */
  note?: string;
}

/** Timing options. */
export interface TimeOptions {
  /** Batches whose median is reported. Default 5. */
  samples?: number;
  /** Minimum batch duration in ms. Default 150. */
  minBatchMs?: number;
  /** Runs before timing (compilation, caches). Default 2. */
  warmup?: number;
}

/** Median wall time (ms) of one run of `commands`, each run its own submit. */
export async function timeCommands(
  gpu: Gpu,
  commands: readonly Command[],
  opts: TimeOptions = {},
): Promise<number> {
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const enc = gpu.device.createCommandEncoder();
      encode(enc, commands);
      gpu.device.queue.submit([enc.finish()]);
    }
    return gpu.device.queue.onSubmittedWorkDone();
  };
  return await timeBatches(run, opts);
}

/**
 * Median time (ms) of one call of `run(n)` divided by n, where `run(n)`
 * performs n runs and resolves when they are complete.
 */
export async function timeBatches(
  run: (n: number) => Promise<unknown>,
  opts: TimeOptions = {},
): Promise<number> {
  const samples = opts.samples ?? 5;
  const minBatch = opts.minBatchMs ?? 150;
  await run(opts.warmup ?? 2);
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    await run(reps);
    const dt = performance.now() - t0;
    if (dt >= minBatch || reps >= 1 << 14) break;
    reps = Math.min(
      1 << 14,
      Math.max(reps * 2, Math.ceil((reps * minBatch * 1.2) / Math.max(dt, 1e-3))),
    );
  }
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    await run(reps);
    times.push((performance.now() - t0) / reps);
  }
  return median(times);
}

/** Options of {@link gpuRunTimes}. */
export interface GpuTimeOptions {
  /** Timed rounds after a warm-up round. Default 5. */
  rounds?: number;
  /** Runs per round (one submit). Default: as many as fit ~50 ms, 1–16. */
  runs?: number;
}

/** Compute passes one run of `commands` encodes (dispatch runs split by copies). */
function passesPerRun(commands: readonly Command[]): number {
  let n = 0;
  let inPass = false;
  for (const c of commands) {
    if (c.kind === "dispatch" && !inPass) n++;
    inPass = c.kind === "dispatch";
  }
  return n;
}

/**
 * GPU time per run of `commands` from timestamp queries (the sum of its
 * compute passes; copies between passes are not counted): median and best
 * over `rounds`, or undefined when the device has no timestamps. On a CPU
 * shared with other processes the best shows what the kernels do unhindered.
 */
export async function gpuRunTimes(
  gpu: Gpu,
  commands: readonly Command[],
  opts: GpuTimeOptions = {},
): Promise<{ median: number; best: number } | undefined> {
  const passes = passesPerRun(commands);
  if (!gpu.hasTimestamps || passes === 0) return undefined;
  const round = async (runs: number) => {
    const timer = GpuTimer.create(gpu, runs * passes)!;
    const enc = gpu.device.createCommandEncoder();
    for (let i = 0; i < runs; i++) {
      encode(enc, commands, { timestampWrites: (label) => timer.next(label) });
    }
    gpu.device.queue.submit([enc.finish()]);
    const ms = (await timer.read()).map(([, t]) => t);
    return Array.from(
      { length: runs },
      (_, r) => ms.slice(r * passes, (r + 1) * passes).reduce((a, b) => a + b, 0),
    );
  };
  const warm = await round(1);
  const runs = opts.runs ?? Math.max(1, Math.min(16, Math.floor(50 / Math.max(warm[0], 1e-3))));
  const times: number[] = [];
  for (let r = 0; r < (opts.rounds ?? 5); r++) times.push(...await round(runs));
  return { median: median(times), best: Math.min(...times) };
}

/** GFLOP/s from a FLOP count and milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}

// deno-lint-ignore no-explicit-any
type Tf = any;

/**
 * Loads TensorFlow.js 4.22 with its WebGPU backend, or returns undefined (with
 * the reason printed) when it cannot start, so benchmarks still run alone.
 */
export async function loadPeer(): Promise<Tf | undefined> {
  try {
    // Specifiers in variables: see bench/peer_packages.ts (deno.full.lock only).
    const tf = await import(TFJS);
    await import(TFJS_WEBGPU);
    const ok = await tf.setBackend("webgpu");
    if (!ok) throw new Error("setBackend('webgpu') returned false");
    await tf.ready();
    tf.env().set("WEBGPU_CPU_FORWARD", false);
    return tf;
  } catch (e) {
    console.error(`TensorFlow.js WebGPU peer unavailable: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * Median time (ms) of `fn` on TensorFlow.js: `fn` returns a tensor (or list)
 * whose data is awaited per batch; intermediate tensors are disposed.
 */
export async function timePeer(tf: Tf, fn: () => unknown, opts: TimeOptions = {}): Promise<number> {
  const run = async (n: number) => {
    let last: unknown;
    for (let i = 0; i < n; i++) {
      // deno-lint-ignore no-explicit-any
      const out: any = tf.tidy(fn as () => any);
      if (last) tf.dispose(last);
      last = out;
    }
    // deno-lint-ignore no-explicit-any
    const lastT: any = Array.isArray(last) ? last[0] : last;
    await lastT.data();
    tf.dispose(last);
  };
  return await timeBatches(run, { minBatchMs: 300, samples: 3, ...opts });
}

/** Markdown table of rows. */
export function markdownTable(rows: readonly BenchRow[]): string {
  const fmt = (x: number | undefined, d = 2) => (x === undefined ? "–" : x.toFixed(d));
  const lines = [
    "| group | name | shape | ms | GFLOP/s | TF.js WebGPU ms | TF.js GFLOP/s | speed-up | note |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.group} | ${r.name} | ${r.shape} | ${fmt(r.ms, 3)} | ${fmt(r.gflops, 1)} | ${
        fmt(r.peerMs, 2)
      } | ${fmt(r.peerGflops, 2)} | ${
        r.speedup === undefined ? "–" : r.speedup.toFixed(1) + "×"
      } | ${r.note ?? ""} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * A short file-name form of the adapter: its description up to the first
 * parenthesis, lower-cased, non-alphanumerics as dashes ("NVIDIA H200" →
 * "nvidia-h200", "llvmpipe (LLVM 15.0.6, 256 bits)" → "llvmpipe").
 */
export function adapterSlug(gpu: Gpu): string {
  const head = gpu.adapter.description.split("(")[0].toLowerCase();
  return head.replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40) || "adapter";
}

/** Writes `bench/results/<name>.json` and `.md` with the adapter recorded. */
export async function writeResults(
  gpu: Gpu,
  name: string,
  command: string,
  rows: readonly BenchRow[],
): Promise<string> {
  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const record = {
    date: new Date().toISOString(),
    command,
    adapter: gpu.adapter,
    deno: Deno.version.deno,
    rows,
  };
  const json = new URL(`${name}.json`, dir);
  await Deno.writeTextFile(json, JSON.stringify(record, null, 2) + "\n");
  const md = `# Benchmark ${name}\n\nAdapter: ${gpu.adapter.description}` +
    `${
      gpu.adapter.isFallbackAdapter ? " (software fallback)" : ""
    }  \nCommand: \`${command}\`  \n` +
    `Date: ${record.date}\n\n${markdownTable(rows)}`;
  await Deno.writeTextFile(new URL(`${name}.md`, dir), md);
  return md;
}

/**
 * The device for a benchmark script; without WebGPU, prints the short
 * install hint and exits 1 instead of a stack trace.
 */
export async function acquireOrExit(): Promise<Gpu> {
  try {
    return await acquireGpu();
  } catch (e) {
    if (e instanceof GpuUnavailableError) {
      console.error(`error: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
}
