/**
 * Measuring candidates on the GPU: with timestamp queries where the device
 * has them (a batch of runs is timed from the first pass's beginning to the
 * last pass's end, and every candidate's batch of a round goes into one
 * submit read back once), else by wall time of batched submits long enough
 * that Deno's ~10 ms queue poll does not dominate.
 * @module
 */

import { type Command, encode, passCount } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import { BufferArena, type Tensor } from "../../gpu/tensor.ts";
import { spanMs, TimestampLog } from "../../gpu/timestamps.ts";
import { writeTensor } from "../../gpu/transfer.ts";
import type { KernelFamily } from "./family.ts";
import type { RoundTimer } from "./rounds.ts";

/** Builds the timer of one problem's candidates (injected in tests). */
export type TimerFactory = <P>(
  gpu: Gpu,
  family: KernelFamily<P>,
  p: P,
  names: readonly string[],
) => Promise<RoundTimer>;

const scratch = new WeakMap<BufferArena, Map<string, Tensor>>();

/**
 * A tensor of `arena` filled with small finite values (speed must not depend
 * on them, but NaN or denormal paths could on some hardware), shared by
 * every call with the same name and shape on that arena, so that the
 * candidates of one problem time over the same operands.
 */
export function scratchTensor(
  gpu: Gpu,
  arena: BufferArena,
  name: string,
  shape: readonly number[],
): Tensor {
  let byName = scratch.get(arena);
  if (!byName) scratch.set(arena, byName = new Map());
  const id = `${name}[${shape.join(",")}]`;
  let t = byName.get(id);
  if (!t) {
    t = arena.tensor(`tune.${name}`, shape);
    writeTensor(
      gpu,
      t,
      Float32Array.from({ length: t.size }, (_, i) => ((i * 7919) % 17) / 17 - 0.5),
    );
    byName.set(id, t);
  }
  return t;
}

/** Candidate order of round `r`: rotated, so no candidate always follows the same one. */
function rotation(active: number[], r: number): number[] {
  const k = active.length === 0 ? 0 : r % active.length;
  return [...active.slice(k), ...active.slice(0, k)];
}

/**
 * Encodes `reps` runs of `cmds`, timed from an empty pass before the first
 * run (so copies ahead of the first dispatch, such as texture-mirror
 * refreshes, count as they do in a step) to the end of the last pass.
 */
function encodeBatch(
  enc: GPUCommandEncoder,
  log: TimestampLog,
  cmds: readonly Command[],
  reps: number,
): [number, number] | undefined {
  const total = passCount(cmds) * reps;
  if (total === 0) return undefined;
  const begin = log.single("begin");
  enc.beginComputePass({ label: "tune.begin", timestampWrites: begin.writes }).end();
  let pass = 0;
  let end = -1;
  const writes = () => {
    if (++pass < total) return undefined;
    const last = log.single("end");
    end = last.id;
    return last.writes;
  };
  for (let r = 0; r < reps; r++) encode(enc, cmds, { timestampWrites: writes });
  return [begin.id, end];
}

function timestampTimer(gpu: Gpu, cmds: (Command[] | undefined)[], free: () => void): RoundTimer {
  let rounds = 0;
  return {
    targetBatchMs: 1,
    maxReps: 512,
    async round(reps) {
      const log = TimestampLog.create(gpu)!;
      const spans = new Map<number, [number, number]>();
      const active = reps.flatMap((r, i) => (r > 0 && cmds[i] ? [i] : []));
      // Every candidate's batch in one submit, inside a validation scope: an
      // invalid candidate reads NaN instead of poisoning the device's error state.
      gpu.device.pushErrorScope("validation");
      let invalid: GPUError | null = null;
      try {
        const enc = gpu.device.createCommandEncoder({ label: "tune.round" });
        for (const i of rotation(active, rounds++)) {
          const span = encodeBatch(enc, log, cmds[i]!, reps[i]);
          if (span) spans.set(i, span);
        }
        gpu.device.queue.submit([enc.finish()]);
      } finally {
        invalid = await gpu.device.popErrorScope();
      }
      const ts = await log.read();
      gpu.checkAlive();
      return reps.map((r, i) => {
        const s = spans.get(i);
        return s && !invalid ? spanMs(ts, s[0], s[1]) / r : NaN;
      });
    },
    dispose: free,
  };
}

function wallTimer(gpu: Gpu, cmds: (Command[] | undefined)[], free: () => void): RoundTimer {
  let rounds = 0;
  return {
    targetBatchMs: 60,
    maxReps: 1 << 14,
    async round(reps) {
      const out = reps.map(() => NaN);
      const active = reps.flatMap((r, i) => (r > 0 && cmds[i] ? [i] : []));
      for (const i of rotation(active, rounds++)) {
        // One submit per run, as a training step does; one wait per batch.
        const t0 = performance.now();
        gpu.device.pushErrorScope("validation");
        let invalid: GPUError | null = null;
        try {
          for (let r = 0; r < reps[i]; r++) {
            const enc = gpu.device.createCommandEncoder({ label: "tune.run" });
            encode(enc, cmds[i]!);
            gpu.device.queue.submit([enc.finish()]);
          }
        } finally {
          invalid = await gpu.device.popErrorScope();
        }
        await gpu.device.queue.onSubmittedWorkDone();
        out[i] = invalid ? NaN : (performance.now() - t0) / reps[i];
      }
      gpu.checkAlive();
      return out;
    },
    dispose: free,
  };
}

/**
 * The default {@link TimerFactory}: compiles every candidate concurrently
 * (one that fails to compile or bind is left out: it reads NaN), records its
 * bench commands over scratch tensors, and times with timestamps when the
 * device has them (`timestamps: false` forces wall time).
 */
export async function gpuRoundTimer<P>(
  gpu: Gpu,
  family: KernelFamily<P>,
  p: P,
  names: readonly string[],
  opts: { timestamps?: boolean } = {},
): Promise<RoundTimer> {
  const arena = new BufferArena(gpu.device);
  // Every compile is issued inside one error scope, so a generator's invalid
  // WGSL fails its candidate instead of poisoning the device's error state.
  gpu.device.pushErrorScope("validation");
  const compiling = names.map((name) => {
    try {
      const label = `tune.${family.id}.${name}`;
      return Promise.all(family.wgsl(gpu, p, name).map((c) => gpu.pipelines.getAsync(label, c)));
    } catch (e) {
      return Promise.reject(e);
    }
  });
  await gpu.device.popErrorScope();
  const compiled = (await Promise.allSettled(compiling)).map((r) => r.status === "fulfilled");
  const cmds: (Command[] | undefined)[] = [];
  for (let i = 0; i < names.length; i++) {
    if (!compiled[i]) continue;
    try {
      cmds[i] = await gpu.guard(
        `tuning ${family.id} ${names[i]}`,
        () => family.benchCommands(gpu, p, names[i], arena),
      );
    } catch {
      cmds[i] = undefined;
    }
  }
  const free = () => arena.dispose();
  return (opts.timestamps ?? true) && gpu.hasTimestamps
    ? timestampTimer(gpu, cmds, free)
    : wallTimer(gpu, cmds, free);
}
