/**
 * `train` and run directories, end to end on tests/fixtures/cli/tiny.yaml
 * (96 samples, batch 16: 6 steps per epoch, logged every 2): a second run
 * into the same directory is refused and --overwrite starts over cleanly;
 * a resume keeps the best checkpoint unless it is beaten; `schedule.steps`
 * trains exactly that many steps; a validation split is called "val"
 * everywhere; resume says where it continues, what changed, and leaves no
 * duplicate metrics; a finished run and a run without a checkpoint are told
 * apart from errors.
 */
import { main } from "../../cli/main.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest } from "../util.ts";

const TINY = "tests/fixtures/cli/tiny.yaml";
const ROOT = ".cache/cli-test/runs";

async function run(args: string[]) {
  let out = "", err = "";
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

async function fresh(name: string): Promise<string> {
  const dir = `${ROOT}/${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  return dir;
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
const json = (path: string) => JSON.parse(Deno.readTextFileSync(path));
const records = (dir: string) =>
  Deno.readTextFileSync(`${dir}/metrics.jsonl`).trim().split("\n").map((l) => JSON.parse(l));

function expectOneLineError(r: { code: number; err: string }, ...parts: string[]) {
  assertEquals(r.code, 1, r.err);
  assert(r.err.startsWith("error: ") && r.err.trim().split("\n").length === 1, r.err);
  for (const p of parts) assert(r.err.includes(p), `"${p}" in: ${r.err}`);
}

Deno.test(
  "item 1: a second train into a run directory is refused; --overwrite starts over cleanly",
  gpuTest,
  async () => {
    const dir = await fresh("again");
    const train = (...extra: string[]) => run(["train", TINY, "--quiet", "--out", dir, ...extra]);
    assertEquals((await train()).code, 0); // 2 epochs: checkpoints at steps 6 and 12
    const before = Deno.readTextFileSync(`${dir}/metrics.jsonl`);
    const second = await train("--set", "schedule.epochs=1");
    expectOneLineError(second, `${dir} already holds a run`, `--resume ${dir}`, "--overwrite");
    assertEquals(Deno.readTextFileSync(`${dir}/metrics.jsonl`), before, "nothing touched");
    assertEquals(json(`${dir}/checkpoints/latest.json`).step, 12);

    const over = await train("--set", "schedule.epochs=1", "--overwrite");
    assertEquals(over.code, 0, over.err);
    // Only the new run's files: its one checkpoint, its metrics, its best.
    assertEquals(names(`${dir}/checkpoints`), [
      "ckpt-00000006.json",
      "ckpt-00000006.safetensors",
      "latest.json",
    ]);
    assertEquals(json(`${dir}/checkpoints/latest.json`).step, 6);
    assertEquals(json(`${dir}/best/latest.json`).step, 6);
    assertEquals(names(`${dir}/best`).filter((n) => n.startsWith("ckpt-")).length, 2);
    assert(records(dir).every((r) => r.globalStep <= 6), "no rows of the old run");
    assertEquals(json(`${dir}/spec.json`).schedule.epochs, 1);
    const ev = await run(["eval", TINY, "--checkpoint", dir]);
    assertEquals(ev.code, 0, ev.err);
    assert(ev.out.includes("at step 6"), ev.out);
    const best = await run(["eval", TINY, "--checkpoint", `${dir}/best`]);
    assertEquals(best.code, 0, best.err);
  },
);

Deno.test("item 1: compare refuses an earlier comparison's runs before training", async () => {
  const dir = await fresh("compare");
  await Deno.mkdir(`${dir}/sgdm-seed0`, { recursive: true });
  Deno.writeTextFileSync(`${dir}/sgdm-seed0/spec.json`, "{}");
  const r = await run(["compare", TINY, "--optimizers", "adamw_bk,sgdm", "--out", dir, "--quiet"]);
  assertEquals(r.code, 1, r.err);
  // The last line is the error (notes about dropped optimizer fields come first).
  const last = r.err.trim().split("\n").at(-1)!;
  for (const part of [`error: ${dir}/sgdm-seed0 already holds a run`, "--overwrite"]) {
    assert(last.includes(part), `"${part}" in: ${r.err}`);
  }
  assertEquals(names(dir), ["sgdm-seed0"], "nothing trained, not even the first run");
});

Deno.test(
  "item 2: a resumed run replaces best/ only with a better checkpoint than best/ holds",
  gpuTest,
  async () => {
    const dir = await fresh("best");
    const a = await run(["train", TINY, "--quiet", "--out", dir, "--set", "schedule.epochs=1"]);
    assertEquals(a.code, 0, a.err);
    // best/ holds an accuracy no run can beat; the latest checkpoint a poor one.
    const edit = (path: string, accuracy: number) => {
      const meta = json(path);
      meta.extra.test_accuracy = accuracy;
      Deno.writeTextFileSync(path, JSON.stringify(meta));
    };
    edit(`${dir}/best/ckpt-00000006.json`, 1);
    edit(`${dir}/checkpoints/ckpt-00000006.json`, 0);
    const b = await run(["train", TINY, "--quiet", "--resume", dir, "--set", "schedule.epochs=2"]);
    assertEquals(b.code, 0, b.err);
    assertEquals(json(`${dir}/checkpoints/latest.json`).step, 12);
    assertEquals(json(`${dir}/best/latest.json`).step, 6, "best/ kept its better checkpoint");
  },
);

Deno.test(
  "item 4: schedule.steps trains exactly that many steps, then evaluates and checkpoints",
  gpuTest,
  async () => {
    const dir = await fresh("steps");
    const r = await run(["train", TINY, "--quiet", "--out", dir, "--set", "schedule={steps: 8}"]);
    assertEquals(r.code, 0, r.err);
    assert(r.out.includes("after 8 steps"), r.out);
    const recs = records(dir);
    const trainSteps = recs.filter((x) => x.kind === "train").map((x) => x.globalStep);
    assertEquals(trainSteps, [2, 4, 6, 8]);
    assertEquals(recs.filter((x) => x.kind === "eval").map((x) => x.globalStep), [6, 8]);
    assertEquals(json(`${dir}/checkpoints/latest.json`).step, 8);
    // Resuming it has nothing left to do.
    const again = await run(["train", "--quiet", "--resume", dir]);
    assertEquals(again.code, 0, again.err);
    assert(again.out.includes("already complete (step 8 of 8"), again.out);
  },
);

Deno.test(
  "item 5: with a validation split, progress, result, metrics, checkpoints and report say val",
  gpuTest,
  async () => {
    const dir = await fresh("val");
    const r = await run([
      "train",
      TINY,
      "--quiet",
      "--out",
      dir,
      "--set",
      "data.validation_split=0.25",
      "--set",
      "schedule.epochs=1",
    ]);
    assertEquals(r.code, 0, r.err);
    assert(r.out.startsWith("final val accuracy "), r.out);
    // (The progress line: tests/train/progress_test.ts.)
    const ev = records(dir).find((x) => x.kind === "eval");
    assertEquals(ev.split, "val");
    const meta = json(`${dir}/best/ckpt-00000004.json`); // 72 training samples: 4 steps
    assert(typeof meta.extra.val_accuracy === "number" && !("test_accuracy" in meta.extra));
    const out = `${ROOT}/val-report`;
    await Deno.remove(out, { recursive: true }).catch(() => {});
    const rep = await run(["report", dir, "--out", out, "--no-png"]);
    assertEquals(rep.code, 0, rep.err);
    const md = Deno.readTextFileSync(`${out}/summary.md`);
    assert(md.includes("final val accuracy") && !/test/i.test(md.split("```")[2]), md);
    const svg = Deno.readTextFileSync(`${out}/accuracy_vs_epoch.svg`);
    assert(svg.includes("Val accuracy") && !svg.includes("Test accuracy"), "figure title");
    assert(Deno.readTextFileSync(`${out}/metrics.csv`).includes(",val\n"), "CSV split column");
  },
);

Deno.test(
  "item 11: resume names its checkpoint, reports spec changes, continues metrics and wall time",
  gpuTest,
  async () => {
    const dir = await fresh("resume");
    const a = await run(["train", TINY, "--quiet", "--out", dir]);
    assertEquals(a.code, 0, a.err);
    const ckpt6 = json(`${dir}/checkpoints/ckpt-00000006.json`);
    // A kill during epoch 2: latest.json still names step 6, epoch 2's rows are
    // logged (one torn), and a writer left a temporary file.
    Deno.writeTextFileSync(`${dir}/checkpoints/latest.json`, '{"step":6}\n');
    Deno.writeTextFileSync(`${dir}/metrics.jsonl`, '{"kind":"tra', { append: true });
    const tmp = `${dir}/checkpoints/ckpt-00000012.safetensors.tmp-999999999`;
    Deno.writeTextFileSync(tmp, "partial");

    const b = await run(["train", TINY, "--quiet", "--resume", dir]);
    assertEquals(b.code, 0, b.err);
    assert(
      b.err.includes(
        `resuming from ${dir}/checkpoints/ckpt-00000006.safetensors (step 6 of 12, after epoch 1 of 2)`,
      ),
      b.err,
    );
    assert(b.out.includes("after 6 steps"), b.out);
    const recs = records(dir);
    const steps = recs.filter((x) => x.kind === "train").map((x) => x.globalStep);
    assertEquals(steps, [2, 4, 6, 8, 10, 12], "no duplicate rows");
    assertEquals(recs.filter((x) => x.kind === "eval").map((x) => x.globalStep), [6, 12]);
    const walls = recs.filter((x) => x.kind !== "resume").map((x) => x.wallTime);
    walls.forEach((w, i) => assert(i === 0 || w >= walls[i - 1], `wall time ${walls}`));
    const firstAfter = recs.find((x) => x.kind === "train" && x.globalStep > 6);
    assert(firstAfter.wallTime > ckpt6.wallTime, "wall time continues from the checkpoint");
    assert(!names(`${dir}/checkpoints`).some((n) => n.includes(".tmp-")), "leftover removed");

    // Finished: said so, exit 0, nothing trained or logged.
    const log = Deno.readTextFileSync(`${dir}/metrics.jsonl`);
    const c = await run(["train", TINY, "--quiet", "--resume", dir]);
    assertEquals(c.code, 0, c.err);
    assert(c.out.includes(`run ${dir} is already complete (step 12 of 12`), c.out);
    assert(!c.out.includes("n/a"), c.out);
    assertEquals(Deno.readTextFileSync(`${dir}/metrics.jsonl`), log);

    // A changed model is refused; other changes are reported, one line each, and applied.
    // (The conv's width: the last layer's must match the 3 classes, which loading checks first.)
    const d = await run(["train", "--resume", dir, "--set", "model.layers.0.out=5"]);
    expectOneLineError(d, `cannot resume ${dir}`, "model.layers[0].out: 4 → 5");
    const e = await run([
      "train",
      "--quiet",
      "--resume",
      dir,
      "--set",
      "schedule.epochs=3",
      "--set",
      "run.log_every=3",
    ]);
    assertEquals(e.code, 0, e.err);
    const lines = e.err.trim().split("\n");
    assert(lines.some((l) => l.startsWith("resume: schedule.epochs: 2 → 3")), e.err);
    assert(lines.some((l) => l.startsWith("resume: run.log_every: 2 → 3")), e.err);
    assert(e.out.includes("after 6 steps"), e.out);
    assertEquals(json(`${dir}/spec.json`).run.log_every, 3, "spec.json holds the spec in effect");
    const tail = records(dir).filter((x) => x.kind === "train" && x.globalStep > 12);
    assertEquals(tail.map((x) => x.globalStep), [15, 18]);
    // A model file given with --resume must agree with spec.json: it changes nothing by itself.
    const f = await run(["train", TINY, "--resume", dir, "--set", "schedule.epochs=3"]);
    expectOneLineError(f, `${TINY} differs from ${dir}/spec.json in run.log_every: 3 → 2`);
  },
);

Deno.test("item 10: --resume of a run without a checkpoint says there is none yet", async () => {
  const dir = await fresh("early");
  await Deno.mkdir(dir, { recursive: true });
  Deno.writeTextFileSync(`${dir}/spec.json`, "{}");
  const r = await run(["train", TINY, "--resume", dir]);
  expectOneLineError(r, `${dir} has no checkpoint to resume from yet`, "--overwrite");
  assert(!r.err.includes("safetensors"), r.err);
  const none = await run(["train", "--resume", `${ROOT}/never-started`]);
  expectOneLineError(none, "no such run directory");
  const both = await run(["train", TINY, "--resume", dir, "--overwrite"]);
  assertEquals(both.code, 2, both.err);
});
