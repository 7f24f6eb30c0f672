import { assert, assertEquals, assertThrows } from "../assert.ts";
import { syntheticDataset } from "../../lib/data/synthetic.ts";
import { channelStats, type Dataset, validateSplit } from "../../lib/data/dataset.ts";

/** Test accuracy of the nearest class mean (means estimated on the train split). */
function nearestMeanAccuracy(ds: Dataset): number {
  const size = ds.train.images.length / ds.train.count;
  const means = new Float64Array(ds.classes * size);
  const counts = new Float64Array(ds.classes);
  for (let i = 0; i < ds.train.count; i++) {
    const l = ds.train.labels[i];
    counts[l]++;
    for (let p = 0; p < size; p++) means[l * size + p] += ds.train.images[i * size + p];
  }
  for (let l = 0; l < ds.classes; l++) {
    for (let p = 0; p < size; p++) means[l * size + p] /= counts[l];
  }
  let right = 0;
  for (let i = 0; i < ds.test.count; i++) {
    let best = -1, bestD = Infinity;
    for (let l = 0; l < ds.classes; l++) {
      let d = 0;
      for (let p = 0; p < size; p++) d += (ds.test.images[i * size + p] - means[l * size + p]) ** 2;
      if (d < bestD) [best, bestD] = [l, d];
    }
    if (best === ds.test.labels[i]) right++;
  }
  return right / ds.test.count;
}

Deno.test("synthetic data: shapes, balanced labels, seeded, consistent normalisation", () => {
  const opts = { inputShape: [6, 5, 2], classes: 3, trainCount: 31, testCount: 7, seed: 8 };
  const ds = syntheticDataset(opts);
  validateSplit("train", ds.train, ds.inputShape, ds.classes);
  validateSplit("test", ds.test, ds.inputShape, ds.classes);
  assertEquals(ds.train.images.length, 31 * 60);
  assertEquals(Array.from(ds.train.labels.subarray(0, 6)), [0, 1, 2, 0, 1, 2]);
  assertEquals(syntheticDataset(opts), ds);
  const other = syntheticDataset({ ...opts, seed: 9 });
  assert(other.train.images.some((v, i) => v !== ds.train.images[i]));
  assertEquals(ds.normalization, { scale: 1, ...channelStats(ds.train, ds.inputShape) });
  assertThrows(() => syntheticDataset({ ...opts, classes: 1 }), RangeError, "classes");
  assertThrows(() => syntheticDataset({ ...opts, inputShape: [6, 5] }), RangeError, "[H, W, C]");
});

Deno.test("synthetic data is learnable and noise sets the difficulty", () => {
  const base = { inputShape: [8, 8, 1], classes: 4, trainCount: 200, testCount: 200, seed: 3 };
  // Prototype distance ≈ √(64·2·½) = 8 against per-pixel noise 1: nearly separable.
  const easy = nearestMeanAccuracy(syntheticDataset({ ...base, noise: 1 }));
  assert(easy > 0.95, `noise 1: accuracy ${easy}`);
  // Noise 20 shrinks the margin to ~0.2 sd: close to chance (0.25).
  const hard = nearestMeanAccuracy(syntheticDataset({ ...base, noise: 20 }));
  assert(hard < 0.6, `noise 20: accuracy ${hard}`);
});
