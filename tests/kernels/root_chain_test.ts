/**
 * Batched inverse-root chains against per-factor chains and float64: power
 * iteration and normalisers (both variants), batches of odd and mixed sizes,
 * the symmetric-product variants of the `root.chain` family, and the
 * independence of the factors of one batch (a rejected factor leaves the
 * others alone).
 */
import { readTensor, writeTensor } from "../../lib/gpu/transfer.ts";
import { submit } from "../../lib/gpu/commands.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";
import {
  S_ACCEPTED,
  S_LAMBDA,
  S_NORM,
  S_REJECTED,
  SCALAR_SLOTS,
} from "../../lib/kernels/linalg/linalg.ts";
import { powerIteration } from "../../lib/kernels/linalg/power.ts";
import { planSlabs } from "../../lib/kernels/linalg/symmetric.ts";
import { ROOT_CHAIN } from "../../lib/kernels/linalg/chain_family.ts";
import {
  batchedRoots,
  matrixRoot,
  ROOT_DEFAULTS,
  type RootOptions,
  rootScalars,
  RootWorkspaces,
} from "../../lib/optim/inverse_root.ts";
import { assert } from "../assert.ts";
import {
  matrixFunction,
  referenceInverseSqrt,
  referencePowerIteration,
  spdWithEigenvalues,
} from "../ref/linalg.ts";
import { assertClose, download, f32, gpuTest, randn, testGpu, upload, withArena } from "../util.ts";

function logSpaced(n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, (_, i) => lo * Math.pow(hi / lo, i / (n - 1)));
}

/** An SPD d×d matrix with eigenvalues from 1 down to `floor`, rounded to f32. */
function factor(d: number, seed: number, floor = 3e-3): Float64Array {
  return f32(spdWithEigenvalues(logSpaced(d, 1, floor), seed));
}

/** XᵀX/n of n = ⌊d/3⌋ random rows, rounded to f32: rank-deficient like a layer's R. */
function lowRankGram(d: number, seed: number): Float64Array {
  const n = Math.floor(d / 3);
  const X = randn(seed, n * d);
  const m = new Float64Array(d * d);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) m[i * d + j] += (X[k * d + i] * X[k * d + j]) / n;
    }
  }
  return f32(m);
}

function uploadAll(gpu: Gpu, arena: BufferArena, mats: Float64Array[], d: number, tag: string) {
  return mats.map((m, i) => ({
    A: upload(gpu, arena, `${tag}.A${i}`, [d, d], m),
    out: arena.tensor(`${tag}.out${i}`, [d, d]),
  }));
}

async function batch(
  gpu: Gpu,
  arena: BufferArena,
  mats: Float64Array[],
  d: number,
  options: RootOptions,
  variant?: string,
) {
  const factors = uploadAll(gpu, arena, mats, d, `b${d}${variant ?? ""}`);
  const scalars = arena.tensor(`b${d}.scalars`, [mats.length, SCALAR_SLOTS]);
  const r = batchedRoots(gpu, {
    factors,
    d,
    which: "inverse_sqrt",
    options,
    scalars,
    workspaces: new RootWorkspaces(arena),
    label: "batch",
    variant,
  });
  submit(gpu, r.commands);
  const roots = [];
  for (const f of factors) roots.push(await download(gpu, f.out));
  return { roots, scalars: await download(gpu, scalars), variant: r.variant };
}

async function single(gpu: Gpu, arena: BufferArena, m: Float64Array, d: number, o: RootOptions) {
  const [f] = uploadAll(gpu, arena, [m], d, `s${d}`);
  const scalars = rootScalars(arena, `s${d}`);
  const r = matrixRoot(gpu, {
    ...f,
    d,
    which: "inverse_sqrt",
    options: o,
    scalars,
    workspaces: new RootWorkspaces(arena),
    label: "single",
  });
  submit(gpu, r.commands);
  return { root: await download(gpu, f.out), scalars: await download(gpu, scalars) };
}

Deno.test(
  "batched reference roots equal per-factor roots and the float64 transcription (sizes 5, 7, 7, 5, 7)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const sizes = [5, 7, 7, 5, 7];
      const mats = sizes.map((d, i) => factor(d, 40 + i));
      for (const d of [5, 7]) {
        const idx = sizes.flatMap((s, i) => (s === d ? [i] : []));
        const b = await batch(gpu, arena, idx.map((i) => mats[i]), d, ROOT_DEFAULTS);
        for (const [k, i] of idx.entries()) {
          const s = await single(gpu, arena, mats[i], d, ROOT_DEFAULTS);
          // Same kernels, same per-element order of operations: any difference is
          // f32 rounding of the batch offsets' arithmetic, i.e. none or a few ulps.
          assertClose(b.roots[k], s.root, { atol: 1e-6, rtol: 1e-6 }, `d=${d} factor ${i}`);
          const lam = b.scalars[k * SCALAR_SLOTS + S_LAMBDA];
          assert(
            lam === s.scalars[S_LAMBDA],
            `d=${d} factor ${i}: λ̂ ${lam} vs ${s.scalars[S_LAMBDA]}`,
          );
          // As the existing reference-mode test: f32 through 10 iterations, entries O(1–50).
          const ref = referenceInverseSqrt(mats[i], d);
          assertClose(b.roots[k], ref, { atol: 1e-3, rtol: 1e-3 }, `d=${d} factor ${i} vs f64`);
        }
      }
    }),
);

Deno.test(
  "power iteration: fused and per-product variants agree with float64 for every factor of a batch",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const d = 37, count = 3;
      const mats = [0, 1, 2].map((i) =>
        f32(spdWithEigenvalues([4 + i, ...logSpaced(d - 1, 1, 0.01)], 60 + i))
      );
      const A = upload(gpu, arena, "A", [count, d, d], mats.flatMap((m) => [...m]));
      const work = {
        v: arena.tensor("v", [count, d]),
        w: arena.tensor("w", [count, d]),
        rows: arena.tensor("rows", [count, d, 2]),
      };
      for (const normaliser of ["trace", "upper_bound"] as const) {
        for (const fused of [true, false]) {
          const scalars = arena.tensor(`s.${normaliser}.${fused}`, [count, SCALAR_SLOTS]);
          submit(
            gpu,
            powerIteration(gpu, {
              A,
              d,
              count,
              rounds: 10,
              damping: 1e-3,
              normaliser,
              scalars,
              work,
              fused,
            }),
          );
          const s = await download(gpu, scalars);
          for (let f = 0; f < count; f++) {
            const m = mats[f];
            const lam = referencePowerIteration(m, d);
            const got = s[f * SCALAR_SLOTS + S_LAMBDA];
            // 20 f32 matrix–vector products of 37 terms: relative 1e-6; 1e-5 leaves room.
            assert(
              Math.abs(got - lam) / lam < 1e-5,
              `${normaliser}/${fused} f${f}: λ̂ ${got} vs ${lam}`,
            );
            let want: number;
            if (normaliser === "trace") {
              want = d * 1e-3 * lam;
              for (let i = 0; i < d; i++) want += m[i * d + i];
            } else {
              let inf = 0, fro = 0;
              for (let i = 0; i < d; i++) {
                let row = 0;
                for (let j = 0; j < d; j++) {
                  const x = m[i * d + j] + (i === j ? 1e-3 * lam : 0);
                  row += Math.abs(x);
                  fro += x * x;
                }
                inf = Math.max(inf, row);
              }
              want = Math.min(inf, Math.sqrt(fro)) * 1.0201;
            }
            const norm = s[f * SCALAR_SLOTS + S_NORM];
            // Sums of ≤ 37² f32 terms: 1e-5 relative.
            assert(
              Math.abs(norm - want) / want < 1e-5,
              `${normaliser}/${fused} f${f}: ${norm} vs ${want}`,
            );
          }
        }
      }
    }),
);

Deno.test(
  "converged batch: a non-finite factor is rejected alone, the others are accepted and accurate",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const d = 9;
      const damping = 1e-4;
      const good = [factor(d, 70, 1e-4), factor(d, 71, 1e-4)];
      const bad = new Float64Array(d * d).fill(NaN);
      const mats = [good[0], bad, good[1]];
      const factors = uploadAll(gpu, arena, mats, d, "conv");
      const previous = Float32Array.from({ length: d * d }, (_, i) => i + 0.5);
      writeTensor(gpu, factors[1].out, previous);
      const scalars = arena.tensor("conv.scalars", [3, SCALAR_SLOTS]);
      const options: RootOptions = { ...ROOT_DEFAULTS, method: "converged", damping };
      const r = batchedRoots(gpu, {
        factors,
        d,
        which: "inverse_sqrt",
        options,
        scalars,
        workspaces: new RootWorkspaces(arena),
        label: "conv",
      });
      submit(gpu, r.commands);
      const s = await download(gpu, scalars);
      const flags = [0, 1, 2].map((
        f,
      ) => [s[f * SCALAR_SLOTS + S_ACCEPTED], s[f * SCALAR_SLOTS + S_REJECTED]]);
      assert(
        JSON.stringify(flags) === "[[1,0],[0,1],[1,0]]",
        `accept/reject flags ${JSON.stringify(flags)}`,
      );
      assertClose(
        await readTensor(gpu, factors[1].out),
        previous,
        { atol: 0, rtol: 0 },
        "kept root",
      );
      for (const f of [0, 2]) {
        const m = mats[f];
        const lam = referencePowerIteration(m, d);
        const exact = matrixFunction(m, d, (x) => 1 / Math.sqrt(x + damping * lam));
        // As the single-factor converged test: relative Frobenius error ≤ 1e-3.
        const got = await download(gpu, factors[f].out);
        let num = 0, den = 0;
        for (let i = 0; i < d * d; i++) {
          num += (got[i] - exact[i]) ** 2;
          den += exact[i] ** 2;
        }
        assert(Math.sqrt(num / den) <= 1e-3, `factor ${f}: relative error ${Math.sqrt(num / den)}`);
      }
    }),
);

/** Sizes and batch counts where each slab variant has a valid plan on this device. */
const SYM_CASES: [string, number, number][] = [["sym2", 29, 1], ["sym4", 45, 1], ["sym2", 24, 3], [
  "sym4",
  40,
  2,
]];

Deno.test(
  "symmetric-product variants: exactly symmetric roots, equal to the full products and float64",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const align = gpu.limits.minStorageBufferOffsetAlignment / 4;
      for (const [variant, d, count] of SYM_CASES) {
        const problem = {
          d,
          count,
          steps: 10,
          quintic: false,
          checked: false,
          which: "inverse_sqrt" as const,
        };
        if (!planSlabs(d, count, Number(variant.slice(3)), align)) {
          assert(
            !ROOT_CHAIN.variants(gpu, problem).includes(variant),
            `${variant} listed but invalid`,
          );
          continue;
        }
        assert(
          ROOT_CHAIN.variants(gpu, problem).includes(variant),
          `${variant} ${count}×${d}² not listed`,
        );
        // The first case: a Gram matrix of rank d/3 (most eigenvalues ≈ 0), as
        // activations give; the others: SPD with eigenvalues down to 3e-3.
        const mats = Array.from(
          { length: count },
          (_, i) => (d === 29 ? lowRankGram(d, 80 + i) : factor(d, 80 + d + i)),
        );
        const full = await batch(gpu, arena, mats, d, ROOT_DEFAULTS, "full");
        const sym = await batch(gpu, arena, mats, d, ROOT_DEFAULTS, variant);
        for (let f = 0; f < count; f++) {
          const root = sym.roots[f];
          for (let i = 0; i < d; i++) {
            for (let j = 0; j < i; j++) {
              assert(
                root[i * d + j] === root[j * d + i],
                `${variant} d=${d}: root not symmetric at ${i},${j}`,
              );
            }
          }
          // The full products are symmetric only up to rounding; 10 iterations
          // of ≤ 45-term sums amplify that to ~1e-5 relative of entries O(1–50).
          assertClose(
            root,
            full.roots[f],
            { atol: 1e-4, rtol: 1e-4 },
            `${variant} d=${d} f${f} vs full`,
          );
          assertClose(
            root,
            referenceInverseSqrt(mats[f], d),
            { atol: 1e-3, rtol: 1e-3 },
            `${variant} vs f64`,
          );
        }
      }
      // Not for the converged method: its steep steps need the full products.
      const converged = { d: 29, count: 1, steps: 7, quintic: true, checked: true };
      const listed = ROOT_CHAIN.variants(gpu, { ...converged, which: "inverse_sqrt" });
      assert(listed.join() === "full", `converged variants ${listed}`);
      let threw = false;
      try {
        await batch(
          gpu,
          arena,
          [factor(29, 99)],
          29,
          { ...ROOT_DEFAULTS, method: "converged" },
          "sym2",
        );
      } catch (e) {
        threw = e instanceof RangeError && /Newton–Schulz chains only/.test(e.message);
      }
      assert(threw, "a converged chain accepted a slab variant");
    }),
);

Deno.test("root.chain family: keys, variants and bench commands", gpuTest, async () => {
  const gpu = await testGpu();
  const p = {
    d: 64,
    count: 2,
    steps: 10,
    quintic: false,
    checked: false,
    which: "inverse_sqrt" as const,
  };
  assert(ROOT_CHAIN.key(p) === "root.chain|2x64|k10|isqrt", ROOT_CHAIN.key(p));
  assert(ROOT_CHAIN.heuristic(gpu, p) === "full", "heuristic");
  assert(ROOT_CHAIN.variants(gpu, { ...p, d: 3 }).join() === "full", "3×3 has no slab plan");
  await withArena(async (g, arena) => {
    const cmds = ROOT_CHAIN.benchCommands(g, p, "sym2", arena);
    assert(cmds.length > 0, "bench commands");
    assert(ROOT_CHAIN.wgsl(g, p, "sym2").length > ROOT_CHAIN.wgsl(g, p, "full").length, "wgsl");
    // The tuner compiles each string on its own: every one must be a whole module.
    for (const variant of ROOT_CHAIN.variants(g, p)) {
      for (const code of ROOT_CHAIN.wgsl(g, p, variant)) {
        await g.pipelines.getAsync(`root.chain.${variant}`, code);
      }
    }
  });
});
