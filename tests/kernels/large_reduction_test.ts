/**
 * Long reductions at real training sizes: the weight gradient and the
 * patch Gram of a batch-128 Fashion-MNIST conv reduce over 100,352 rows,
 * more than llvmpipe's silent 65,535-iteration loop cap per invocation.
 * A kernel that loops too long in one invocation would return a partial sum.
 */
import { conv2dBackwardWeight } from "../../lib/kernels/conv/conv.ts";
import { gramConvPatches } from "../../lib/kernels/gram/gram.ts";
import { submit } from "../../lib/gpu/commands.ts";
import type { Conv2dGeometry } from "../../lib/kernels/conv/conv.ts";
import { conv2dBackwardWeightRef, im2colRef } from "../ref/conv.ts";
import { assertClose, download, f32, gpuTest, randn, upload, withArena } from "../util.ts";

const geom: Conv2dGeometry = {
  batch: 128,
  inH: 28,
  inW: 28,
  inC: 1,
  outC: 16,
  kh: 3,
  kw: 3,
  strideH: 1,
  strideW: 1,
  padH: 1,
  padW: 1,
  dilationH: 1,
  dilationW: 1,
  groups: 1,
};

Deno.test(
  "conv weight gradient over 100,352 rows matches float64",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const x = f32(randn(1, 128 * 784));
      const dy = f32(randn(2, 128 * 784 * 16, 0.1));
      const xt = upload(gpu, arena, "x", [128, 28, 28, 1], x);
      const dyt = upload(gpu, arena, "dy", [128, 28, 28, 16], dy);
      const dw = arena.tensor("dw", [16, 1, 3, 3]);
      const db = arena.tensor("db", [16]);
      submit(gpu, conv2dBackwardWeight(gpu, { geom, x: xt, dy: dyt, dw, dbias: db, arena }));
      const ref = conv2dBackwardWeightRef(geom, x, dy);
      // Sums of 1e5 products of size ~0.1 grow like √n·0.1 ≈ 30; f32 accumulation
      // in chunks keeps the error near 1e-4 relative; a dropped chunk would be off by %.
      assertClose(await download(gpu, dw), ref.dw, { atol: 2e-2, rtol: 1e-3 }, "dw");
      assertClose(await download(gpu, db), ref.dbias, { atol: 2e-2, rtol: 1e-3 }, "dbias");
    }),
);

Deno.test(
  "patch Gram over 100,352 rows (with ones column) matches float64",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const x = f32(randn(3, 128 * 784));
      const xt = upload(gpu, arena, "x", [128, 28, 28, 1], x);
      const out = arena.tensor("R", [10, 10]);
      submit(gpu, gramConvPatches(gpu, { geom, x: xt, out, appendOnes: true, arena }));
      const { data, rows, cols } = im2colRef(geom, x);
      const ref = new Float64Array(100);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < 10; i++) {
          const a = i < cols ? data[r * cols + i] : 1;
          for (let j = 0; j < 10; j++) {
            ref[i * 10 + j] += a * (j < cols ? data[r * cols + j] : 1) / rows;
          }
        }
      }
      // Means of 1e5 products of unit normals: values O(1), f32 chunked sums ~1e-5.
      assertClose(await download(gpu, out), ref, { atol: 1e-3, rtol: 1e-3 }, "R");
    }),
);
