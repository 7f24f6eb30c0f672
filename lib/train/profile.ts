/**
 * Per-dispatch GPU profile of a plan's training step.
 *
 * Every dispatch of every stage runs in a compute pass of its own with
 * timestamp writes; several steps go into one submit and are resolved and
 * read back once, so Deno's ~10 ms queue poll never enters a measurement
 * (timing each command with a wait, as wall time, measures mostly the wait
 * on hardware). Separately, a run of back-to-back steps with their real
 * cadences measures the CPU cost of encoding and submitting a step and the
 * throughput, with one wait at the end.
 * @module
 */

import { type Command, encode, passCount } from "../gpu/commands.ts";
import { spanMs, TimestampLog } from "../gpu/timestamps.ts";
import { median } from "../report/aggregate.ts";
import type { Plan } from "../plan/plan.ts";
import { stagesAt } from "../gpu/stage.ts";

/** One dispatch of one stage. */
export interface DispatchProfile {
  /** Stage name, e.g. "backward" or "statistics:conv1". */
  stage: string;
  /** Position among the stage's dispatches (from 0). */
  index: number;
  /** The dispatch's label. */
  label: string;
  /** Kernel family, when a tuned family recorded it. */
  family?: string;
  /** Its variant. */
  variant?: string;
  /** True when the variant came from the tuning cache. */
  tuned?: boolean;
  /** Median GPU time over the timed steps, ms (NaN without timestamp queries). */
  ms: number;
}

/** One stage. */
export interface StageProfile {
  /** Stage name. */
  stage: string;
  /** Its group: the name before any ":" (statistics:conv1 → statistics). */
  group: string;
  /** Runs every this many steps. */
  every: number;
  /** Dispatches per run. */
  dispatches: number;
  /** Other commands per run (copies, clears, texture refreshes: not timed). */
  copies: number;
  /** GPU time of one run: the sum of its dispatches' medians, ms. */
  ms: number;
}

/** What {@link profilePlan} measured. */
export interface PlanProfile {
  /** True when GPU times come from timestamp queries (else they are NaN). */
  timestamps: boolean;
  /** Steps timed per dispatch. */
  timedSteps: number;
  /** Every dispatch of every stage, in step order. */
  dispatches: DispatchProfile[];
  /** Every stage, in step order. */
  stages: StageProfile[];
  /** GPU time of a step with every stage amortised by its cadence, ms. */
  gpuStepMs: number;
  /** CPU time to encode and submit one step (median over the back-to-back run), ms. */
  cpuEncodeSubmitMs: number;
  /** True on a software adapter, whose submit runs the work (so the CPU time includes it). */
  softwareAdapter: boolean;
  /** Back-to-back steps with real cadences, one wait at the end. */
  throughput: {
    /** Steps run. */
    steps: number;
    /** Wall seconds from the first encode to the end of the wait. */
    seconds: number;
    /** steps / seconds. */
    stepsPerSec: number;
    /** GPU time from the first pass's start to the last pass's end, per step, ms. */
    gpuMsPerStep?: number;
  };
}

/** Options of {@link profilePlan}. */
export interface ProfileOptions {
  /** Steps timed per dispatch, in one submit (default 10). */
  steps?: number;
  /** Untimed steps first (default 2). */
  warmup?: number;
  /** Back-to-back steps for throughput and CPU cost (default 50). */
  throughputSteps?: number;
  /** Learning rate written to the optimizer's uniforms (default 1e-3). */
  lr?: number;
}

async function submitAndWait(plan: Plan, commands: readonly Command[]): Promise<void> {
  const enc = plan.gpu.device.createCommandEncoder({ label: "profile" });
  encode(enc, commands);
  plan.gpu.device.queue.submit([enc.finish()]);
  await plan.gpu.device.queue.onSubmittedWorkDone();
}

function prepare(plan: Plan, k: number, lr: number): void {
  plan.optimizer?.prepareStep(k, lr);
  plan.step.set({ seed: k >>> 0 });
}

/** Times each dispatch of every stage over `steps` steps in one submit. */
async function timeDispatches(plan: Plan, steps: number, lr: number): Promise<number[][]> {
  const log = TimestampLog.create(plan.gpu);
  const ids: number[][][] = plan.stages.map(() => []); // [stage][dispatch][step]
  if (!log) {
    return plan.stages.map((s) => s.commands.filter((c) => c.kind === "dispatch").map(() => NaN));
  }
  const enc = plan.gpu.device.createCommandEncoder({ label: "profile.timed" });
  for (let k = 0; k < steps; k++) {
    prepare(plan, k, lr);
    plan.stages.forEach((s, si) => {
      let d = 0;
      encode(enc, s.commands, {
        passPerDispatch: true,
        timestampWrites: () => {
          const { id, writes } = log.pair();
          (ids[si][d++] ??= []).push(id);
          return writes;
        },
      });
    });
  }
  plan.gpu.device.queue.submit([enc.finish()]);
  const ts = await log.read();
  plan.gpu.checkAlive();
  return ids.map((perDispatch) =>
    perDispatch.map((byStep) => median(byStep.map((id) => spanMs(ts, id, id + 1))))
  );
}

/** Back-to-back steps: CPU encode+submit per step, wall throughput, GPU span. */
async function backToBack(plan: Plan, n: number, lr: number) {
  const gpu = plan.gpu;
  const log = TimestampLog.create(gpu);
  const cpu: number[] = [];
  let first: number | undefined;
  let last: number | undefined;
  const t0 = performance.now();
  for (let k = 0; k < n; k++) {
    const t = performance.now();
    prepare(plan, k, lr);
    const enc = gpu.device.createCommandEncoder({ label: `profile step ${k}` });
    const commands = stagesAt(plan.stages, k).flatMap((s) => s.commands);
    // Timestamps only at the start of the first pass and the end of the last.
    const passes = passCount(commands);
    let pass = 0;
    encode(enc, commands, {
      timestampWrites: () => {
        const i = pass++;
        if (!log) return undefined;
        if (k === 0 && i === 0) {
          const s = log.single("begin");
          first = s.id;
          return s.writes;
        }
        if (k === n - 1 && i === passes - 1) {
          const s = log.single("end");
          last = s.id;
          return s.writes;
        }
        return undefined;
      },
    });
    gpu.device.queue.submit([enc.finish()]);
    cpu.push(performance.now() - t);
  }
  let gpuMsPerStep: number | undefined;
  if (log) {
    const ts = await log.read();
    if (first !== undefined && last !== undefined) {
      const span = spanMs(ts, first, last);
      if (Number.isFinite(span)) gpuMsPerStep = span / n;
    }
  } else await gpu.device.queue.onSubmittedWorkDone();
  const seconds = (performance.now() - t0) / 1000;
  gpu.checkAlive();
  return { cpu: median(cpu), seconds, gpuMsPerStep };
}

/**
 * Profiles `plan`'s training step: runs its init commands, `warmup` steps,
 * then times every dispatch (every stage, whatever its cadence) over
 * `steps` steps, then runs `throughputSteps` steps back to back with their
 * real cadences. Inputs are whatever the plan's buffers hold (zeros unless
 * written): the data stage is not part of the plan and is not timed.
 */
export async function profilePlan(plan: Plan, opts: ProfileOptions = {}): Promise<PlanProfile> {
  const lr = opts.lr ?? 1e-3;
  const steps = opts.steps ?? 10;
  await submitAndWait(plan, plan.init);
  for (let k = 0; k < (opts.warmup ?? 2); k++) {
    prepare(plan, k, lr);
    await submitAndWait(plan, plan.stages.flatMap((s) => s.commands));
  }
  const times = await timeDispatches(plan, steps, lr);
  const dispatches: DispatchProfile[] = [];
  const stages: StageProfile[] = plan.stages.map((s, si) => {
    const ds = s.commands.filter((c) => c.kind === "dispatch");
    ds.forEach((d, index) => {
      const k = d.kernel;
      dispatches.push({
        stage: s.name,
        index,
        label: d.label,
        ...(k ? { family: k.family, variant: k.variant, tuned: k.tuned } : {}),
        ms: times[si][index],
      });
    });
    return {
      stage: s.name,
      group: s.name.split(":")[0],
      every: s.cadence.every,
      dispatches: ds.length,
      copies: s.commands.length - ds.length,
      ms: times[si].reduce((a, b) => a + b, 0),
    };
  });
  const n = opts.throughputSteps ?? 50;
  const run = await backToBack(plan, n, lr);
  return {
    timestamps: plan.gpu.hasTimestamps,
    timedSteps: steps,
    dispatches,
    stages,
    gpuStepMs: stages.reduce((a, s) => a + s.ms / s.every, 0),
    cpuEncodeSubmitMs: run.cpu,
    softwareAdapter: plan.gpu.adapter.isFallbackAdapter,
    throughput: {
      steps: n,
      seconds: run.seconds,
      stepsPerSec: n / run.seconds,
      ...(run.gpuMsPerStep !== undefined ? { gpuMsPerStep: run.gpuMsPerStep } : {}),
    },
  };
}
