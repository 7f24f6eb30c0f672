/** Aggregation over seeds and the summary table, against hand-computed values. */
import { aggregate, meanStd } from "../../lib/report/aggregate.ts";
import { summarize, summaryMarkdown } from "../../lib/report/summary.ts";
import type { RunMetrics } from "../../lib/report/metrics.ts";
import { assert, assertEquals } from "../assert.ts";

Deno.test("meanStd is the sample standard deviation (n - 1), 0 for one value", () => {
  // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum 32, 32/7.
  const r = meanStd([2, 4, 4, 4, 5, 5, 7, 9]);
  assertEquals(r.mean, 5);
  assert(Math.abs(r.std - Math.sqrt(32 / 7)) < 1e-15, `std ${r.std}`);
  assertEquals(meanStd([3]), { mean: 3, std: 0 });
  assert(Number.isNaN(meanStd([]).mean));
});

Deno.test("aggregate aligns seeds on the key, averages x, and counts the seeds per key", () => {
  const bands = aggregate([
    { group: "b", key: 2, x: 1.0, y: 10 },
    { group: "a", key: 1, x: 0.5, y: 1 },
    { group: "b", key: 1, x: 0.4, y: 4 },
    { group: "b", key: 1, x: 0.6, y: 8 },
    { group: "b", key: 2, x: 2.0, y: 20 }, // a second seed, slower
    { group: "b", key: 3, x: 3.0, y: 5 }, // only one seed got here
  ]);
  assertEquals(bands.map((b) => [b.group, b.key, b.n]), [
    ["b", 1, 2],
    ["b", 2, 2],
    ["b", 3, 1],
    ["a", 1, 1],
  ]);
  const b1 = bands[0];
  assert(Math.abs(b1.x - 0.5) < 1e-15, `x is the mean ${b1.x}`);
  assertEquals([b1.mean, b1.min, b1.max], [6, 4, 8]);
  assert(Math.abs(b1.std - Math.sqrt(8)) < 1e-12, `std of 4, 8 is sqrt(8), got ${b1.std}`);
  assertEquals(bands[2].std, 0);
});

function run(optimizer: string, seed: number, acc: number | undefined, loss = 0.5): RunMetrics {
  const base = { run: `${optimizer}-seed${seed}`, optimizer, seed };
  const rows: RunMetrics["rows"] = [
    {
      ...base,
      kind: "train",
      epoch: 1,
      step: 4,
      loss: loss + 0.1,
      accuracy: 0.5,
      lr: 1,
      wallTime: 2,
    },
  ];
  if (acc !== undefined) {
    rows.push({
      ...base,
      kind: "eval",
      epoch: 1,
      step: 4,
      loss,
      accuracy: acc - 0.1,
      wallTime: 2.5,
    });
    rows.push({ ...base, kind: "eval", epoch: 2, step: 8, loss, accuracy: acc, wallTime: 3 });
  }
  return { dir: base.run, ...base, evalSplit: "test", rows };
}

Deno.test("summary: final accuracy mean ± std per optimizer, diverged runs counted but not averaged", () => {
  const rows = summarize(
    ["sgdm", "adamw_bk"],
    [run("adamw_bk", 0, 0.8, 0.3), run("adamw_bk", 1, 0.9, 0.5), run("sgdm", 0, 0.7)],
    new Map([["sgdm", 1]]),
  );
  assertEquals(rows.map((r) => [r.optimizer, r.finished, r.runs]), [
    ["sgdm", 1, 2],
    ["adamw_bk", 2, 2],
  ]);
  assert(Math.abs(rows[1].accuracy.mean - 0.85) < 1e-12);
  assert(Math.abs(rows[1].accuracy.std - Math.sqrt(0.005)) < 1e-12, "std of 0.8, 0.9");
  assertEquals(rows[1].seconds, 3, "wall time of the last logged event");
  const md = summaryMarkdown(rows, { command: "adabk compare x.yaml", file: "x.yaml", seeds: 2 });
  assert(md.includes("```sh\nadabk compare x.yaml\n```"), md);
  assert(md.includes("| adamw_bk | 2/2 | 85.00% ± 7.07% | 0.4000 ± 0.1414 |"), md);
  assert(md.includes("| sgdm | 1/2 | 70.00% ± 0.00% |"), md);
  // Per-epoch accuracy: epoch 1 of the two adamw_bk runs is 0.7 and 0.8.
  assert(md.includes("| optimizer | epoch 1 | epoch 2 |"), md);
  assert(md.includes("| adamw_bk | 75.00% ± 7.07% (3 s) | 85.00% ± 7.07% (3 s) |"), md);
});
