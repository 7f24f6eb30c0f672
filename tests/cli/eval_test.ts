/**
 * `eval`: every error path (no directory, no checkpoint, a damaged pointer,
 * weights or sidecar) is one clear line; a trained tiny run evaluates to the
 * numbers its own final evaluation logged.
 */
import { main } from "../../cli/main.ts";
import { evaluateCheckpoint, loadRunSpecFile } from "../../mod.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest } from "../util.ts";

async function run(args: string[]) {
  let out = "", err = "";
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const TINY = "tests/fixtures/cli/tiny.yaml";
const ROOT = ".cache/cli-test/eval";

function expectUserError(r: { code: number; err: string }, ...parts: string[]) {
  assertEquals(r.code, 1, r.err);
  assert(r.err.startsWith("error: "), `a user error, not an internal one: ${r.err}`);
  assert(!r.err.includes("    at "), "no stack trace");
  for (const p of parts) assert(r.err.includes(p), `"${p}" in: ${r.err}`);
}

Deno.test("eval needs --checkpoint, and a directory that has one", async () => {
  const a = await run(["eval", TINY]);
  assertEquals(a.code, 2);
  assert(a.err.includes("required option '--checkpoint <dir>' not specified"), a.err);
  expectUserError(
    await run(["eval", TINY, "--checkpoint", `${ROOT}/nowhere`]),
    `${ROOT}/nowhere: no such directory`,
  );
  expectUserError(
    await run(["eval", TINY, "--checkpoint", "tests/fixtures"]),
    "tests/fixtures: no checkpoint found (expected tests/fixtures/latest.json or tests/fixtures/checkpoints/latest.json",
  );
});

Deno.test("damaged checkpoints are reported as such", async () => {
  const dir = `${ROOT}/damaged`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const eval_ = () => run(["eval", TINY, "--checkpoint", dir]);
  // latest.json that is not JSON
  Deno.writeTextFileSync(`${dir}/latest.json`, "{step:");
  expectUserError(await eval_(), `${dir}/latest.json`, "cannot read the latest-checkpoint pointer");
  // a pointer to a checkpoint that is gone
  Deno.writeTextFileSync(`${dir}/latest.json`, '{"step": 6}\n');
  expectUserError(await eval_(), "the latest checkpoint cannot be read", "ckpt-00000006");
  // a truncated weights file
  Deno.writeFileSync(
    `${dir}/ckpt-00000006.safetensors`,
    new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 123]),
  );
  expectUserError(
    await eval_(),
    `${dir}/ckpt-00000006.safetensors: not a valid safetensors file: header length 200 does not fit in 9 bytes`,
  );
  // whole weights, sidecar not JSON
  const header = new TextEncoder().encode('{"__metadata__":{}}     ');
  const bytes = new Uint8Array(8 + header.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  Deno.writeFileSync(`${dir}/ckpt-00000006.safetensors`, bytes);
  Deno.writeTextFileSync(`${dir}/ckpt-00000006.json`, "not json");
  expectUserError(await eval_(), "the latest checkpoint cannot be read");
});

Deno.test(
  "eval of a trained run gives its logged final test loss and accuracy; another model is refused",
  gpuTest,
  async () => {
    const dir = `${ROOT}/trained`;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    // Trained with sgdm: eval builds no optimizer, so the file's adamw_bk does not matter.
    const t = await run([
      "train",
      TINY,
      "--quiet",
      "--out",
      dir,
      "--set",
      "optimizer={name: sgdm, lr: 0.05}",
    ]);
    assertEquals(t.code, 0, t.err);
    const evals = Deno.readTextFileSync(`${dir}/metrics.jsonl`).trim().split("\n")
      .map((l) => JSON.parse(l)).filter((l) => l.kind === "eval");
    for (const where of [dir, `${dir}/checkpoints`, `${dir}/best/`]) {
      const r = await run(["eval", TINY, "--checkpoint", where]);
      assertEquals(r.code, 0, r.err);
      const m =
        /test loss (\d+\.\d+), test accuracy (\d+\.\d+)% \((\d+) samples\) from the checkpoint at step (\d+)/
          .exec(r.out);
      assert(m, r.out);
      // best/ holds the epoch with the best accuracy, the others the last (step 12).
      const step = where.includes("best")
        ? JSON.parse(Deno.readTextFileSync(`${dir}/best/latest.json`)).step
        : 12;
      assertEquals(Number(m[4]), step, r.out);
      const logged = evals.find((e) => e.globalStep === step);
      // Same weights, same kernels, same batches: equal up to the printed digits.
      assertEquals(m[1], logged.loss.toFixed(4), "loss");
      assertEquals(m[2], (100 * logged.accuracy).toFixed(2), "accuracy");
      assertEquals(m[3], "19", "tiny.yaml: 96 samples → 19 test samples");
    }
    // The same from code, through mod.ts: the numbers the run logged, to float32 rounding.
    const r = await evaluateCheckpoint(await loadRunSpecFile(TINY), dir);
    const last = evals.find((e) => e.globalStep === 12);
    assertEquals([r.step, r.samples, r.folder], [12, 19, `${dir}/checkpoints`]);
    assert(
      Math.abs(r.loss - last.loss) <= 1e-6 * Math.max(1, last.loss),
      `${r.loss} vs ${last.loss}`,
    );
    assertEquals(r.accuracy, last.accuracy);
    const other = await run([
      "eval",
      TINY,
      "--checkpoint",
      dir,
      "--set",
      "model.layers.0.out=5",
    ]);
    expectUserError(other, "the checkpoint does not match this run", '"conv.weight" has shape');
  },
);
