/**
 * `compare`, `export-csv` and `bench`: argument errors with their messages,
 * the optimizer switch (fields kept and dropped), and a tiny end-to-end
 * comparison (2 optimizers × 2 seeds of tests/fixtures/cli/tiny.yaml).
 */
import { main } from "../../cli/main.ts";
import { OPTIMIZER_NAMES, switchOptimizer } from "../../cli/compare.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest } from "../util.ts";

async function run(args: string[]) {
  let out = "", err = "";
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const TINY = "tests/fixtures/cli/tiny.yaml";

Deno.test("compare rejects unknown optimizers, bad seeds, bad --lr and unknown flags", async () => {
  const a = await run(["compare", TINY, "--optimizers", "adamw,adamz,sgdm_bk"]);
  assertEquals(a.code, 1);
  assert(
    a.err.startsWith('error: --optimizers: unknown optimizer "adamz"; expected one of: sgd,'),
    a.err,
  );
  const b = await run(["compare", TINY, "--optimizers", "adamw", "--seeds", "0"]);
  assertEquals(b.code, 2);
  assert(
    b.err.includes("option '--seeds <n>' argument '0' is invalid. expected a positive integer"),
    b.err,
  );
  const c = await run(["compare", TINY, "--optimizers", "adamw", "--lr", "sgdm=0.1"]);
  assertEquals(c.code, 1);
  assert(c.err.includes('--lr: "sgdm" is not one of the compared optimizers'), c.err);
  const d = await run(["compare", TINY, "--optimizers", "adamw", "--lr", "adamw=-1"]);
  assertEquals(d.code, 1);
  assert(d.err.includes('--lr: expected optimizer=learning-rate (> 0), got "adamw=-1"'), d.err);
  const e = await run(["compare", TINY, "--optimizers", "adamw,adamw"]);
  assertEquals(e.code, 1);
  assert(e.err.includes('--optimizers: "adamw" is listed twice'), e.err);
  const f = await run(["compare", TINY, "--optimizers", "adamw", "--bogus"]);
  assertEquals(f.code, 2);
  assert(f.err.includes("unknown option '--bogus'"), f.err);
  const g = await run(["compare", TINY]);
  assertEquals(g.code, 2);
  assert(g.err.includes("required option '--optimizers <names>' not specified"), g.err);
  const h = await run(["comparre", TINY]);
  assertEquals(h.code, 2);
  assert(h.err.includes("unknown command 'comparre'"), h.err);
});

Deno.test("switching optimizers keeps lr and the accepted fields, and names the dropped ones", () => {
  assertEquals(OPTIMIZER_NAMES.includes("adamw_bk") && OPTIMIZER_NAMES.includes("sgdm"), true);
  const given = {
    name: "adamw_bk",
    lr: 0.01,
    betas: [0.9, 0.99],
    stat_every: 2,
    weight_decay: 0.1,
  };
  const sgdm = switchOptimizer("sgdm", given, 0.05);
  assertEquals(sgdm.section, { name: "sgdm", lr: 0.05, weight_decay: 0.1 });
  assertEquals(sgdm.dropped, ["betas", "stat_every"]);
  const bk = switchOptimizer("sgdm_bk", given, 0.01);
  assertEquals(bk.section, { name: "sgdm_bk", lr: 0.01, stat_every: 2, weight_decay: 0.1 });
  assertEquals(bk.dropped, ["betas"]);
});

Deno.test("bench points at the bench task and exits 0", async () => {
  const r = await run(["bench"]);
  assertEquals(r.code, 0);
  assert(r.out.includes("deno task bench"), r.out);
});

Deno.test("export-csv of a directory that is not a run directory says so", async () => {
  const r = await run(["export-csv", "tests/fixtures/cli"]);
  assertEquals(r.code, 1);
  assert(
    r.err.startsWith("error: tests/fixtures/cli/spec.json: no such file (is this a run directory?"),
    r.err,
  );
});

Deno.test(
  "compare trains optimizers × seeds and writes figures, metrics.csv and summary.md",
  gpuTest,
  async () => {
    const dir = ".cache/cli-test/compare";
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    const r = await run([
      "compare",
      TINY,
      "--optimizers",
      "sgdm,adamw_bk",
      "--seeds",
      "2",
      "--lr",
      "sgdm=0.05",
      "--set",
      "schedule.epochs=1",
      "--out",
      dir,
      "--quiet",
    ]);
    assertEquals(r.code, 0, r.err);
    assert(r.err.includes("sgdm does not take optimizer field(s) stat_every, root_every"), r.err);
    assert(/^compare: 4 runs on .+ via (Vulkan|GL)/m.test(r.err), r.err);
    for (const line of ["[1/4] sgdm seed 0: start (lr 0.05)", "[4/4] adamw_bk seed 1: done"]) {
      assert(r.err.includes(line), `progress line "${line}" in:\n${r.err}`);
    }
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(files, [
      "accuracy_vs_epoch.png",
      "accuracy_vs_epoch.svg",
      "adamw_bk-seed0",
      "adamw_bk-seed1",
      "loss_vs_epoch.png",
      "loss_vs_epoch.svg",
      "loss_vs_time.png",
      "loss_vs_time.svg",
      "metrics.csv",
      "sgdm-seed0",
      "sgdm-seed1",
      "summary.md",
    ]);
    // Each run's spec carries its optimizer, seed and the per-optimizer lr.
    const spec = JSON.parse(Deno.readTextFileSync(`${dir}/sgdm-seed1/spec.json`));
    assertEquals([spec.optimizer.name, spec.optimizer.lr, spec.run.seed], ["sgdm", 0.05, 1]);
    const bk = JSON.parse(Deno.readTextFileSync(`${dir}/adamw_bk-seed0/spec.json`));
    assertEquals([bk.optimizer.lr, bk.optimizer.stat_every], [0.01, 2], "the file's fields kept");
    // tiny.yaml: 96 samples / batch 16 = 6 steps, logged every 2 → 3 train rows + 1 eval per run.
    const csv = Deno.readTextFileSync(`${dir}/metrics.csv`).trim().split("\n");
    assertEquals(csv.length, 1 + 4 * 4);
    assert(csv.some((l) => l.startsWith("adamw_bk-seed1,adamw_bk,1,eval,1,6,")), csv.join("\n"));
    const md = Deno.readTextFileSync(`${dir}/summary.md`);
    assert(md.includes("--optimizers sgdm,adamw_bk --seeds 2"), md);
    assert(/\| sgdm \| 2\/2 \| \d+\.\d\d% ± \d+\.\d\d% \|/.test(md), md);
    assert(/\| adamw_bk \| 2\/2 \|/.test(md), md);

    // export-csv of one run writes the same rows as the comparison's CSV has for it.
    const e = await run(["export-csv", `${dir}/sgdm-seed0`]);
    assertEquals(e.code, 0, e.err);
    const one = Deno.readTextFileSync(`${dir}/sgdm-seed0/metrics.csv`).trim().split("\n");
    assertEquals(one.slice(1), csv.filter((l) => l.startsWith("sgdm-seed0,")));
  },
);
