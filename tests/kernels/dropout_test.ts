import { assert, assertEquals, assertThrows } from "../assert.ts";
import { submit } from "../../lib/gpu/commands.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { Tensor } from "../../lib/gpu/tensor.ts";
import { Uniforms } from "../../lib/gpu/uniforms.ts";
import { dropoutBackward, dropoutForward } from "../../lib/kernels/elementwise/dropout.ts";
import { uniform01 } from "../../lib/util/rng.ts";
import { dropoutApplyRef, dropoutMaskRef } from "../ref/dropout.ts";
import { assertClose, download, f32, gpuTest, randn, upload, withArena } from "../util.ts";

// x·f32(1/(1−p)) vs x/(1−p): the reciprocal's rounding plus the product's, ≤ 2^-23 relative.
const SCALE_TOL = { atol: 0, rtol: 2 ** -23 };

/** Asserts the GPU's kept set is exactly the reference mask (inputs must be nonzero). */
function assertMask(got: ArrayLike<number>, keep: Uint8Array, what: string): void {
  for (let i = 0; i < keep.length; i++) {
    if ((got[i] !== 0) !== (keep[i] === 1)) {
      throw new Error(
        `${what}: element ${i} is ${got[i]} but the reference ${keep[i] ? "keeps" : "drops"} it`,
      );
    }
  }
}

/** Nonzero data, so a zero output always means "dropped". */
function nonzero(seed: number, n: number): Float64Array {
  return f32(randn(seed, n).map((v) => (Math.abs(v) < 1e-3 ? 1 : v)));
}

function seedBlock(gpu: Gpu): Uniforms<"lr" | "seed"> {
  // An extra field first: the kernel must read "seed" by name, not at offset 0.
  return new Uniforms(gpu, "step", [["lr", "f32"], ["seed", "u32"]]);
}

Deno.test(
  "dropout mask matches the CPU reference bit for bit; backward reuses it",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (
        const [n, variant] of [[100003, undefined], [1000, "vec4"], [1000, "scalar"], [
          1,
          undefined,
        ]] as const
      ) {
        const p = 0.3, seed = 12345, stream = 7;
        const xv = nonzero(n, n);
        const dyv = nonzero(n + 1, n);
        const x = upload(gpu, arena, "x", [n], xv);
        const dy = upload(gpu, arena, "dy", [n], dyv);
        const y = arena.tensor("y", [n]);
        const dx = arena.tensor("dx", [n]);
        submit(gpu, [
          ...dropoutForward(gpu, { x, y, p, seed: { seed }, stream, variant }),
          ...dropoutBackward(gpu, { dy, dx, p, seed: { seed }, stream, variant }),
        ]);
        const keep = dropoutMaskRef(seed, stream, n, p);
        const what = `n=${n} ${variant ?? "auto"}`;
        const yv = await download(gpu, y);
        const dxv = await download(gpu, dx);
        assertMask(yv, keep, `forward ${what}`);
        assertMask(dxv, keep, `backward ${what}`);
        assertClose(yv, dropoutApplyRef(xv, keep, p), SCALE_TOL, `forward values ${what}`);
        assertClose(dxv, dropoutApplyRef(dyv, keep, p), SCALE_TOL, `backward values ${what}`);
      }
    }),
);

Deno.test(
  "an element whose draw equals p exactly is kept (keep ⇔ u ≥ p)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const n = 64, seed = 5, stream = 1, edge = 17;
      // Draws are multiples of 2^-24, exact in f32: use one of them as p.
      const p = uniform01(seed, stream, edge);
      const x = upload(gpu, arena, "x", [n], new Float32Array(n).fill(1));
      const y = arena.tensor("y", [n]);
      submit(gpu, dropoutForward(gpu, { x, y, p, seed: { seed }, stream }));
      const got = await download(gpu, y);
      assert(got[edge] !== 0, `element ${edge} with u = p = ${p} was dropped`);
      assertMask(got, dropoutMaskRef(seed, stream, n, p), "edge mask");
    }),
);

Deno.test(
  "dropout keep rate at p = 0.3 over 1e5 elements is 0.7 within 4σ",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const n = 100000, p = 0.3;
      const x = upload(gpu, arena, "x", [n], new Float32Array(n).fill(1));
      const y = arena.tensor("y", [n]);
      submit(gpu, dropoutForward(gpu, { x, y, p, seed: { seed: 99 }, stream: 1 }));
      const kept = (await download(gpu, y)).reduce((s, v) => s + (v !== 0 ? 1 : 0), 0);
      // Binomial(n, 0.7): σ = √(n·p·(1−p)) ≈ 145; 4σ makes a false alarm ~6e-5 likely.
      const sigma = Math.sqrt(n * p * (1 - p));
      assert(
        Math.abs(kept - n * (1 - p)) <= 4 * sigma,
        `kept ${kept} of ${n}, expected ${n * (1 - p)} ± ${4 * sigma}`,
      );
    }),
);

Deno.test(
  "a new uniform seed changes the mask without rebuilding the commands",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const n = 4096, p = 0.5, stream = 3;
      const xv = nonzero(1, n);
      const x = upload(gpu, arena, "x", [n], xv);
      const y = arena.tensor("y", [n]);
      const dx = arena.tensor("dx", [n]);
      const block = seedBlock(gpu);
      const cmds = [
        ...dropoutForward(gpu, { x, y, p, seed: block, stream }),
        ...dropoutBackward(gpu, { dy: x, dx, p, seed: block, stream }),
      ];
      const masks: Uint8Array[] = [];
      for (const seed of [1, 2, 0xfffffffe]) {
        block.set({ lr: 0.5, seed });
        submit(gpu, cmds);
        const keep = dropoutMaskRef(seed, stream, n, p);
        assertMask(await download(gpu, y), keep, `forward seed ${seed}`);
        assertMask(await download(gpu, dx), keep, `backward seed ${seed}`);
        masks.push(keep);
      }
      let differ = 0;
      for (let i = 0; i < n; i++) differ += masks[0][i] !== masks[1][i] ? 1 : 0;
      // Independent masks at p = 0.5 differ in half the places: ~2048 ± 32.
      assert(differ > n / 4, `seeds 1 and 2 gave masks differing in only ${differ} places`);
    }),
);

Deno.test(
  "streams give different masks; p = 0 copies, p = 1 zeros; in place",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const n = 1000;
      const xv = nonzero(4, n);
      const x = upload(gpu, arena, "x", [n], xv);
      const run = async (p: number, stream: number, out: Tensor = arena.tensor("y", [n])) => {
        submit(gpu, dropoutForward(gpu, { x, y: out, p, seed: { seed: 5 }, stream }));
        return await download(gpu, out);
      };
      const a = await run(0.5, 1);
      const b = await run(0.5, 2);
      assert(a.some((v, i) => (v === 0) !== (b[i] === 0)), "streams 1 and 2 gave the same mask");
      assertEquals(await run(0, 1), xv, "p = 0 is the identity");
      assertEquals(await run(1, 1), new Float64Array(n), "p = 1 drops everything");
      const inPlace = await run(0.5, 1, x);
      assertEquals(inPlace, a, "in place equals out of place");
    }),
);

Deno.test(
  "dropout rejects bad p, stream, seed blocks and sizes",
  gpuTest,
  () =>
    withArena((gpu, arena) => {
      const x = arena.tensor("x", [10]);
      const y = arena.tensor("y", [11]);
      const seed = { seed: 1 };
      assertThrows(
        () => dropoutForward(gpu, { x, y: x, p: 1.5, seed, stream: 0 }),
        RangeError,
        "p must",
      );
      assertThrows(
        () => dropoutForward(gpu, { x, y: x, p: 0.1, seed, stream: -1 }),
        RangeError,
        "stream",
      );
      assertThrows(
        () => dropoutForward(gpu, { x, y: x, p: 0.1, seed: { seed: 2 ** 32 }, stream: 0 }),
        RangeError,
        "seed",
      );
      assertThrows(
        () => dropoutForward(gpu, { x, y, p: 0.1, seed, stream: 0 }),
        RangeError,
        '"y" [11]',
      );
      const noSeed = new Uniforms(gpu, "u", [["lr", "f32"]]);
      assertThrows(
        () => dropoutBackward(gpu, { dy: x, dx: x, p: 0.1, seed: noSeed, stream: 0 }),
        RangeError,
        '"seed"',
      );
      const f32Seed = new Uniforms(gpu, "u", [["seed", "f32"]]);
      assertThrows(
        () => dropoutBackward(gpu, { dy: x, dx: x, p: 0.1, seed: f32Seed, stream: 0 }),
        RangeError,
        "u32",
      );
      return Promise.resolve();
    }),
);
