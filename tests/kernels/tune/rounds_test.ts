/**
 * Timing in rounds with injected timings: the fastest wins, the warm-up is
 * not scored, batches are calibrated to the timer's target, slow candidates
 * are dropped, noise is resisted, and the deadline stops further rounds.
 */
import { assertEquals } from "../../assert.ts";
import { DROP_FACTOR, timeInRounds } from "../../../lib/kernels/tune/rounds.ts";
import { fakeFamily, fakeGpu, fakeTimers } from "./fakes.ts";

const family = fakeFamily("test.rounds", { variants: [], heuristic: "a", version: 1 });
const P = { n: 1 };

async function timerFor(
  ms: (name: string, round: number) => number,
  names: string[],
  opts: { targetBatchMs?: number; maxReps?: number } = {},
) {
  const fake = fakeTimers((n, r) => ms(n, r), undefined, opts);
  const timer = await fake.factory(fakeGpu(), family, P, names);
  return { timer, fake, reps: (name: string) => fake.log.reps.get("n1")!.get(name)! };
}

Deno.test("rounds: the fastest wins; the warm-up round is not scored", async () => {
  // Round 0 (warm-up) makes b look 100x slower; scored rounds say b is fastest.
  const base: Record<string, number> = { a: 2, b: 1, c: 3 };
  const { timer, reps } = await timerFor((n, r) => (r === 0 && n === "b" ? 100 : base[n]), [
    "a",
    "b",
    "c",
  ]);
  const t = await timeInRounds(["a", "b", "c"], timer, { samples: 4 });
  assertEquals(t, { a: 2, b: 1, c: 3 });
  // warm-up + calibration + 3 scored rounds each (none is 4x the leader).
  assertEquals(reps("a").length, 5);
  assertEquals(reps("b").length, 5);
});

Deno.test(`rounds: a candidate over ${DROP_FACTOR}x the leader gets no scored rounds`, async () => {
  const base: Record<string, number> = { fast: 1, ok: 3.9, slow: 4.5 };
  const { timer, reps } = await timerFor((n) => base[n], ["fast", "ok", "slow"]);
  const t = await timeInRounds(["fast", "ok", "slow"], timer, { samples: 4 });
  assertEquals(t, base, "dropped candidates keep their calibration time");
  assertEquals(reps("slow").length, 2, "warm-up and calibration only");
  assertEquals(reps("ok").length, 5);
});

Deno.test("rounds: batches grow until they reach the timer's target length", async () => {
  // Target 10 ms: a 0.5 ms run needs 20+ runs per batch, a 1.5 ms run 7+.
  const base: Record<string, number> = { quick: 0.5, long: 1.5 };
  const { timer, reps } = await timerFor((n) => base[n], ["quick", "long"], {
    targetBatchMs: 10,
    maxReps: 1000,
  });
  await timeInRounds(["quick", "long"], timer, { samples: 2 });
  // warm-up 1, calibration 1 → 0.5 ms < 10: next max(2, ceil(12/0.5)) = 24 ≥ 20:
  // calibrated; the scored round keeps that length.
  assertEquals(reps("quick"), [1, 1, 24, 24]);
  assertEquals(reps("long"), [1, 1, 8, 8]);
});

Deno.test("rounds: the fastest batch of noisy rounds counts; unmeasurable candidates are left out", async () => {
  const noisy = [9, 3, 3, 1.5, 3]; // round 3 is the quiet one
  const { timer } = await timerFor(
    (n, r) => (n === "noisy" ? noisy[r] : n === "broken" ? NaN : 2),
    ["steady", "noisy", "broken"],
  );
  const t = await timeInRounds(["steady", "noisy", "broken"], timer, { samples: 4 });
  assertEquals(t, { steady: 2, noisy: 1.5 });
});

Deno.test("rounds: no scored round starts after the deadline (calibration always completes)", async () => {
  const fake = fakeTimers(() => 1);
  const timer = await fake.factory(fakeGpu(), family, P, ["a", "b"]);
  // Each fake round costs 10 ms of wait + 1 ms per run: after warm-up and
  // calibration the clock reads 24 ms, past the 15 ms deadline.
  const t = await timeInRounds(["a", "b"], timer, {
    samples: 10,
    deadline: 15,
    now: fake.clock.now,
  });
  assertEquals(t, { a: 1, b: 1 });
  assertEquals(fake.log.reps.get("n1")!.get("a")!.length, 2);
});
