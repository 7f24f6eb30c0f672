/**
 * Metrics rows and CSV: the epoch arithmetic of train/eval events, JSONL
 * parsing (a torn last line is skipped, any other bad line is an error), and
 * RFC 4180 quoting.
 */
import { csvField, metricsCsv } from "../../lib/report/csv.ts";
import { parseJsonl, rowsFromRecords } from "../../lib/report/metrics.ts";
import { ReportError } from "../../lib/report/errors.ts";
import { assert, assertEquals, assertThrows } from "../assert.ts";

const RUN = { run: "adamw-seed3", optimizer: "adamw", seed: 3 };

Deno.test("train events become fractional epochs, evaluations whole epochs", () => {
  const rows = rowsFromRecords([
    {
      kind: "train",
      epoch: 1,
      step: 3,
      steps: 4,
      globalStep: 7,
      loss: 0.5,
      accuracy: 0.75,
      lr: 0.01,
      samplesPerSec: 100,
      wallTime: 2.5,
    },
    { kind: "eval", epoch: 1, globalStep: 8, loss: 0.4, accuracy: 0.8, wallTime: 3 },
    { kind: "note", text: "not a metric" },
  ], RUN);
  assertEquals(rows.length, 2);
  assertEquals(rows[0], {
    ...RUN,
    kind: "train",
    epoch: 1.75, // epoch index 1 + 3 of 4 steps
    step: 7,
    loss: 0.5,
    accuracy: 0.75,
    lr: 0.01,
    wallTime: 2.5,
    intervalLoss: 0.5, // the first row of an epoch: the running mean itself
  });
  assertEquals(rows[1].epoch, 2, "the evaluation after epoch index 1 is at 2 epochs done");
  assertEquals(rows[1].lr, undefined);
});

Deno.test("interval losses come back exactly from running means, except in a resumed epoch", () => {
  const train = (epoch: number, step: number, loss: number, wallTime: number) => ({
    kind: "train",
    epoch,
    step,
    steps: 8,
    globalStep: 8 * epoch + step,
    loss,
    accuracy: 0.5,
    lr: 0.1,
    samplesPerSec: 1,
    wallTime,
  });
  // Per-step losses 4,4 | 2,2 | 1,1 (epoch 0) then 3,3 (epoch 1); running means logged every 2 steps.
  const rows = rowsFromRecords([
    train(0, 2, 4, 1),
    train(0, 4, 3, 2),
    train(0, 6, 7 / 3, 3),
    train(1, 2, 3, 4),
    // A resume inside epoch 1 (wall time restarts): the running mean restarts with it.
    train(1, 6, 1.5, 0.5),
    train(1, 8, 1.25, 1),
  ], RUN);
  const got = rows.map((r) => r.intervalLoss!);
  const want = [4, 2, 1, 3, 1.5, 1.25];
  got.forEach((g, i) => assert(Math.abs(g - want[i]) < 1e-12, `row ${i}: ${g} vs ${want[i]}`));
});

Deno.test("a recorded resume restarts the running means there; wall time may continue", () => {
  const train = (globalStep: number, loss: number, wallTime: number) => ({
    kind: "train",
    epoch: Math.floor((globalStep - 1) / 8),
    step: (globalStep - 1) % 8 + 1,
    steps: 8,
    globalStep,
    loss,
    accuracy: 0.5,
    lr: 0.1,
    samplesPerSec: 1,
    wallTime,
  });
  // Per-step losses 4,4 | 2,2 then a resume at step 4 (rows after it dropped), then 3,3 | 1,1:
  // the resumed running means are over steps 5–6 and 5–8.
  const rows = rowsFromRecords([
    train(2, 4, 1),
    train(4, 3, 2),
    { kind: "resume", globalStep: 4, wallTime: 2.1 },
    train(6, 3, 3),
    train(8, 2, 4),
  ], RUN);
  assertEquals(rows.map((r) => r.intervalLoss), [4, 2, 3, 1]);
});

Deno.test("evaluations carry their split; old logs take it from the run's spec", () => {
  const ev = { kind: "eval", epoch: 0, globalStep: 4, loss: 0.25, accuracy: 0.5, wallTime: 1 };
  assertEquals(rowsFromRecords([ev], RUN)[0].split, "test");
  assertEquals(rowsFromRecords([ev], RUN, "m.jsonl", "val")[0].split, "val");
  assertEquals(rowsFromRecords([{ ...ev, split: "val" }], RUN)[0].split, "val");
});

Deno.test("a record without a number field is an error naming file and line", () => {
  const e = assertThrows(
    () => rowsFromRecords([{ kind: "eval", epoch: 0, globalStep: 1, loss: "x" }], RUN, "m.jsonl"),
    ReportError,
  );
  assert(e.message.includes("m.jsonl:1") && e.message.includes('"loss"'), e.message);
});

Deno.test("JSONL: a torn last line is skipped, a bad line in the middle is an error", () => {
  assertEquals(parseJsonl('{"a":1}\n{"a":2}\n{"a":', "f"), [{ a: 1 }, { a: 2 }]);
  const e = assertThrows(() => parseJsonl('{"a":1}\n{oops\n{"a":2}\n', "f.jsonl"), ReportError);
  assert(e.message.startsWith("f.jsonl:2: not JSON"), e.message);
  // A complete last line (newline written) that is not JSON is not a torn write.
  assertThrows(() => parseJsonl('{"a":1}\n{oops\n', "f.jsonl"), ReportError);
});

Deno.test("CSV fields are quoted only when needed, quotes doubled", () => {
  assertEquals(csvField("plain"), "plain");
  assertEquals(csvField('a "b", c'), '"a ""b"", c"');
  assertEquals(csvField("two\nlines"), '"two\nlines"');
  assertEquals(csvField(undefined), "");
  assertEquals(csvField(0.1), "0.1");
});

Deno.test("metrics CSV has the documented header and one line per row", () => {
  const rows = rowsFromRecords([
    { kind: "eval", epoch: 0, globalStep: 4, loss: 0.25, accuracy: 0.5, wallTime: 1 },
  ], { run: "r,1", optimizer: "sgdm", seed: 0 });
  assertEquals(
    metricsCsv(rows),
    "run,optimizer,seed,kind,epoch,step,loss,accuracy,lr,wall_time,split\n" +
      '"r,1",sgdm,0,eval,1,4,0.25,0.5,,1,test\n',
  );
});
