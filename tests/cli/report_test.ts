/**
 * `report`: merges existing run directories into one comparison, relabelling
 * runs by directory prefix; bad input is a clear error.
 */
import { main } from "../../cli/main.ts";
import { assert, assertEquals } from "../assert.ts";

async function run(args: string[]) {
  let out = "", err = "";
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

/** A finished two-epoch run directory with a given final accuracy. */
async function fakeRun(dir: string, optimizer: string, seed: number, acc: number) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/spec.json`,
    JSON.stringify({ optimizer: { name: optimizer }, run: { seed } }),
  );
  const ev = (epoch: number, accuracy: number, wallTime: number) => ({
    kind: "eval",
    epoch,
    globalStep: 10 * (epoch + 1),
    loss: 1 - accuracy,
    accuracy,
    wallTime,
  });
  const train = (globalStep: number, loss: number, wallTime: number) => ({
    kind: "train",
    epoch: globalStep < 10 ? 0 : 1,
    step: (globalStep - 1) % 10 + 1,
    steps: 10,
    globalStep,
    loss,
    accuracy: 0.5,
    lr: 0.1,
    samplesPerSec: 100,
    wallTime,
    stageMs: { forward: 2 * acc, backward: 3 * acc },
  });
  const lines = [
    train(5, 1, 1),
    train(10, 0.8, 2),
    ev(0, acc - 0.05, 2.5),
    train(20, 0.5, 4),
    ev(1, acc, 5),
  ];
  await Deno.writeTextFile(
    `${dir}/metrics.jsonl`,
    lines.map((l) => JSON.stringify(l)).join("\n") + "\n",
  );
}

Deno.test("report merges two comparisons and labels an ablation by its directory", async () => {
  const root = "runs/test-report";
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await fakeRun(`${root}/a/adamw_bk-seed0`, "adamw_bk", 0, 0.9);
  await fakeRun(`${root}/a/adamw_bk-seed1`, "adamw_bk", 1, 0.8);
  await fakeRun(`${root}/b/adamw_bk-seed0`, "adamw_bk", 0, 0.7);
  const r = await run([
    "report",
    `${root}/a/adamw_bk-seed0`,
    `${root}/a/adamw_bk-seed1`,
    `${root}/b/adamw_bk-seed0`,
    "--label",
    `${root}/b=adamw_bk converged`,
    "--out",
    `${root}/merged`,
    "--no-png",
  ]);
  assertEquals(r.code, 0, r.err);
  assert(r.out.includes("for 3 runs"), r.out);
  const md = await Deno.readTextFile(`${root}/merged/summary.md`);
  assert(md.includes("| adamw_bk | 2/2 | 85.00% ± 7.07% |"), md);
  assert(md.includes("| adamw_bk converged | 1/1 | 70.00% ± 0.00% |"), md);
  // GPU ms per logged step: median of 5·acc per run (4.5 and 4.0), mean over runs.
  assert(/\| adamw_bk \| 2\/2 \|.*\| 4\.3 \|$/m.test(md), md);
  assert(md.includes("| adamw_bk | 80.00% ± 7.07% (3 s) | 85.00% ± 7.07% (5 s) |"), md);
  const svg = await Deno.readTextFile(`${root}/merged/loss_vs_time.svg`);
  assert(svg.includes("adamw_bk converged"), "the relabelled group is drawn");
  await Deno.remove(root, { recursive: true });
});

Deno.test("report without runs, with a bad label or a missing directory is a clear error", async () => {
  const a = await run(["report", "--out", "runs/x"]);
  assertEquals(a.code, 2);
  assert(a.err.includes("missing required argument"), a.err);
  const b = await run(["report", "runs/nowhere", "--out", "runs/test-report-x", "--label", "oops"]);
  assert(b.code !== 0 && b.err.includes("--label expects <dir prefix>=<name>"), b.err);
  const c = await run(["report", "runs/nowhere-at-all", "--out", "runs/test-report-x"]);
  assert(c.code !== 0 && c.err.includes("runs/nowhere-at-all/spec.json"), c.err);
  assert(!c.err.includes("    at "), "no stack trace for a user mistake");
  await Deno.remove("runs/test-report-x", { recursive: true }).catch(() => {});
});

Deno.test("report of an old run with a validation split calls its evaluations val", async () => {
  const root = "runs/test-report-val";
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await fakeRun(`${root}/sgdm-seed0`, "sgdm", 0, 0.9); // eval records without "split"
  const spec = JSON.parse(await Deno.readTextFile(`${root}/sgdm-seed0/spec.json`));
  await Deno.writeTextFile(
    `${root}/sgdm-seed0/spec.json`,
    JSON.stringify({ ...spec, data: { validation_split: 0.1 } }),
  );
  const r = await run(["report", `${root}/sgdm-seed0`, "--out", `${root}/out`, "--no-png"]);
  assertEquals(r.code, 0, r.err);
  const md = await Deno.readTextFile(`${root}/out/summary.md`);
  assert(md.includes("| final val accuracy | final val loss |"), md);
  assert(md.includes("Val accuracy after each epoch"), md);
  await Deno.remove(root, { recursive: true });
});
