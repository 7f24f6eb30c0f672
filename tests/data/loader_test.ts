import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  BatchLoader,
  epochPermutation,
  gatherBatch,
  validationSplit,
} from "../../lib/data/loader.ts";
import type { Split } from "../../lib/data/dataset.ts";

function isPermutation(p: Uint32Array): boolean {
  const seen = new Uint8Array(p.length);
  for (const v of p) {
    if (v >= p.length || seen[v]) return false;
    seen[v] = 1;
  }
  return true;
}

Deno.test("epochPermutation is a permutation, deterministic per (seed, epoch), differs otherwise", () => {
  for (const n of [0, 1, 2, 7, 1000, 60001]) {
    const a = epochPermutation(n, 42, 3);
    assert(isPermutation(a), `n=${n}`);
    assertEquals(epochPermutation(n, 42, 3), a);
    if (n >= 7) {
      assert(
        epochPermutation(n, 42, 4).some((v, i) => v !== a[i]),
        `epoch changes the order (n=${n})`,
      );
      assert(
        epochPermutation(n, 43, 3).some((v, i) => v !== a[i]),
        `seed changes the order (n=${n})`,
      );
    }
  }
  // Writing into a caller's buffer returns that buffer.
  const buf = new Uint32Array(10);
  assert(epochPermutation(10, 1, 0, buf) === buf);
  assertThrows(
    () => epochPermutation(10, 1, 0, new Uint32Array(9)),
    RangeError,
    "out has length 9",
  );
});

Deno.test("epochPermutation is pinned (resume across versions depends on it)", () => {
  // Golden values: a change here silently changes every run's data order.
  assertEquals(Array.from(epochPermutation(10, 1, 0)), Array.from(GOLDEN_SEED1_EPOCH0));
});
// Recorded from the implementation at the time the order was fixed.
const GOLDEN_SEED1_EPOCH0 = Uint32Array.from([5, 6, 0, 1, 3, 4, 2, 9, 7, 8]);

Deno.test("epochPermutation is uniform: all 6 orders of 3 items about equally often", () => {
  const counts = new Map<string, number>();
  const epochs = 6000;
  for (let e = 0; e < epochs; e++) {
    const k = epochPermutation(3, 7, e).join("");
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  assertEquals(counts.size, 6); // a Sattolo-style off-by-one gives only 2 cyclic orders
  // Each count is Binomial(6000, 1/6): mean 1000, sd 29; ±200 is a 7-sd bound.
  for (const [k, c] of counts) assert(Math.abs(c - 1000) < 200, `order ${k} seen ${c} times`);
});

Deno.test("BatchLoader visits every sample once per epoch; last batch short unless dropLast", () => {
  const n = 23, b = 5;
  const full = new BatchLoader({ samples: n, batchSize: b, seed: 9 });
  assertEquals(full.stepsPerEpoch, 5);
  const seen: number[] = [];
  for (let s = 0; s < full.stepsPerEpoch; s++) {
    const batch = full.batch(2, s);
    assertEquals(batch.length, s < 4 ? 5 : 3);
    assertEquals(full.batchLength(s), batch.length);
    seen.push(...batch);
  }
  assertEquals(seen, Array.from(full.order(2)));
  assertEquals([...seen].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i));
  const drop = new BatchLoader({ samples: n, batchSize: b, seed: 9, dropLast: true });
  assertEquals(drop.stepsPerEpoch, 4);
  assertEquals(drop.batch(2, 3), full.batch(2, 3)); // same order, last full batch
  assertThrows(() => drop.batch(2, 4), RangeError, "step must be an integer in [0, 4)");
  assertThrows(
    () => new BatchLoader({ samples: 3, batchSize: 4, seed: 0, dropLast: true }),
    RangeError,
    "no batch",
  );
  assertThrows(
    () => new BatchLoader({ samples: 3, batchSize: 0, seed: 0 }),
    RangeError,
    "batchSize",
  );
});

Deno.test("BatchLoader reuses its batch arrays (no per-step allocation)", () => {
  const l = new BatchLoader({ samples: 10, batchSize: 4, seed: 1 });
  const a = l.batch(0, 0);
  assert(l.batch(0, 1) === a && l.batch(1, 0) === a, "full batches share one array");
  const t = l.batch(0, 2);
  assertEquals(t.length, 2);
  assert(l.batch(5, 2) === t, "the short batch has its own reused array");
  assert(l.order(0) === l.order(1), "the epoch order buffer is reused");
});

Deno.test("BatchLoader: subsets, no shuffle, and exact resume from a global step", () => {
  const subset = Uint32Array.from([100, 3, 50, 7, 8, 9, 11]);
  const l = new BatchLoader({ samples: subset, batchSize: 3, seed: 5 });
  const all = new Set<number>();
  for (let s = 0; s < l.stepsPerEpoch; s++) l.batch(0, s).forEach((v) => all.add(v));
  assertEquals([...all].sort((a, b) => a - b), [3, 7, 8, 9, 11, 50, 100]);
  const plain = new BatchLoader({ samples: subset, batchSize: 3, seed: 5, shuffle: false });
  assertEquals(Array.from(plain.order(4)), Array.from(subset));
  // An uninterrupted run over 3 epochs vs a fresh loader started at global step 4.
  const run = (loader: BatchLoader, from: number, to: number) => {
    const out: number[][] = [];
    for (let g = from; g < to; g++) {
      const { epoch, step } = loader.locate(g);
      out.push(Array.from(loader.batch(epoch, step)));
    }
    return out;
  };
  const total = 3 * l.stepsPerEpoch;
  const straight = run(l, 0, total);
  const resumed = run(new BatchLoader({ samples: subset, batchSize: 3, seed: 5 }), 4, total);
  assertEquals(resumed, straight.slice(4));
  assertEquals(l.locate(7), { epoch: 2, step: 1 });
});

Deno.test("validationSplit: tail by default, seeded subset otherwise; disjoint and complete", () => {
  const tail = validationSplit(10, { fraction: 0.25 });
  assertEquals(Array.from(tail.validation), [8, 9]);
  assertEquals(Array.from(tail.train), [0, 1, 2, 3, 4, 5, 6, 7]);
  const a = validationSplit(100, { count: 13, seed: 4 });
  assertEquals(a.validation.length, 13);
  assertEquals(a, validationSplit(100, { count: 13, seed: 4 }));
  const merged = [...a.train, ...a.validation].sort((x, y) => x - y);
  assertEquals(merged, Array.from({ length: 100 }, (_, i) => i));
  assert(
    Array.from(a.validation).join() !== "87,88,89,90,91,92,93,94,95,96,97,98,99",
    "seeded is not the tail",
  );
  assert(validationSplit(100, { count: 13, seed: 5 }).validation.join() !== a.validation.join());
  assertThrows(() => validationSplit(10, { fraction: 0.05 }), RangeError, "got 0");
  assertThrows(() => validationSplit(10, { count: 10 }), RangeError, "[1, 9]");
});

Deno.test("gatherBatch copies images and f32 labels into preallocated arrays", () => {
  const size = 3;
  const split: Split = {
    images: Uint8Array.from({ length: 5 * size }, (_, i) => i * 2),
    labels: Uint8Array.from([4, 3, 2, 1, 0]),
    count: 5,
  };
  const img = new Float32Array(4 * size).fill(-1);
  const lbl = new Float32Array(4).fill(-1);
  gatherBatch(split, size, [4, 0, 2], img, lbl, 0.5);
  assertEquals(Array.from(img), [12, 13, 14, 0, 1, 2, 6, 7, 8, -1, -1, -1]);
  assertEquals(Array.from(lbl), [0, 4, 2, -1]);
  const raw = new Uint8Array(2 * size);
  gatherBatch(split, size, [1, 1], raw, lbl);
  assertEquals(Array.from(raw), [6, 8, 10, 6, 8, 10]);
  assertThrows(
    () => gatherBatch(split, size, [5], img, lbl),
    RangeError,
    "index 5 at batch position 0",
  );
  assertThrows(() => gatherBatch(split, size, [0, 1, 2, 3, 4], img, lbl), RangeError, "too small");
});
