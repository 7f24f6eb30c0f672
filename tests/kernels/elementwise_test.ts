import { assert, assertEquals, assertThrows } from "../assert.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { readTensor, writeTensor } from "../../lib/gpu/transfer.ts";
import {
  add,
  addBias,
  axpy,
  fill,
  reluBackwardFromOutput,
  scale,
  unary,
  unaryBackward,
  type UnaryOp,
  type WidthChoice,
} from "../../lib/kernels/elementwise/elementwise.ts";
import { f32Lit } from "../../lib/kernels/wgsl.ts";
import { dot, numericGrad } from "../ref/finite_diff.ts";
import {
  activation,
  activationGrad,
  addBiasRef,
  addRef,
  axpyRef,
  scaleRef,
  unaryBackwardRef,
  unaryRef,
} from "../ref/elementwise.ts";
import {
  assertClose,
  download,
  f32,
  gpuTest,
  maxAbs,
  randn,
  randu,
  testGpu,
  upload,
  withArena,
} from "../util.ts";

const OPS: UnaryOp[] = ["relu", "gelu", "tanh", "sigmoid", "identity"];

// One f32 rounding of an exact operation on f32 inputs: |err| <= 2^-24·|exact|.
// 1 ulp (2^-23) leaves room for a second rounding (alpha is rounded to f32 first).
const ONE_ULP = { atol: 0, rtol: 2 ** -23 };

// Transcendental activations (|x| <= 8 here): results near 0 of tanh/sigmoid/gelu
// tails are tiny, so the budget is absolute. tanh and exp on llvmpipe err by
// <= 1.5e-7 absolute (measured over 2e5 points in [-8, 8]); we allow 4 ulp of 1
// (4.8e-7) for the transcendental, amplified by at most 0.5|x| <= 4 in gelu:
// atol 2e-6. (A 3e-4 relative change of gelu's 0.044715 moves outputs by 8.6e-6.)
const TRANSCENDENTAL = { atol: 2e-6, rtol: 1e-6 };

// Gradients: 1 − t² cancels as |t| → 1, so its absolute error is ~2·δt; gelu's
// derivative multiplies that by 0.5·|x|·√(2/π)·(1 + 3·0.044715·x²) <= 2.6 where
// 1 − t² is still nonzero (|x| ≈ 3): 2.6·2·4.8e-7 + 2e-6 ≈ 4e-6 per unit of |dy|.
function gradTol(op: UnaryOp, dyMax: number) {
  return op === "relu" || op === "identity" ? ONE_ULP : { atol: 4e-6 * dyMax, rtol: 1e-6 };
}

function tolFor(op: UnaryOp) {
  return op === "relu" || op === "identity" ? ONE_ULP : TRANSCENDENTAL;
}

Deno.test("reference activation gradients match central differences", () => {
  // Points away from relu's kink at 0 (|x| >= 0.05 > h), over the range tests use.
  const x = randu(1, 40, -6, 6).map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v));
  const w = randn(2, 40);
  for (const op of OPS) {
    const num = numericGrad((xs) => dot(w, unaryRef(op, xs)), x);
    const ana = unaryBackwardRef(op, x, w);
    // Central differences in f64 with h = 1e-5: truncation error h²·|f'''|/6 < 1e-9.
    assertClose(ana, num, { atol: 1e-8, rtol: 1e-7 }, `${op} reference gradient`);
  }
});

Deno.test(
  "unary forward and backward match the reference (sizes 1, 7, 1000, 4099; scalar and vec4)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const cases: [number, WidthChoice][] = [[1, undefined], [7, undefined], [1000, "vec4"], [
        1000,
        "scalar",
      ], [
        4099,
        undefined,
      ]];
      for (const [n, variant] of cases) {
        // Include exact zeros (relu's kink: gradient 0) every 13th element.
        const xv = f32(randu(n, n, -8, 8).map((v, i) => (i % 13 === 5 ? 0 : v)));
        const dyv = f32(randn(n + 1, n));
        const basev = f32(randn(n + 2, n));
        const x = upload(gpu, arena, "x", [n], xv);
        const dy = upload(gpu, arena, "dy", [n], dyv);
        for (const op of OPS) {
          const y = arena.tensor("y", [n]);
          const dx = arena.tensor("dx", [n]);
          const dxAcc = upload(gpu, arena, "dxAcc", [n], basev);
          submit(gpu, [
            ...unary(gpu, { op, x, y, variant }),
            ...unaryBackward(gpu, { op, x, dy, dx, variant }),
            ...unaryBackward(gpu, { op, x, dy, dx: dxAcc, accumulate: true, variant }),
          ]);
          const what = `${op} n=${n} ${variant ?? "auto"}`;
          assertClose(await download(gpu, y), unaryRef(op, xv), tolFor(op), `${what} forward`);
          // Accumulating adds one rounding of |base + grad|: covered by rtol/atol.
          const tolB = gradTol(op, maxAbs(dyv));
          assertClose(
            await download(gpu, dx),
            unaryBackwardRef(op, xv, dyv),
            tolB,
            `${what} backward`,
          );
          assertClose(
            await download(gpu, dxAcc),
            unaryBackwardRef(op, xv, dyv, basev),
            tolB,
            `${what} accumulate`,
          );
        }
      }
    }),
);

Deno.test(
  "activations stay finite and saturate correctly at huge inputs",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const xv = [1e4, -1e4, 1e3, -1e3, 100, -100, 50, -50, 20, -20, 3e37, -3e37];
      const x = upload(gpu, arena, "x", [xv.length], xv);
      const dy = upload(gpu, arena, "dy", [xv.length], xv.map(() => 1));
      for (const op of OPS) {
        const y = arena.tensor("y", [xv.length]);
        const dx = arena.tensor("dx", [xv.length]);
        submit(gpu, [...unary(gpu, { op, x, y }), ...unaryBackward(gpu, { op, x, dy, dx })]);
        const yv = await download(gpu, y);
        const dxv = await download(gpu, dx);
        for (let i = 0; i < xv.length; i++) {
          assert(
            Number.isFinite(yv[i]) && Number.isFinite(dxv[i]),
            `${op}(${xv[i]}) gave ${yv[i]}, grad ${dxv[i]}`,
          );
          // Saturated regions are exact in f32: relu/gelu → x or 0, tanh → ±1,
          // sigmoid → 1 or 0 (or e^-20 ≈ 2e-9); gradients → 1 or 0.
          const want = activation(op, xv[i]);
          assertClose([yv[i]], [Math.fround(want)], { atol: 1e-8, rtol: 1e-6 }, `${op}(${xv[i]})`);
          assertClose(
            [dxv[i]],
            [activationGrad(op, xv[i])],
            { atol: 1e-8, rtol: 1e-6 },
            `${op}'(${xv[i]})`,
          );
        }
      }
    }),
);

Deno.test(
  "add with a fused ReLU and the ReLU gradient from the output into several tensors",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const n of [1, 7, 1001, 4100]) {
        const xv = f32(randn(5 * n, n));
        const yv = f32(randn(5 * n + 1, n));
        const gv = f32(randn(5 * n + 2, n));
        const x = upload(gpu, arena, "x", [n], xv);
        const y = upload(gpu, arena, "y", [n], yv);
        const g = upload(gpu, arena, "g", [n], gv);
        const out = arena.tensor("out", [n]);
        const d0 = upload(gpu, arena, "d0", [n], xv);
        const d1 = upload(gpu, arena, "d1", [n], yv);
        submit(gpu, [
          ...add(gpu, { x, y, out, relu: true }),
          ...reluBackwardFromOutput(gpu, { y: out, dy: g, outs: [d0, d1] }),
        ]);
        const sum = await download(gpu, out);
        // max(x + y, 0): one rounding of the sum, then an exact selection.
        const want = addRef(xv, yv).map((v) => Math.max(v, 0));
        assertClose(sum, want, ONE_ULP, `add relu n=${n}`);
        // relu'(v) = 0 at v = 0 (PyTorch), decided on the output.
        const grad = gv.map((d, i) => (sum[i] > 0 ? d : 0));
        assertEquals(await download(gpu, d0), grad, `relu gradient into d0, n=${n}`);
        assertEquals(await download(gpu, d1), grad, `relu gradient into d1, n=${n}`);
        // In place over dy.
        submit(gpu, reluBackwardFromOutput(gpu, { y: out, dy: g, outs: [g] }));
        assertEquals(await download(gpu, g), grad, `in place, n=${n}`);
      }
    }),
);

Deno.test(
  "add, axpy, scale: one rounding from the reference, in place too",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const n of [1, 7, 1000, 1001]) {
        const xv = f32(randn(3 * n, n));
        const yv = f32(randn(3 * n + 1, n));
        const x = upload(gpu, arena, "x", [n], xv);
        const y = upload(gpu, arena, "y", [n], yv);
        const sum = arena.tensor("sum", [n]);
        const scaled = arena.tensor("scaled", [n]);
        const alpha = -0.3; // not exact in f32: the kernels must round it like the reference
        const a32 = Math.fround(alpha);
        submit(gpu, [
          ...add(gpu, { x, y, out: sum }),
          ...scale(gpu, { alpha, x, out: scaled }),
          ...axpy(gpu, { alpha, x, y }),
        ]);
        assertClose(await download(gpu, sum), addRef(xv, yv), ONE_ULP, `add n=${n}`);
        assertClose(await download(gpu, scaled), scaleRef(a32, xv), ONE_ULP, `scale n=${n}`);
        // WGSL's fma may run unfused (its accuracy is "inherited from x·y + z"): two
        // roundings, each <= 2^-24 of |a·x| or of |y + a·x| <= |y| + |a·x|.
        const axpyTol = {
          atol: 2 ** -23 * maxAbs(axpyRef(Math.abs(a32), xv.map(Math.abs), yv.map(Math.abs))),
          rtol: 0,
        };
        assertClose(await download(gpu, y), axpyRef(a32, xv, yv), axpyTol, `axpy n=${n}`);

        // In place: x = 2x (scale), x = x + x (add), x += 0.5·x (axpy with x = y).
        writeTensor(gpu, x, xv);
        submit(gpu, [
          ...scale(gpu, { alpha: 2, x, out: x }),
          ...add(gpu, { x, y: x, out: x }),
          ...axpy(gpu, { alpha: 0.5, x, y: x }),
        ]);
        // Powers of two are exact: 4x·1.5 = 6x exactly.
        assertClose(await download(gpu, x), scaleRef(6, xv), ONE_ULP, `in-place chain n=${n}`);
      }
    }),
);

Deno.test(
  "fill: zero clears, other values are written exactly",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      for (const n of [1, 7, 1024]) {
        const t = upload(gpu, arena, "t", [n], randn(5, n));
        submit(gpu, fill(gpu, { value: 0, out: t }));
        assertEquals(await readTensor(gpu, t), new Float32Array(n));
        submit(gpu, fill(gpu, { value: 0.1, out: t }));
        assertEquals(await readTensor(gpu, t), new Float32Array(n).fill(0.1));
        submit(gpu, fill(gpu, { value: -3e38, out: t, variant: "scalar" }));
        assertEquals(await readTensor(gpu, t), new Float32Array(n).fill(-3e38));
      }
      const t = arena.tensor("t", [3]);
      assertThrows(() => fill(gpu, { value: Infinity, out: t }), RangeError, "Infinity");
      assertThrows(() => fill(gpu, { value: 1e39, out: t }), RangeError, "overflows");
    }),
);

Deno.test("f32Lit prints exact f32 literals", () => {
  assertEquals(f32Lit(1), "(1f)");
  assertEquals(f32Lit(0.1), `(${Math.fround(0.1)}f)`);
  assertEquals(f32Lit(1e-7), `(${Math.fround(1e-7)}f)`);
  assertThrows(() => f32Lit(NaN), RangeError);
});

Deno.test(
  "addBias: awkward shapes, vec4 and scalar, row blocks, in place",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // [rows, cols, width, rows per invocation]: 513 rows leave a partial last
      // block for R = 16 and R = 5; R larger than rows is clamped.
      const shapes: [number, number, WidthChoice, number | undefined][] = [
        [1, 1, undefined, undefined],
        [3, 257, undefined, undefined],
        [513, 3, undefined, 16],
        [513, 3, undefined, 5],
        [513, 3, undefined, 1],
        [5, 8, "vec4", 64],
        [5, 8, "scalar", 2],
      ];
      for (const [rows, cols, variant, rowsPerInvocation] of shapes) {
        const xv = f32(randn(rows + cols, rows * cols));
        const bv = f32(randn(rows * cols, cols));
        const x = upload(gpu, arena, "x", [rows, cols], xv);
        const bias = upload(gpu, arena, "bias", [cols], bv);
        const out = arena.tensor("out", [rows, cols]);
        const args = { x, bias, rows, cols, out, variant, rowsPerInvocation };
        submit(gpu, addBias(gpu, args));
        const want = addBiasRef(xv, bv, rows, cols);
        const what = `addBias ${rows}x${cols} ${variant ?? "auto"} R=${
          rowsPerInvocation ?? "auto"
        }`;
        assertClose(await download(gpu, out), want, ONE_ULP, what);
        submit(gpu, addBias(gpu, { ...args, out: x }));
        assertClose(await download(gpu, x), want, ONE_ULP, `${what} in place`);
      }
    }),
);

Deno.test(
  "grids beyond 65535 workgroups reach every element",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // Scalar kernel, 256 per workgroup: 65536 + 1 workgroups ⇒ a 2-D grid.
      const n = 65536 * 256 + 3;
      const xv = new Float32Array(n);
      for (let i = 0; i < n; i++) xv[i] = (i % 1009) - 504;
      const x = upload(gpu, arena, "x", [n], xv);
      const out = arena.tensor("out", [n]);
      submit(gpu, scale(gpu, { alpha: 2, x, out, variant: "scalar" }));
      const got = await readTensor(gpu, out);
      for (let i = 0; i < n; i++) {
        if (got[i] !== 2 * xv[i]) throw new Error(`element ${i}: ${got[i]} != ${2 * xv[i]}`);
      }
    }),
);

Deno.test(
  "bad arguments throw RangeError naming tensors and shapes",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const x = arena.tensor("acts", [2, 3]);
      const y = arena.tensor("short", [5]);
      assertThrows(() => unary(gpu, { op: "relu", x, y }), RangeError, '"short" [5]');
      assertThrows(() => unary(gpu, { op: "swish" as UnaryOp, x, y: x }), RangeError, "swish");
      assertThrows(() => add(gpu, { x, y, out: x }), RangeError, "[2, 3]");
      assertThrows(
        () => addBias(gpu, { x, bias: y, rows: 2, cols: 3, out: x }),
        RangeError,
        '"short"',
      );
      assertThrows(
        () => addBias(gpu, { x, bias: y, rows: 0, cols: 3, out: x }),
        RangeError,
        "rows",
      );
      assertThrows(
        () => scale(gpu, { alpha: 1, x: y, out: y, variant: "vec4" }),
        RangeError,
        "vec4",
      );
      const b3 = arena.tensor("b", [3]);
      assertThrows(
        () => addBias(gpu, { x, bias: b3, rows: 2, cols: 3, out: x, rowsPerInvocation: 0 }),
        RangeError,
        "rowsPerInvocation",
      );
      // Two views of one buffer that overlap only partially.
      const whole = arena.tensor("whole", [8]);
      const a = { ...whole, size: 4, shape: [4], name: "a" };
      const b = { ...whole, offset: 8, size: 4, shape: [4], name: "b" };
      assertThrows(() => add(gpu, { x: a, y: a, out: b }), RangeError, "overlap partially");
      await testGpu();
    }),
);
