/**
 * Crash safety of checkpoints: a child Deno process writes checkpoints in a
 * loop and is killed with SIGKILL at random moments (most of its time is
 * spent inside writeCheckpoint, so most kills land mid-write); after every
 * kill the checkpoint latest.json points at must decode, hold exactly the
 * expected tensors, and carry the values of its step. The child restarts
 * from that checkpoint each round, so leftovers of a torn write (temporary
 * files) must not disturb the next run either, and its first write removes
 * them.
 *
 * Permissions: the child is started as `deno` from PATH, which the test
 * task allows with `--allow-run=deno` (Deno resolves the name on PATH at
 * startup; `Deno.execPath()` would need run access to an absolute path that
 * deno.json cannot know). The child gets read/write access to its folder only.
 */
import { readLatestCheckpoint } from "../../lib/train/checkpoint.ts";
import { Rng } from "../../lib/util/rng.ts";
import { CRASH_TENSORS, crashValue } from "../fixtures/cli/checkpoint_writer.ts";
import { assert, assertEquals } from "../assert.ts";
import { childEnv } from "../../lib/util/subprocess.ts";

const DIR = ".cache/crash-test";
/** At least this many kills, and more (up to MAX_ROUNDS) until two landed mid-file-write. */
const MIN_ROUNDS = 10;
const MAX_ROUNDS = 30;

/** Collects the child's stdout lines as they arrive. */
function lines(stream: ReadableStream<Uint8Array<ArrayBuffer>>) {
  const seen: string[] = [];
  let waiters: (() => void)[] = [];
  const done = (async () => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        seen.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      waiters.forEach((w) => w());
      waiters = [];
    }
  })();
  const until = async (pred: (l: string) => boolean, what: string) => {
    const t0 = performance.now();
    while (!seen.some(pred)) {
      if (performance.now() - t0 > 20_000) throw new Error(`child never printed ${what}`);
      await Promise.race([
        new Promise<void>((r) => waiters.push(r)),
        new Promise((r) => setTimeout(r, 100)),
      ]);
    }
  };
  return { seen, until, done };
}

Deno.test("a checkpoint writer killed with SIGKILL at random moments always leaves a whole latest checkpoint", async () => {
  await Deno.remove(DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(DIR, { recursive: true });
  const rng = new Rng(2024, 3);
  let lastStep = 0;
  let midWrite = 0;
  let round = 0;
  for (; round < MAX_ROUNDS && (round < MIN_ROUNDS || midWrite < 2); round++) {
    const child = new Deno.Command("deno", {
      args: [
        "run",
        "--no-prompt",
        `--allow-read=${DIR}`,
        `--allow-write=${DIR}`,
        "tests/fixtures/cli/checkpoint_writer.ts",
        DIR,
      ],
      env: childEnv(),
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const out = lines(child.stdout);
    await out.until((l) => l.startsWith("ready"), '"ready"');
    // Measure the loop's period over a few checkpoints, then, right after a
    // checkpoint completes, sleep a random fraction of a period: even rounds
    // anywhere in the cycle, odd rounds in its second half, where the file
    // writes are (filling and reading back the tensors come first).
    const wrote = () => out.seen.filter((l) => l.startsWith("wrote")).length;
    const times: number[] = [];
    for (let k = 0; k < 4; k++) {
      const n = wrote();
      await out.until(() => wrote() > n, '"wrote"');
      times.push(performance.now());
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
    const period = gaps[1];
    const u = rng.next();
    await new Promise((r) => setTimeout(r, period * (round % 2 ? 0.5 + 0.5 * u : u)));
    child.kill("SIGKILL");
    const status = await child.status;
    await out.done;
    assertEquals(status.signal, "SIGKILL", "the child was killed, not finished");

    const printed = out.seen.filter((l) => l.startsWith("wrote")).map((l) => Number(l.slice(6)));
    // A kill between opening a temporary file and renaming it leaves the file;
    // those of earlier rounds' children are gone (this child wrote after them).
    const temps = [...Deno.readDirSync(DIR)].filter((e) => e.name.includes(".tmp-"));
    const stale = temps.filter((e) => !e.name.endsWith(`.tmp-${child.pid}`));
    assertEquals(stale.map((e) => e.name), [], "temporary files of killed writers are removed");
    if (temps.length > 0) midWrite++;

    const ckpt = await readLatestCheckpoint(DIR);
    const step = ckpt.meta.step;
    // A printed "wrote s" means latest.json had been replaced with s before.
    assert(step >= Math.max(lastStep, ...printed), `latest step ${step} went backwards`);
    assertEquals(
      [...ckpt.tensors.keys()].sort(),
      Object.keys(CRASH_TENSORS).sort(),
      "tensor names",
    );
    for (const [name, shape] of Object.entries(CRASH_TENSORS)) {
      const t = ckpt.tensors.get(name)!;
      assertEquals(t.shape, shape, `${name} shape`);
      for (let i = 0; i < t.data.length; i++) {
        // Exact: integers below 2^24 are exact in f32, and nothing computes on them.
        if (t.data[i] !== crashValue(step, i)) {
          throw new Error(`${name}[${i}] = ${t.data[i]} in the checkpoint of step ${step}`);
        }
      }
    }
    lastStep = step;
  }
  // If no kill ever landed inside a write, the test exercised nothing.
  assert(midWrite > 0, `none of ${round} kills interrupted a file write`);
  console.log(`${midWrite}/${round} kills interrupted a file write; last step ${lastStep}`);
});
