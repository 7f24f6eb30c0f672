/**
 * The Kronecker engine's roots stages: equal-size factors of one cadence are
 * one batch, other sizes are not, staggering splits batches by refresh step,
 * and every batched root equals the float64 transcription of the published
 * code on the statistics the GPU accumulated.
 */
import { Optimizer, sgdmBK, type UserParam } from "../../lib/optim/mod.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena } from "../../lib/gpu/tensor.ts";
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

function params(gpu: Gpu, arena: BufferArena): UserParam[] {
  const out: UserParam[] = [];
  LAYERS.forEach(([name, inF, outF, bias], l) => {
    const t = (suffix: string, shape: number[], seed: number) => {
      const x = arena.tensor(`${name}.${suffix}`, shape);
      writeTensor(gpu, x, f32(randn(seed, x.size, 0.5)));
      return x.buffer;
    };
    const layer = {
      kind: "linear" as const,
      input: t("x", [ROWS, inF], 10 * l + 1),
      outputGrad: t("d", [ROWS, outF], 10 * l + 2),
      rows: ROWS,
    };
    out.push({
      name: `${name}.weight`,
      value: t("w", [outF, inF], 10 * l + 3),
      grad: t("dw", [outF, inF], 10 * l + 4),
      shape: [outF, inF],
      layer,
    });
    if (bias) {
      out.push({
        name: `${name}.bias`,
        value: t("b", [outF], 10 * l + 5),
        grad: t("db", [outF], 10 * l + 6),
        shape: [outF],
        biasOf: `${name}.weight`,
      });
    }
  });
  return out;
}

Deno.test(
  "roots stages: one batch per size (7² ×3, 5² ×2, 8²), roots equal the float64 transcription",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const opt = new Optimizer(gpu.device, sgdmBK({ lr: 0.01 }), params(gpu, arena));
      const roots = opt.instance.stages.filter((s) => s.name.startsWith("roots"));
      const names = roots.map((s) => s.name).join(" | ");
      assert(
        names === "roots:fc1.L+fc3.L+fc3.R | roots:fc1.R+fc2.L | roots:fc2.R",
        `stages: ${names}`,
      );
      const diag = opt.instance.diagnostics!.map((d) => `${d.layer}.${d.side}`).join();
      assert(diag === "fc1.L,fc1.R,fc2.L,fc2.R,fc3.L,fc3.R", `diagnostics in layer order: ${diag}`);
      const enc = gpu.device.createCommandEncoder();
      opt.record(enc); // k = 0: statistics, roots, precondition, update
      gpu.device.queue.submit([enc.finish()]);
      const state = (n: string) => opt.instance.state.find((s) => s.name === n)!.tensor;
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
      opt.dispose();
    }),
);

Deno.test(
  "roots stages with stagger: factors batch only within one refresh step",
  gpuTest,
  () =>
    withArena((gpu, arena) => {
      const opt = new Optimizer(
        gpu.device,
        sgdmBK({ lr: 0.01, stagger: true, rootEvery: 30 }),
        params(gpu, arena),
      );
      const roots = opt.instance.stages.filter((s) => s.name.startsWith("roots"));
      const got = roots.map((s) => `${s.name}@${s.cadence.offset}`).join(" | ");
      // fc1 refreshes at 0, fc2 at 10, fc3 at 20 (mod 30): only fc3's equal sides batch.
      const want = "roots:fc1.L@0 | roots:fc1.R@0 | roots:fc2.L@10 | roots:fc2.R@10 | " +
        "roots:fc3.L+fc3.R@20";
      assert(got === want, `stages: ${got}`);
      opt.dispose();
      return Promise.resolve();
    }),
);
