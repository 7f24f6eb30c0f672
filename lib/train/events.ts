/**
 * What the trainer reports while it runs: training samples and evaluation
 * results, consumed by the progress line, the metrics log and the API's
 * `onEvent` listeners (none of which need the trainer itself).
 * @module
 */

/** A training progress sample (running means over the epoch so far). */
export interface TrainEvent {
  /** Discriminator. */
  kind: "train";
  /** Epoch (from 0). */
  epoch: number;
  /** Steps done in this epoch. */
  step: number;
  /** Steps per epoch. */
  steps: number;
  /** Global step counter after this step. */
  globalStep: number;
  /** Mean training loss over the epoch so far. */
  loss: number;
  /** Training accuracy over the epoch so far. */
  accuracy: number;
  /** Learning rate of the last step. */
  lr: number;
  /** Throughput since the epoch started. */
  samplesPerSec: number;
  /** GPU milliseconds per stage of this step (when the device has timestamp queries). */
  stageMs?: Record<string, number>;
  /**
   * Seconds since training started (continuing across resumes), to when the
   * GPU finished this step (from its timestamps when the device has them,
   * else when it was seen).
   */
  wallTime: number;
}

/** Which split an evaluation measured: the dataset's test split, or a validation part held out of training. */
export type EvalSplit = "test" | "val";

/** An evaluation result. */
export interface EvalEvent {
  /** Discriminator. */
  kind: "eval";
  /** The split evaluated. */
  split: EvalSplit;
  /** Epoch evaluated after (from 0; −1 when evaluated outside training). */
  epoch: number;
  /** Global step counter when evaluated. */
  globalStep: number;
  /** Mean loss over the evaluated samples. */
  loss: number;
  /** Accuracy in [0, 1]. */
  accuracy: number;
  /** Seconds since training started. */
  wallTime: number;
}

/** Anything the trainer reports. */
export type TrainerEvent = TrainEvent | EvalEvent;
