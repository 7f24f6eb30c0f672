import { assertThrows } from "../assert.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { clipGradNorm } from "../../lib/kernels/reduce/clip.ts";
import { clipGradNormRef } from "../ref/optim.ts";
import { assertClose, download, f32, gpuTest, randn, upload, withArena } from "../util.ts";

/**
 * The f32 sum of squares of n values errs by at most n·2^-24 relative (all
 * terms positive); the square root halves that, and the division, min and
 * product add a few ulp: 106 values give ≤ 3.2e-6, so rtol 1e-5 holds.
 */
const TOL = { atol: 0, rtol: 1e-5 };

Deno.test(
  "clipGradNorm: scales every gradient by min(1, max/(‖g‖+1e-6)) like the float64 reference",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const values = [37, 64, 5].map((n, i) => f32(randn(40 + i, n, 2)));
      const norm = Math.sqrt(values.reduce((s, g) => s + g.reduce((a, v) => a + v * v, 0), 0));
      for (const maxNorm of [0.5 * norm, 10 * norm]) {
        const grads = values.map((v, i) => upload(gpu, arena, `g${i}`, [v.length], v));
        const { commands, sumsq } = clipGradNorm(gpu, arena, grads, maxNorm);
        submit(gpu, commands);
        const want = clipGradNormRef(values, maxNorm);
        for (let i = 0; i < grads.length; i++) {
          assertClose(await download(gpu, grads[i]), want[i], TOL, `g${i} max ${maxNorm}`);
        }
        assertClose(await download(gpu, sumsq), [norm * norm], TOL, "sum of squares");
      }
    }),
);

Deno.test(
  "clipGradNorm: a max norm that is not positive is refused",
  gpuTest,
  () =>
    withArena((gpu, arena) => {
      const g = arena.tensor("g", [4]);
      for (const bad of [0, -1, NaN]) {
        assertThrows(() => clipGradNorm(gpu, arena, [g], bad), RangeError, "clip_grad_norm");
      }
      return Promise.resolve();
    }),
);
