/**
 * Progress lines: evaluations are named after the split they measured, and
 * the ETA of a run measured in steps counts its steps, not whole epochs.
 */
import { ProgressReporter } from "../../lib/train/progress.ts";
import type { EvalEvent, TrainEvent } from "../../lib/train/events.ts";
import { assert, assertEquals } from "../assert.ts";

function capture(epochs: number, totalSteps?: number) {
  const lines: string[] = [];
  const p = new ProgressReporter(epochs, { tty: false, write: (s) => lines.push(s), totalSteps });
  return { p, lines };
}

const evalEvent = (split: "test" | "val"): EvalEvent => ({
  kind: "eval",
  split,
  epoch: 0,
  globalStep: 6,
  loss: 0.5,
  accuracy: 0.875,
  wallTime: 3,
});

Deno.test("an evaluation on the validation part says val, on the test split test", () => {
  const val = capture(2);
  val.p.onEvent(evalEvent("val"));
  assertEquals(val.lines, ["eval  epoch 1: val loss 0.5000 val acc 87.50% (00:03)\n"]);
  const test = capture(2);
  test.p.onEvent(evalEvent("test"));
  assert(test.lines[0].includes("test loss 0.5000 test acc 87.50%"), test.lines[0]);
});

Deno.test("the ETA of a run of N steps counts N steps", () => {
  const train: TrainEvent = {
    kind: "train",
    epoch: 0,
    step: 10,
    steps: 100,
    globalStep: 10,
    loss: 1,
    accuracy: 0.5,
    lr: 0.1,
    samplesPerSec: 10,
    wallTime: 10, // 1 s per step
  };
  const epochs = capture(2);
  epochs.p.onEvent(train);
  assert(epochs.lines[0].includes("eta 03:10"), epochs.lines[0]); // 190 steps left
  const steps = capture(2, 150);
  steps.p.onEvent(train);
  assert(steps.lines[0].includes("eta 02:20"), steps.lines[0]); // 140 steps left
});
