/**
 * The trainer: runs a plan over epochs with one command encoder and one
 * submit per step, reads metrics through a ring a few steps late, evaluates
 * on a test split, and reports events to whoever listens (progress line,
 * metrics log).
 * @module
 */

import type { Command } from "../gpu/commands.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { encode } from "../gpu/commands.ts";
import { ReadbackRing } from "../gpu/readback.ts";
import { GpuTimer, stageDurations } from "../gpu/timing.ts";
import { GpuClock, lastTimestampNs } from "../gpu/gpu_clock.ts";
import type { Plan } from "../plan/plan.ts";
import { stagesAt } from "../gpu/stage.ts";
import type { GpuSplit } from "./gpu_split.ts";
import { clearMetrics, evaluate } from "./evaluate.ts";
import type { EvalEvent, EvalSplit, TrainerEvent } from "./events.ts";

/** Trainer options. */
export interface TrainerOptions {
  /** The compiled plan (with an optimizer). */
  plan: Plan;
  /** Training data bound to the plan's batch tensors. */
  train: GpuSplit;
  /** Evaluation data bound to the same tensors, if evaluating. */
  test?: GpuSplit;
  /** What `test` is (reported in evaluation events). Default `test`. */
  evalSplit?: EvalSplit;
  /** Number of epochs. */
  epochs: number;
  /**
   * Run length in steps when it is not whole epochs: training stops after
   * this many global steps, inside the last epoch, which still ends with its
   * evaluation and `onEpochEnd`. Default: epochs × steps per epoch.
   */
  totalSteps?: number;
  /** Sample order of each epoch (a pure function of the epoch for exact resume). */
  order: (epoch: number) => Uint32Array;
  /** Learning rate at a global step. */
  lr: (globalStep: number) => number;
  /** Seed of per-step randomness (dropout). */
  seed: number;
  /** Report training metrics every this many steps. */
  logEvery: number;
  /** Evaluate every this many epochs (and after the last). */
  evalEvery: number;
  /** Receives events as their data arrive. */
  onEvent?: (e: TrainerEvent) => void;
  /** Time each stage on the GPU at log points (default: when timestamp queries exist). */
  stageTimings?: boolean;
  /** Called after each completed epoch (and its evaluation): checkpoints go here. */
  onEpochEnd?: (epoch: number, globalStep: number, lastEval?: EvalEvent) => Promise<void>;
}

/** The trainer's final numbers. */
export interface TrainSummary {
  /** Last evaluation, if any. */
  finalEval?: EvalEvent;
  /** Global steps run. */
  steps: number;
  /** Seconds of training in this call (excluding setup; a resumed run counts from the resume). */
  seconds: number;
  /** Submits per training step (should be exactly 1). */
  submitsPerStep: number;
  /** Readbacks started inside the step loop, per step. */
  readbacksPerStep: number;
}

/** The loss became NaN or infinite: training stopped (nothing after it was kept). */
export class TrainingDivergedError extends Error {
  /** `step` is the global step whose metrics showed it. */
  constructor(readonly step: number, loss: number) {
    super(
      `training diverged: the loss is ${loss} at step ${step}. ` +
        "Lower the learning rate, add warm-up or gradient clipping, or check the input normalisation.",
    );
    this.name = "TrainingDivergedError";
  }
}

/**
 * Steps of one training epoch over `samples` at `batch`: the last partial
 * batch is dropped. Throws when the split holds less than one batch.
 */
export function stepsPerEpoch(samples: number, batch: number): number {
  const steps = Math.floor(samples / batch);
  if (steps < 1) {
    throw new RangeError(
      `the training split has ${samples} samples, fewer than one batch of ${batch}`,
    );
  }
  return steps;
}

/** Runs `plan` according to `opts`. */
export class Trainer {
  /** Global step counter: steps completed. */
  globalStep = 0;
  /** Submits issued by training steps. */
  submits = 0;
  readonly #opts: TrainerOptions;
  readonly #ring: ReadbackRing;
  readonly #clearMetrics: Command[];
  #initialised = false;
  /** performance.now() when training started, moved back by the wall time of a resumed run. */
  #t0 = 0;
  #resumedWallTime = 0;
  #failure: Error | undefined;
  readonly #timer: GpuTimer | undefined;
  #clock: GpuClock | undefined;

  /** Prepares the trainer (allocates the readback ring). */
  constructor(opts: TrainerOptions) {
    this.#opts = opts;
    // Metrics, plus two u64 timestamps for up to 64 timed passes.
    this.#ring = new ReadbackRing(opts.plan.gpu, 64 + 64 * 16, 4);
    if (opts.stageTimings !== false) this.#timer = GpuTimer.create(opts.plan.gpu, 64);
    this.#clearMetrics = clearMetrics(opts.plan);
  }

  /** Steps per epoch (see {@link stepsPerEpoch}). */
  get stepsPerEpoch(): number {
    return stepsPerEpoch(this.#opts.train.count, this.#opts.plan.batch);
  }

  /**
   * Continues a run restored from a checkpoint taken after `step` steps and
   * `wallTime` seconds of training: the plan's tensors must already hold the
   * checkpoint (so no initialisation runs), training picks up at that step's
   * epoch and batch, and wall times continue from `wallTime`.
   */
  resumeAt(step: number, wallTime = 0): void {
    this.globalStep = step;
    this.#resumedWallTime = wallTime;
    this.#initialised = true;
  }

  /** Seconds of training so far, including those before a resume. */
  get wallTime(): number {
    return (performance.now() - this.#t0) / 1000;
  }

  /** Global steps of the whole run. */
  get totalSteps(): number {
    return this.#opts.totalSteps ?? this.#opts.epochs * this.stepsPerEpoch;
  }

  /**
   * Trains for the configured epochs from `globalStep`, or until
   * `untilStep` steps are done (then without the epoch's evaluation).
   */
  async run(untilStep?: number): Promise<TrainSummary> {
    const o = this.#opts;
    const { plan } = o;
    const gpu = plan.gpu;
    const steps = this.stepsPerEpoch;
    if (!this.#initialised) {
      const enc = gpu.device.createCommandEncoder({ label: "init" });
      encode(enc, plan.init);
      gpu.device.queue.submit([enc.finish()]);
      this.#initialised = true;
    }
    if (this.#timer) this.#clock = await GpuClock.calibrated(gpu);
    const sessionStart = performance.now();
    this.#t0 = sessionStart - this.#resumedWallTime * 1000;
    const startStep = this.globalStep;
    const startReadbacks = this.#ring.readbacks;
    const total = this.totalSteps;
    let finalEval: EvalEvent | undefined;
    const firstEpoch = Math.floor(this.globalStep / steps);
    for (let epoch = firstEpoch; epoch < o.epochs && this.globalStep < total; epoch++) {
      o.train.setOrder(o.order(epoch), epoch);
      const epochStart = performance.now();
      const from = this.globalStep - epoch * steps;
      // The last epoch of a run measured in steps ends early.
      const end = Math.min(steps, total - epoch * steps);
      let stopped = false;
      for (let s = from; s < end; s++) {
        // A divergence seen a few steps late stops the run at the next step.
        if (this.#failure) break;
        if (untilStep !== undefined && this.globalStep >= untilStep) {
          stopped = true;
          break;
        }
        if ((s + 1) % o.logEvery === 0 || s + 1 === end) {
          // Backpressure: the CPU may run at most one ring's worth of log
          // intervals ahead of the GPU; this also lets progress callbacks run.
          await this.#ring.nextFree();
        }
        this.#step(epoch, s, steps, end, epochStart, from);
      }
      await this.#ring.drain();
      gpu.checkAlive();
      if (this.#failure) throw this.#failure;
      if (stopped) break;
      const last = epoch + 1 === o.epochs || this.globalStep >= total;
      if (o.test && ((epoch + 1) % o.evalEvery === 0 || last)) {
        finalEval = await this.evaluate(epoch);
      }
      await o.onEpochEnd?.(epoch, this.globalStep, finalEval);
    }
    const ran = this.globalStep - startStep;
    return {
      finalEval,
      steps: ran,
      seconds: (performance.now() - sessionStart) / 1000,
      submitsPerStep: ran ? this.submits / ran : 0,
      readbacksPerStep: ran ? (this.#ring.readbacks - startReadbacks) / ran : 0,
    };
  }

  /** Step `s` of `epoch` (which ends at step `end` of `steps`), resumed at `from`. */
  #step(
    epoch: number,
    s: number,
    steps: number,
    end: number,
    epochStart: number,
    from: number,
  ): void {
    const first = s === from;
    const o = this.#opts;
    const { plan } = o;
    const gpu = plan.gpu;
    const k = this.globalStep;
    const lr = o.lr(k);
    o.train.setStart(s * plan.batch);
    plan.optimizer?.prepareStep(k, lr);
    plan.step.set({ seed: (o.seed * 1000003 + k) >>> 0 });
    const enc = gpu.device.createCommandEncoder({ label: `step ${k}` });
    const report = (s + 1) % o.logEvery === 0 || s + 1 === end;
    const stages = stagesAt(plan.stages, k);
    encode(enc, [...(first ? this.#clearMetrics : []), ...o.train.gather]);
    const timer = report ? this.#timer : undefined;
    if (timer) {
      // Each stage in passes of its own, so each can carry timestamp writes.
      for (const st of stages) {
        encode(enc, st.commands, { timestampWrites: () => timer.next(st.name) });
      }
    } else encode(enc, stages.flatMap((st) => st.commands));
    const timed = timer?.resolveInto(enc);
    const slot = report
      ? this.#ring.capture(enc, [
        plan.metrics.lossSum,
        plan.metrics.correct,
        ...(timed ? [timed.timestamps] : []),
      ])
      : undefined;
    gpu.device.queue.submit([enc.finish()]);
    this.submits++;
    this.globalStep++;
    if (slot !== undefined) {
      const seen = (s + 1 - from) * plan.batch;
      const globalStep = this.globalStep;
      const doneInEpoch = s + 1;
      this.#ring.launch(slot, ([loss, correct, stamps]) => {
        if (!Number.isFinite(loss[0])) {
          this.#failure ??= new TrainingDivergedError(globalStep, loss[0] / seen);
          return;
        }
        const seenAt = performance.now();
        const now = timed && stamps && this.#clock
          ? this.#clock.hostTime(lastTimestampNs(timed.labels.length, stamps), seenAt)
          : seenAt;
        o.onEvent?.({
          kind: "train",
          epoch,
          step: doneInEpoch,
          steps,
          globalStep,
          loss: loss[0] / seen,
          accuracy: correct[0] / seen,
          lr,
          samplesPerSec: seen / ((now - epochStart) / 1000),
          wallTime: (now - this.#t0) / 1000,
          ...(timed && stamps ? { stageMs: stageDurations(timed.labels, stamps) } : {}),
        });
      });
    }
  }

  /** Evaluates on the evaluation split (one wait at the end, not per batch). */
  async evaluate(epoch = -1): Promise<EvalEvent> {
    const o = this.#opts;
    if (!o.test) throw new Error("no test split was given");
    const r = await evaluate(o.plan, o.test, (tensors) => this.#readOnce(tensors));
    const result: EvalEvent = {
      kind: "eval",
      split: o.evalSplit ?? "test",
      epoch,
      globalStep: this.globalStep,
      loss: r.loss,
      accuracy: r.accuracy,
      wallTime: (performance.now() - this.#t0) / 1000,
    };
    o.onEvent?.(result);
    return result;
  }

  /** Reads `tensors` through the ring after everything submitted (no new buffer). */
  async #readOnce(tensors: readonly Tensor[]): Promise<Float32Array[]> {
    const gpu = this.#opts.plan.gpu;
    const enc = gpu.device.createCommandEncoder({ label: "eval read" });
    const slot = this.#ring.capture(enc, tensors);
    gpu.device.queue.submit([enc.finish()]);
    await this.#ring.drain();
    if (slot === undefined) throw new Error("readback ring exhausted after drain");
    return await new Promise((resolve) => this.#ring.launch(slot, resolve));
  }
}
