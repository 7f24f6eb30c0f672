/**
 * Run directories without training: a new run refuses a directory that holds
 * a run and claims an empty one atomically; --overwrite deletes only the
 * previous run's files; checkpoint retention follows the run's own steps;
 * leftovers of killed writers go; the metrics log is cut back to a resume
 * point; resuming needs a checkpoint; what a resume may change in a spec.
 */
import {
  bestAccuracy,
  checkRunDirFree,
  claimRunDir,
  findResumePoint,
  RunDirError,
  truncateMetrics,
} from "../../lib/train/run_dir.ts";
import { removeStaleTemps } from "../../lib/train/atomic.ts";
import {
  readLatestCheckpoint,
  stepsToDelete,
  writeCheckpoint,
} from "../../lib/train/checkpoint.ts";
import { describeChange, isFixedOnResume, specChanges } from "../../dsl/spec_diff.ts";
import { buildGraph } from "../../lib/graph/graph.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";

const ROOT = ".cache/run-dir-test";

async function fresh(name: string): Promise<string> {
  const dir = `${ROOT}/${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("a directory holding a run is refused in one line naming --resume and --overwrite", async () => {
  const dir = await fresh("refuse");
  await claimRunDir(dir, "{}\n"); // an empty (existing) directory is fine
  Deno.writeTextFileSync(`${dir}/metrics.jsonl`, "{}\n");
  // Stopped before its first checkpoint: nothing to resume, so only --overwrite is offered.
  const early = await assertRejects(() => checkRunDirFree(dir), RunDirError);
  assert(early.message.includes("stopped before its first checkpoint"), early.message);
  assert(early.message.includes("--overwrite") && !early.message.includes("--resume"));
  Deno.mkdirSync(`${dir}/checkpoints`);
  Deno.writeTextFileSync(`${dir}/checkpoints/latest.json`, '{"step":6}\n');
  const e = await assertRejects(() => checkRunDirFree(dir), RunDirError);
  assert(!e.message.includes("\n"), "one line");
  for (const part of [dir, "already holds a run", `--resume ${dir}`, "--overwrite"]) {
    assert(e.message.includes(part), `"${part}" in: ${e.message}`);
  }
  await assertRejects(() => claimRunDir(dir, "{}\n"), RunDirError);
  assertEquals(Deno.readTextFileSync(`${dir}/spec.json`), "{}\n", "the refused run wrote nothing");
  // compare has no --resume: its message says what it does have.
  const c = await assertRejects(() => checkRunDirFree(dir, false, "compare"), RunDirError);
  assert(c.message.includes("another --out") && !c.message.includes("--resume"), c.message);
});

Deno.test("--overwrite deletes the previous run's files, and only those", async () => {
  const dir = await fresh("overwrite");
  for (const d of ["checkpoints", "best"]) {
    Deno.mkdirSync(`${dir}/${d}`);
    Deno.writeTextFileSync(`${dir}/${d}/ckpt-00000060.json`, "{}");
  }
  for (const f of ["spec.json", "metrics.jsonl", "metrics.csv", "notes.txt"]) {
    Deno.writeTextFileSync(`${dir}/${f}`, "old");
  }
  await claimRunDir(dir, '{"new":1}\n', true);
  assertEquals(names(dir), ["notes.txt", "spec.json"]);
  assertEquals(Deno.readTextFileSync(`${dir}/spec.json`), '{"new":1}\n');
});

Deno.test("two runs claiming one empty directory at once: exactly one gets it", async () => {
  const dir = await fresh("race");
  const results = await Promise.allSettled([
    claimRunDir(dir, "a\n"),
    claimRunDir(dir, "b\n"),
    claimRunDir(dir, "c\n"),
  ]);
  assertEquals(results.filter((r) => r.status === "fulfilled").length, 1);
  for (const r of results) {
    if (r.status === "rejected") assert(r.reason instanceof RunDirError, String(r.reason));
  }
});

Deno.test("retention keeps the checkpoint just written and the newest before it in the run's steps", () => {
  // The reported bug: a 1-epoch re-run (step 6) after a 10-epoch run (…48, 54, 60).
  assertEquals(stepsToDelete([48, 54, 60, 6], 6, 3), [48, 54, 60]);
  assertEquals(stepsToDelete([6, 12, 18, 24], 24, 3), [6]);
  assertEquals(stepsToDelete([6, 12], 12, 3), []);
  assertEquals(stepsToDelete([6, 12, 18], 12, 1), [6, 18]);
  assertEquals(stepsToDelete([5], 5, 0), [], "keepLast < 1 still keeps the new one");
});

Deno.test(
  "writing a checkpoint into a folder with higher steps keeps it, and latest.json names it",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const dir = await fresh("retention");
    const plan = buildPlan(
      gpu,
      buildGraph([2], [{ type: "linear", name: "fc", config: { out: 2, bias: true } }]),
      { batch: 2, seed: 1 },
    );
    try {
      for (const step of [48, 54, 60]) await writeCheckpoint(dir, plan, { step, epoch: 1 }, 3);
      await writeCheckpoint(dir, plan, { step: 6, epoch: 1 }, 3);
      assertEquals(names(dir), ["ckpt-00000006.json", "ckpt-00000006.safetensors", "latest.json"]);
      assertEquals((await readLatestCheckpoint(dir)).meta.step, 6);
    } finally {
      plan.arena.dispose();
    }
  },
);

Deno.test("temporary files of other processes are removed, this process's are kept", async () => {
  const dir = await fresh("temps");
  const files = [
    "ckpt-00000006.safetensors.tmp-999999999",
    "latest.json.tmp-1",
    `latest.json.tmp-${Deno.pid}`,
    "ckpt-00000006.safetensors",
    "notes.tmp-old", // not a pid
  ];
  for (const f of files) Deno.writeTextFileSync(`${dir}/${f}`, "x");
  const removed = await removeStaleTemps(dir);
  assertEquals(removed.sort(), ["ckpt-00000006.safetensors.tmp-999999999", "latest.json.tmp-1"]);
  assertEquals(names(dir), [
    "ckpt-00000006.safetensors",
    `latest.json.tmp-${Deno.pid}`,
    "notes.tmp-old",
  ]);
  assertEquals(await removeStaleTemps(`${dir}/missing`), []);
});

Deno.test("the metrics log is cut back to the resume step; a torn line goes too", async () => {
  const dir = await fresh("metrics");
  const path = `${dir}/metrics.jsonl`;
  const rec = (kind: string, globalStep: number) => JSON.stringify({ kind, globalStep });
  Deno.writeTextFileSync(
    path,
    [rec("train", 3), rec("train", 6), rec("eval", 6), '{"note":1}', rec("train", 9)].join("\n") +
      '\n{"kind":"tr',
  );
  assertEquals(await truncateMetrics(path, 6), 2);
  assertEquals(
    Deno.readTextFileSync(path),
    [rec("train", 3), rec("train", 6), rec("eval", 6), '{"note":1}'].join("\n") + "\n",
  );
  assertEquals(await truncateMetrics(path, 6), 0, "nothing more to drop");
  assertEquals(await truncateMetrics(`${dir}/none.jsonl`, 6), 0);
});

Deno.test("resuming needs a run directory with a checkpoint: one-line errors that say how to start", async () => {
  const missing = `${ROOT}/no-such-run`;
  const a = await assertRejects(() => findResumePoint(missing), RunDirError);
  assert(a.message.includes("no such run directory"), a.message);
  const dir = await fresh("no-checkpoint");
  const b = await assertRejects(() => findResumePoint(dir), RunDirError);
  assert(b.message.includes("no checkpoint to resume from yet"), b.message);
  assert(b.message.includes(`--out ${dir}`) && !b.message.includes("--overwrite"), b.message);
  Deno.writeTextFileSync(`${dir}/spec.json`, "{}"); // a run stopped in its first epoch
  const c = await assertRejects(() => findResumePoint(dir), RunDirError);
  assert(c.message.includes("no checkpoint to resume from yet"), c.message);
  assert(c.message.includes("--overwrite"), c.message);
  for (const m of [a.message, b.message, c.message]) {
    assert(!m.includes("\n") && !m.includes("safetensors"), m);
  }
  assertEquals(await bestAccuracy(dir), -Infinity);
});

Deno.test("spec changes on resume: every changed leaf, the model's and the seed's refused", () => {
  const before = {
    model: { input: [4], layers: [{ type: "linear", out: 3 }] },
    optimizer: { name: "adamw", lr: 0.01 },
    schedule: { epochs: 2 },
    run: { seed: 0, log_every: 2, out_dir: "runs/a" },
  };
  const after = structuredClone(before);
  after.model.layers[0].out = 5;
  after.optimizer.lr = 0.02;
  after.schedule.epochs = 4;
  after.run.out_dir = "runs/b"; // where the directory is is not part of the run
  (after.run as Record<string, unknown>).name = "x";
  const changes = specChanges(before, after);
  assertEquals(changes.map(describeChange), [
    "model.layers[0].out: 3 → 5",
    "optimizer.lr: 0.01 → 0.02",
    "schedule.epochs: 2 → 4",
    'run.name: (absent) → "x"',
  ]);
  assertEquals(changes.map(isFixedOnResume), [true, false, false, false]);
  const seed = specChanges(before, { ...before, run: { ...before.run, seed: 1 } });
  assertEquals(seed.map(isFixedOnResume), [true]);
  const name = specChanges(before, {
    ...before,
    optimizer: { name: "sgdm", lr: 0.01 },
  });
  assertEquals(name.map(isFixedOnResume), [true]);
  assertEquals(specChanges(before, structuredClone(before)), []);
});
