/**
 * The per-dispatch profile: every dispatch of every stage timed with
 * timestamps, stage totals, CPU cost and throughput; `inspect --time`; and
 * `deno task profile` writing its JSON and Markdown files.
 */
import { assert, assertEquals } from "../assert.ts";
import { gpuTest, testGpu } from "../util.ts";
import { compileGraph, compileOptimizer } from "../../dsl/compile.ts";
import { loadRunSpecFile } from "../../dsl/yaml.ts";
import { main } from "../../cli/main.ts";
import { buildPlan } from "../../lib/plan/plan.ts";
import { profilePlan } from "../../lib/train/profile.ts";
import { profileMarkdown, topKernels } from "../../lib/train/profile_report.ts";
import { childEnv } from "../../lib/util/subprocess.ts";

const FILE = "tests/fixtures/cli/tiny.yaml";

Deno.test(
  "profilePlan times every dispatch of every stage and the back-to-back steps",
  gpuTest,
  async () => {
    const gpu = await testGpu();
    const spec = await loadRunSpecFile(FILE);
    const plan = buildPlan(gpu, compileGraph(spec), {
      batch: spec.data.batch_size,
      seed: 0,
      optimizer: compileOptimizer(spec.optimizer),
    });
    try {
      const p = await profilePlan(plan, { steps: 3, warmup: 1, throughputSteps: 8 });
      assert(p.timestamps);
      const dispatches = plan.stages.flatMap((s) =>
        s.commands.filter((c) => c.kind === "dispatch").map((c) => [s.name, c.label])
      );
      assertEquals(p.dispatches.map((d) => [d.stage, d.label]), dispatches);
      assert(p.dispatches.every((d) => Number.isFinite(d.ms) && d.ms >= 0), "all timed");
      assert(p.dispatches.some((d) => d.family === "matmul" && d.variant), "variants named");
      assertEquals(p.stages.map((s) => s.stage), plan.stages.map((s) => s.name));
      for (const s of p.stages) {
        const sum = p.dispatches.filter((d) => d.stage === s.stage).reduce((a, d) => a + d.ms, 0);
        assert(Math.abs(s.ms - sum) < 1e-9, `${s.stage} total`);
      }
      const roots = p.stages.find((s) => s.stage === "roots:conv+fc")!;
      assertEquals([roots.group, roots.every], ["roots", 4]);
      const amortised = p.stages.reduce((a, s) => a + s.ms / s.every, 0);
      assert(Math.abs(p.gpuStepMs - amortised) < 1e-9 && p.gpuStepMs > 0);
      assert(p.cpuEncodeSubmitMs > 0 && p.throughput.stepsPerSec > 0);
      assertEquals(p.throughput.steps, 8);
      assert(p.throughput.gpuMsPerStep! > 0, "GPU span of the back-to-back run");

      const top = topKernels(p.dispatches);
      assertEquals(top.reduce((a, k) => a + k.count, 0), p.dispatches.length);
      assert(top.every((k, i) => i === 0 || top[i - 1].ms >= k.ms), "slowest first");
      const md = profileMarkdown(p, { title: "t", top: 5 });
      for (const want of ["# t", "| roots ", "## Top kernels", "matmul/", "steps/s"]) {
        assert(md.includes(want), `markdown has ${want}`);
      }
      // A software adapter's submit runs the work: the CPU line says so, and only there.
      assertEquals(p.softwareAdapter, plan.gpu.adapter.isFallbackAdapter);
      const note = "a software adapter runs the work inside submit";
      assertEquals(md.includes(note), p.softwareAdapter);
      const hardware = profileMarkdown({ ...p, softwareAdapter: false });
      assert(!hardware.includes(note) && hardware.includes("CPU encode + submit per step"));
    } finally {
      plan.arena.dispose();
    }
  },
);

Deno.test(
  "inspect lists every dispatch with its kernel, and times them with --time",
  gpuTest,
  async () => {
    let out = "";
    let err = "";
    const code = await main(["inspect", FILE, "--time"], {
      out: (s) => (out += s),
      err: (s) => (err += s),
    });
    assertEquals(code, 0, err);
    assert(out.includes("kernel choices (run.tune: auto)"), out);
    assert(/layer\s+type\s+output\s+parameters\s+runs in/.test(out), out);
    assert(/stage\s+#\s+dispatch\s+kernel\s+GPU ms/.test(out), out);
    assert(/fc\.fwd:\S+\s+matmul\/\S+\s+\d+\.\d{3}/.test(out), out);
    assert(out.includes("CPU encode + submit per step"), out);
  },
);

Deno.test(
  "deno task profile writes JSON and Markdown; a bad flag is a usage error",
  gpuTest,
  async () => {
    const dir = `.cache/profile-test-${Deno.pid}`;
    await Deno.mkdir(dir, { recursive: true });
    const run = (args: string[]) =>
      new Deno.Command("deno", {
        args: [
          "run",
          "--no-prompt",
          "--allow-read=.",
          `--allow-write=${dir},.cache`,
          "--allow-env=ADABK_DUMP_WGSL,ADABK_NO_WEBGPU,ADABK_TUNE,LOG_TOKENS,LOG_STREAM",
          "bench/profile.ts",
          ...args,
        ],
        env: childEnv(),
        stdout: "piped",
        stderr: "piped",
      }).output();
    try {
      const r = await run([
        FILE,
        "--set",
        "optimizer={name: adamw, lr: 0.01}",
        "--steps",
        "2",
        "--throughput",
        "3",
        "--json",
        `${dir}/p.json`,
        "--md",
        `${dir}/p.md`,
      ]);
      const stderr = new TextDecoder().decode(r.stderr);
      assertEquals(r.code, 0, stderr);
      const json = JSON.parse(await Deno.readTextFile(`${dir}/p.json`));
      assertEquals(json.file, FILE);
      assertEquals(json.timedSteps, 2);
      assertEquals(json.throughput.steps, 3);
      assert(json.dispatches.length > 0 && json.adapter.key, "dispatches and adapter");
      assert(json.stages.every((s: { stage: string }) => !s.stage.startsWith("roots")), "adamw");
      const md = await Deno.readTextFile(`${dir}/p.md`);
      assert(md.includes("## GPU time by stage") && md.includes("| update"), md);

      const bad = await run([FILE, "--steps", "0"]);
      assertEquals(bad.code, 2);
      const msg = new TextDecoder().decode(bad.stderr);
      assert(msg.includes("--steps needs a positive integer") && !msg.includes("    at "), msg);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test("inspect names the layer whose kernels run each fused layer", gpuTest, async () => {
  let out = "";
  let err = "";
  const code = await main(["inspect", "examples/fashion_cnn.yaml"], {
    out: (s) => (out += s),
    err: (s) => (err += s),
  });
  assertEquals(code, 0, err);
  // bn1 runs the ReLU and the max pooling after it; the conv before it runs alone.
  const row = (type: string) => out.split("\n").filter((l) => new RegExp(`\\s${type}\\s`).test(l));
  assertEquals(row("maxpool2d").map((l) => l.trim().split(/\s+/).slice(-2).join(" ")), [
    "bn1 (fused)",
    "bn2 (fused)",
  ]);
  assertEquals(row("relu").map((l) => l.trim().split(/\s+/).slice(-2).join(" ")), [
    "bn1 (fused)",
    "bn2 (fused)",
  ]);
  assert(row("conv2d").every((l) => !l.includes("(fused)")), out);
});
