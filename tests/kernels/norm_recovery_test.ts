/**
 * Norm recovery (AdaBK paper, Eq. 19) into the weight and bias gradients
 * against float64: one workgroup, the two-dispatch form (forced, and by
 * size), with and without a bias, and the unscaled copy.
 */
import { submit } from "../../lib/gpu/commands.ts";
import { normRecovery, SINGLE_GROUP_MAX } from "../../lib/kernels/linalg/norm_recovery.ts";
import { assert } from "../assert.ts";
import { assertClose, download, f32, gpuTest, randn, upload, withArena } from "../util.ts";

/** Float64 G̃ = Ĝ·‖G‖/(‖Ĝ‖ + 1e-12) (or Ĝ), split into weight and bias parts. */
function reference(
  G: Float64Array,
  H: Float64Array,
  out: number,
  inF: number,
  bias: boolean,
  recover: boolean,
) {
  const cols = inF + (bias ? 1 : 0);
  let g = 0, h = 0;
  for (let i = 0; i < G.length; i++) {
    g += G[i] * G[i];
    h += H[i] * H[i];
  }
  const scale = recover ? Math.sqrt(g) / (Math.sqrt(h) + 1e-12) : 1;
  const w = new Float64Array(out * inF);
  const b = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < cols; j++) {
      const v = H[o * cols + j] * scale;
      if (j === inF) b[o] = v;
      else w[o * inF + j] = v;
    }
  }
  return { w, b };
}

const CASES: { out: number; inF: number; bias: boolean; recover: boolean; split?: boolean }[] = [
  { out: 10, inF: 37, bias: true, recover: true },
  { out: 13, inF: 29, bias: false, recover: true },
  { out: 67, inF: 71, bias: true, recover: true, split: true }, // 2 chunks
  { out: 67, inF: 72, bias: false, recover: true, split: true },
  { out: 130, inF: 513, bias: false, recover: true }, // > SINGLE_GROUP_MAX: two dispatches
  { out: 9, inF: 11, bias: true, recover: false },
];

Deno.test(
  "norm recovery writes Ĝ·‖G‖/(‖Ĝ‖ + 1e-12) into the gradients",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      assert(130 * 513 > SINGLE_GROUP_MAX, "the large case must exceed one workgroup");
      for (const [c, k] of CASES.map((c, k) => [c, k] as const)) {
        const { out, inF, bias, recover } = c;
        const cols = inF + (bias ? 1 : 0);
        const G = f32(randn(10 + k, out * cols));
        const H = f32(randn(20 + k, out * cols, 3));
        const wGrad = upload(
          gpu,
          arena,
          `w${k}`,
          [out, inF],
          bias ? f32(randn(30 + k, out * inF)) : G,
        );
        const bGrad = bias ? upload(gpu, arena, `b${k}`, [out], new Float64Array(out)) : undefined;
        const Gt = bias ? upload(gpu, arena, `G${k}`, [out, cols], G) : wGrad;
        const Ghat = upload(gpu, arena, `H${k}`, [out, cols], H);
        const cmds = normRecovery(gpu, {
          Ghat,
          G: Gt,
          wGrad,
          bGrad,
          out,
          inF,
          recover,
          arena,
          split: c.split,
        });
        submit(gpu, cmds);
        const want = reference(G, H, out, inF, bias, recover);
        // Sums of up to 66690 f32 squares: ~1e-6 relative in the scale; values O(3).
        const what = `${out}×${cols}${bias ? " (bias)" : ""}${c.split ? " split" : ""}`;
        assertClose(
          await download(gpu, wGrad),
          want.w,
          { atol: 1e-5, rtol: 1e-5 },
          `${what} weight`,
        );
        if (bGrad) {
          assertClose(
            await download(gpu, bGrad),
            want.b,
            { atol: 1e-5, rtol: 1e-5 },
            `${what} bias`,
          );
        }
      }
    }),
);
