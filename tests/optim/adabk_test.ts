/**
 * AdaBK parity (spec §7 tests 3, 5, 6, 7 and the full step) through the
 * public optimizer API, on buffers made here as a user would.
 */
import {
  adamw,
  adamwBK,
  Optimizer,
  type OptimizerFactory,
  sgd,
  sgdmBK,
  type UserParam,
} from "../../lib/optim/mod.ts";
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import type { BufferArena, Tensor } from "../../lib/gpu/tensor.ts";
import { refKron, refPrecondition } from "../ref/adabk.ts";
import { adamwBkStep, type RefState, sgdStep } from "../ref/optim.ts";
import { assert } from "../assert.ts";
import { assertClose, f32, gpuTest, randn, withArena } from "../util.ts";

const OUT = 4, IN = 5, ROWS = 12;

interface Layer {
  w: Tensor;
  b: Tensor;
  dw: Tensor;
  db: Tensor;
  x: Tensor;
  d: Tensor;
  params: UserParam[];
}

function linearLayer(arena: BufferArena, gpu: Gpu, seed: number): Layer {
  const t = (name: string, shape: number[], values?: ArrayLike<number>) => {
    const x = arena.tensor(name, shape);
    if (values) writeTensor(gpu, x, values);
    return x;
  };
  const w = t("w", [OUT, IN], f32(randn(seed, OUT * IN, 0.5)));
  const b = t("b", [OUT], f32(randn(seed + 1, OUT, 0.5)));
  const dw = t("dw", [OUT, IN]);
  const db = t("db", [OUT]);
  const x = t("x", [ROWS, IN]);
  const d = t("d", [ROWS, OUT]);
  const params: UserParam[] = [
    {
      name: "fc.weight",
      value: w.buffer,
      grad: dw.buffer,
      shape: [OUT, IN],
      layer: { kind: "linear", input: x.buffer, outputGrad: d.buffer, rows: ROWS },
    },
    { name: "fc.bias", value: b.buffer, grad: db.buffer, shape: [OUT], biasOf: "fc.weight" },
  ];
  return { w, b, dw, db, x, d, params };
}

interface StepData {
  x: Float64Array;
  d: Float64Array;
  dw: Float64Array;
  db: Float64Array;
}

function stepData(k: number, xScale = 1, dScale = 1): StepData {
  return {
    x: f32(randn(100 + k, ROWS * IN)).map((v) => v * xScale),
    d: f32(randn(200 + k, ROWS * OUT)).map((v) => v * dScale),
    dw: f32(randn(300 + k, OUT * IN)),
    db: f32(randn(400 + k, OUT)),
  };
}

function feed(gpu: Gpu, l: Layer, s: StepData) {
  writeTensor(gpu, l.x, s.x);
  writeTensor(gpu, l.d, s.d);
  writeTensor(gpu, l.dw, s.dw);
  writeTensor(gpu, l.db, s.db);
}

function run(gpu: Gpu, opt: Optimizer) {
  const enc = gpu.device.createCommandEncoder();
  opt.record(enc);
  gpu.device.queue.submit([enc.finish()]);
}

/**
 * Runs `steps` steps of a Kronecker optimizer on the GPU and of the float64
 * reference (preconditioning, then `baseStep` on weight and bias), from the
 * same initial weights and per-step data; returns both final weights.
 */
async function parityRun(
  seed: number,
  factory: OptimizerFactory,
  steps: number,
  cadence: { Ts: number; Tir: number },
  baseStep: (s: RefState, g: Float64Array) => void,
) {
  return await withArena(async (gpu, arena) => {
    const l = linearLayer(arena, gpu, seed);
    const opt = new Optimizer(gpu.device, factory, l.params);
    const [w0, b0] = await readTensors(gpu, [l.w, l.b]);
    const kron = refKron(OUT, IN, true);
    const sw: RefState = { p: Float64Array.from(w0), t: 0 };
    const sb: RefState = { p: Float64Array.from(b0), t: 0 };
    for (let k = 0; k < steps; k++) {
      const s = stepData(k);
      feed(gpu, l, s);
      run(gpu, opt);
      const g = refPrecondition(kron, s.x, s.d, ROWS, s.dw, s.db, {
        alpha: 0.9,
        eps: 1e-5,
        ...cadence,
      });
      baseStep(sw, g.w);
      baseStep(sb, g.b!);
    }
    const [w, b] = await readTensors(gpu, [l.w, l.b]);
    opt.dispose();
    return { w, b, refW: sw.p, refB: sb.p };
  });
}

Deno.test(
  "SGDM_BK matches the float64 reference over 7 steps (T_s = 2, T_ir = 3)",
  gpuTest,
  async () => {
    const o = { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 };
    const r = await parityRun(
      1,
      sgdmBK({ ...o, statEvery: 2, rootEvery: 3 }),
      7,
      { Ts: 2, Tir: 3 },
      (s, g) => sgdStep(s, g, { ...o, dampening: 0, nesterov: false }),
    );
    // Roots of 6x6 and 4x4 factors in f32 (10 Newton–Schulz steps) carry ~1e-5
    // relative error; norm recovery bounds the update's scale, and 7 steps of
    // lr 0.05 move weights by O(1): 2e-4 absolute + 1e-3 relative.
    assertClose(r.w, r.refW, { atol: 2e-4, rtol: 1e-3 }, "SGDM_BK weight");
    assertClose(r.b, r.refB, { atol: 2e-4, rtol: 1e-3 }, "SGDM_BK bias");
  },
);

Deno.test("AdamW_BK matches the float64 reference over 5 steps", gpuTest, async () => {
  const base = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 };
  const r = await parityRun(
    2,
    adamwBK({ lr: 1e-2, weightDecay: 0.5, statEvery: 1, rootEvery: 2 }),
    5,
    {
      Ts: 1,
      Tir: 2,
    },
    (s, g) => adamwBkStep(s, g, base),
  );
  // Adam normalises each coordinate, so preconditioning errors of ~1e-5 relative
  // shift updates by at most that fraction of lr: 1e-4 absolute suffices.
  assertClose(r.w, r.refW, { atol: 1e-4, rtol: 1e-4 }, "AdamW_BK weight");
  assertClose(r.b, r.refB, { atol: 1e-4, rtol: 1e-4 }, "AdamW_BK bias");
});

Deno.test(
  "scale invariance: L·7.3 leaves the update unchanged (spec §7.3)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const results: Float32Array[] = [];
      for (const ds of [1, Math.sqrt(7.3)]) {
        const l = linearLayer(arena, gpu, 3);
        const opt = new Optimizer(gpu.device, sgdmBK({ lr: 0.1 }), l.params);
        feed(gpu, l, stepData(0, 1, ds));
        run(gpu, opt);
        results.push((await readTensors(gpu, [l.w]))[0]);
        opt.dispose();
      }
      // D·√7.3 scales L by 7.3; relative damping, trace normalisation and norm
      // recovery cancel it in real arithmetic, f32 rounding leaves ~1e-6.
      assertClose(results[1], results[0], { atol: 1e-6, rtol: 1e-5 }, "update with L·7.3");
    }),
);

Deno.test(
  "scale invariance of R on a bias-free layer (spec §7.3)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const results: Float32Array[] = [];
      for (const xs of [1, Math.sqrt(7.3)]) {
        const l = linearLayer(arena, gpu, 4);
        const params = [l.params[0], { ...l.params[1], biasOf: undefined }];
        const opt = new Optimizer(gpu.device, sgdmBK({ lr: 0.1 }), params);
        feed(gpu, l, stepData(1, xs, 1));
        run(gpu, opt);
        results.push((await readTensors(gpu, [l.w]))[0]);
        opt.dispose();
      }
      // Relative damping, trace normalisation and norm recovery cancel the factor
      // exactly in real arithmetic; f32 rounding of the scaled inputs leaves ~1e-6.
      assertClose(results[1], results[0], { atol: 1e-6, rtol: 1e-5 }, "update with R·7.3");
    }),
);

Deno.test(
  "AdamW_BK at t = 1 with zero gradient shrinks p by 10·lr·wd·p (spec §7.6)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const l = linearLayer(arena, gpu, 5);
      const lr = 1e-3, wd = 0.5;
      const opt = new Optimizer(gpu.device, adamwBK({ lr, weightDecay: wd }), l.params);
      const [w0] = await readTensors(gpu, [l.w]);
      const s = stepData(0);
      feed(gpu, l, { ...s, dw: new Float64Array(OUT * IN), db: new Float64Array(OUT) });
      run(gpu, opt);
      const [w] = await readTensors(gpu, [l.w]);
      const want = Float64Array.from(w0, (p) => p - 10 * lr * wd * p);
      assertClose(w, want, { atol: 1e-7, rtol: 1e-6 }, "decayed weight");
      opt.dispose();
    }),
);

/** Runs a Kronecker optimizer and its base side by side with X = D = I (factors ∝ I). */
async function identityFactorRun(bkFactory: OptimizerFactory, plainFactory: OptimizerFactory) {
  return await withArena(async (gpu, arena) => {
    const n = 6;
    const eye = new Float64Array(n * n).map((_, i) => (Math.floor(i / n) === i % n ? 1 : 0));
    const t = (name: string, shape: number[], v: ArrayLike<number>) => {
      const x = arena.tensor(name, shape);
      writeTensor(gpu, x, v);
      return x;
    };
    const w0 = f32(randn(7, n * n));
    const wA = t("wA", [n, n], w0), wB = t("wB", [n, n], w0);
    const gA = t("gA", [n, n], new Float64Array(n * n)),
      gB = t("gB", [n, n], new Float64Array(n * n));
    const x = t("x", [n, n], eye), d = t("d", [n, n], eye);
    const layer = { kind: "linear" as const, input: x.buffer, outputGrad: d.buffer, rows: n };
    const bk = new Optimizer(gpu.device, bkFactory, [
      { name: "w", value: wA.buffer, grad: gA.buffer, shape: [n, n], layer },
    ]);
    const plain = new Optimizer(gpu.device, plainFactory, [
      { name: "w", value: wB.buffer, grad: gB.buffer, shape: [n, n] },
    ]);
    for (let k = 0; k < 3; k++) {
      const g = f32(randn(50 + k, n * n));
      writeTensor(gpu, gA, g);
      writeTensor(gpu, gB, g);
      run(gpu, bk);
      run(gpu, plain);
    }
    const [a, b] = await readTensors(gpu, [wA, wB]);
    bk.dispose();
    plain.dispose();
    return { a, b };
  });
}

Deno.test(
  "identity factors reproduce plain AdamW (spec §7.7; wd 0, where AdamW_BK's decay rule coincides)",
  gpuTest,
  async () => {
    const { a, b } = await identityFactorRun(
      adamwBK({ lr: 0.01, statEvery: 1, rootEvery: 1 }),
      adamw({ lr: 0.01, weightDecay: 0 }),
    );
    // As for SGDM: the scalar preconditioner cancels in norm recovery up to rounding.
    assertClose(a, b, { atol: 1e-6, rtol: 1e-6 }, "AdamW_BK with identity factors vs AdamW");
  },
);

Deno.test("identity factors reproduce plain SGDM (spec §7.7)", gpuTest, async () => {
  // X = D = I (rows = in = out = n): R ∝ I and L ∝ I, so the roots are ∝ I and
  // norm recovery returns G exactly up to rounding.
  const { a, b } = await identityFactorRun(
    sgdmBK({ lr: 0.1, statEvery: 1, rootEvery: 1 }),
    sgd({ lr: 0.1, momentum: 0.9 }),
  );
  // Same arithmetic after an f32 round trip through the (exact) scalar
  // preconditioner and norm recovery: a few ulps.
  assertClose(a, b, { atol: 1e-6, rtol: 1e-6 }, "SGDM_BK with identity factors vs SGDM");
});

Deno.test(
  "schedule: statistics only at k ≡ 0 mod T_s, roots only at k ≡ 0 mod T_ir (spec §7.5)",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      const l = linearLayer(arena, gpu, 6);
      const opt = new Optimizer(
        gpu.device,
        sgdmBK({ lr: 0.01, statEvery: 2, rootEvery: 4 }),
        l.params,
      );
      const state = (name: string) => opt.state().find((s) => s.name === name)!.tensor;
      const watched = [
        state("fc.kron.R"),
        state("fc.kron.L"),
        state("fc.kron.R_root"),
        state("fc.kron.L_root"),
      ];
      let before = await readTensors(gpu, watched);
      for (let k = 0; k < 9; k++) {
        feed(gpu, l, stepData(k));
        run(gpu, opt);
        const after = await readTensors(gpu, watched);
        const changed = after.map((a, i) => a.some((v, j) => v !== before[i][j]));
        assert(
          changed[0] === (k % 2 === 0) && changed[1] === (k % 2 === 0),
          `k=${k}: statistics changed=${changed.slice(0, 2)}`,
        );
        assert(
          changed[2] === (k % 4 === 0) && changed[3] === (k % 4 === 0),
          `k=${k}: roots changed=${changed.slice(2)}`,
        );
        before = after;
      }
      opt.dispose();
    }),
);
