/**
 * The Kronecker engine's roots stages: equal-size factors of one cadence are
 * one batch, other sizes are not, staggering splits batches by refresh step,
 * and every batched root equals the float64 transcription of the published
 * code on the statistics the GPU accumulated.
 */
import { buildKronecker } from "../../lib/optim/kronecker.ts";
import { ADABK_ENGINE, type KroneckerCommon } from "../../lib/optim/adabk.ts";
import type { ParamSlot } from "../../lib/optim/types.ts";
import { encode } from "../../lib/gpu/commands.ts";
import { stagesAt } from "../../lib/gpu/stage.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena, Tensor } from "../../lib/gpu/tensor.ts";
import { referenceInverseSqrt } from "../ref/linalg.ts";
import { assert } from "../assert.ts";
import { assertClose, f32, gpuTest, randn, withArena } from "../util.ts";

const ROWS = 16;

/** Linear layers [name, in, out, bias]: factors L out², R (in + bias)². */
const LAYERS: [string, number, number, boolean][] = [
  ["fc1", 5, 7, false], // L 7, R 5
  ["fc2", 7, 5, true], // L 5, R 8
  ["fc3", 6, 7, true], // L 7, R 7
];

/** The engine's slots for LAYERS, with random inputs, output gradients and gradients. */
function slots(gpu: Gpu, arena: BufferArena): ParamSlot[] {
  const out: ParamSlot[] = [];
  LAYERS.forEach(([name, inF, outF, bias], l) => {
    const t = (suffix: string, shape: number[], seed: number): Tensor => {
      const x = arena.tensor(`${name}.${suffix}`, shape);
      writeTensor(gpu, x, f32(randn(seed, x.size, 0.5)));
      return x;
    };
    const weight: ParamSlot = {
      name: `${name}.weight`,
      value: t("w", [outF, inF], 10 * l + 3),
      grad: t("dw", [outF, inF], 10 * l + 4),
      role: "weight",
    };
    const b: ParamSlot | undefined = bias
      ? {
        name: `${name}.bias`,
        value: t("b", [outF], 10 * l + 5),
        grad: t("db", [outF], 10 * l + 6),
        role: "bias",
      }
      : undefined;
    weight.taps = {
      kind: "linear",
      weight: { name: weight.name, value: weight.value, grad: weight.grad, role: "weight" },
      bias: b && { name: b.name, value: b.value, grad: b.grad, role: "bias" },
      x: t("x", [ROWS, inF], 10 * l + 1),
      d: t("d", [ROWS, outF], 10 * l + 2),
      rows: ROWS,
      inFeatures: inF,
      outFeatures: outF,
      groups: 1,
    };
    out.push(weight, ...(b ? [b] : []));
  });
  return out;
}

function engine(gpu: Gpu, arena: BufferArena, o: KroneckerCommon = {}) {
  return buildKronecker(gpu, arena, slots(gpu, arena), {
    ...ADABK_ENGINE,
    stagger: o.stagger ?? false,
    rootEvery: o.rootEvery ?? ADABK_ENGINE.rootEvery,
  });
}

Deno.test(
  "roots: one stage, one batch per size (7² ×3, 5² ×2, 8²), roots equal the float64 transcription",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const kron = engine(gpu, arena);
      const roots = kron.stages.filter((s) => s.name.startsWith("roots"));
      assert(roots.map((s) => s.name).join() === "roots:fc1+fc2+fc3", "one roots stage");
      const batches = kron.rootBatches.map((b) => `${b.count}×${b.d}@${b.stage}`).join(" | ");
      const want = "3×7@roots:fc1+fc2+fc3 | 2×5@roots:fc1+fc2+fc3 | 1×8@roots:fc1+fc2+fc3";
      assert(batches === want, `batches: ${batches}`);
      const diag = kron.diagnostics.map((d) => `${d.layer}.${d.side}`).join();
      assert(diag === "fc1.L,fc1.R,fc2.L,fc2.R,fc3.L,fc3.R", `diagnostics in layer order: ${diag}`);
      const enc = gpu.device.createCommandEncoder();
      encode(enc, [...kron.init, ...stagesAt(kron.stages, 0).flatMap((s) => s.commands)]);
      gpu.device.queue.submit([enc.finish()]);
      const state = (n: string) => kron.state.find((s) => s.name === n)!.tensor;
      for (const [name, inF, outF, bias] of LAYERS) {
        for (const [side, d] of [["L", outF], ["R", inF + (bias ? 1 : 0)]] as const) {
          const [A, root] = await readTensors(gpu, [
            state(`${name}.kron.${side}`),
            state(`${name}.kron.${side}_root`),
          ]);
          // As the single-factor reference test: f32 through 10 iterations, 1e-3.
          const ref = referenceInverseSqrt(Float64Array.from(A), d);
          assertClose(root, ref, { atol: 1e-3, rtol: 1e-3 }, `${name}.${side} root`);
        }
      }
    }),
);

Deno.test(
  "roots with stagger: a stage per refresh step, factors batch only within it",
  gpuTest,
  () =>
    withArena((gpu, arena) => {
      const kron = engine(gpu, arena, { stagger: true, rootEvery: 30 });
      const roots = kron.stages.filter((s) => s.name.startsWith("roots"));
      const got = roots.map((s) => `${s.name}@${s.cadence.offset}`).join(" | ");
      // fc1 refreshes at 0, fc2 at 10, fc3 at 20 (mod 30): a stage each.
      assert(got === "roots:fc1@0 | roots:fc2@10 | roots:fc3@20", `stages: ${got}`);
      // Only fc3's equal sides (7², 7²) share a batch.
      const batches = kron.rootBatches.map((b) => `${b.count}×${b.d}`).join(" ");
      assert(batches === "1×7 1×5 1×5 1×8 2×7", `batches: ${batches}`);
      return Promise.resolve();
    }),
);
