/**
 * Shared test helpers: one device per test module, seeded data, and
 * closeness assertions that report the worst element.
 * @module
 */

import { acquireGpu, type Gpu } from "../lib/gpu/device.ts";
import { BufferArena, type Tensor } from "../lib/gpu/tensor.ts";
import { readTensor, writeTensor } from "../lib/gpu/transfer.ts";
import { Rng } from "../lib/util/rng.ts";

let shared: Promise<Gpu> | undefined;

/** The module's GPU (acquired once, reused by every test in the module). */
export function testGpu(): Promise<Gpu> {
  shared ??= acquireGpu();
  return shared;
}

/** Deno test options for GPU tests: the device outlives single tests. */
export const gpuTest = { sanitizeResources: false, sanitizeOps: false } as const;

/** `n` standard-normal values from `seed`, scaled by `scale`. */
export function randn(seed: number, n: number, scale = 1): Float64Array {
  const r = new Rng(seed, 7);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = r.normal() * scale;
  return out;
}

/** `n` uniform values in [lo, hi) from `seed`. */
export function randu(seed: number, n: number, lo = -1, hi = 1): Float64Array {
  const r = new Rng(seed, 11);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r.next();
  return out;
}

/** Values rounded to f32, as the GPU will see them (keep references honest). */
export function f32(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float32Array.from(values as ArrayLike<number>));
}

/** Allocates a tensor in `arena` and fills it with `data`. */
export function upload(
  gpu: Gpu,
  arena: BufferArena,
  name: string,
  shape: readonly number[],
  data: ArrayLike<number>,
): Tensor {
  const t = arena.tensor(name, shape);
  writeTensor(gpu, t, data);
  return t;
}

/** Reads a tensor into float64. */
export async function download(gpu: Gpu, t: Tensor): Promise<Float64Array> {
  return Float64Array.from(await readTensor(gpu, t));
}

/** Tolerance: |actual - expected| <= atol + rtol * |expected| per element. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/**
 * Asserts element-wise closeness; the error names `what`, the worst index and
 * both values, so a failure says where to look.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  what: string,
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const bound = tol.atol + tol.rtol * Math.abs(e);
    const err = Math.abs(a - e);
    if (!(err <= bound)) { // also catches NaN
      const excess = Number.isNaN(err) ? Infinity : err / bound;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(atol ${tol.atol}, rtol ${tol.rtol}; ${worstExcess.toFixed(1)}x over)`,
    );
  }
}

/** Max |x| of an array (to scale absolute tolerances to the data). */
export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/** Runs `fn` with a fresh arena on the shared GPU, disposing it afterwards. */
export async function withArena<T>(fn: (gpu: Gpu, arena: BufferArena) => Promise<T>): Promise<T> {
  const gpu = await testGpu();
  const arena = new BufferArena(gpu.device);
  try {
    return await fn(gpu, arena);
  } finally {
    arena.dispose();
  }
}

/**
 * Runs `fn` with every arena that allocates a tensor meanwhile collected in
 * `arenas` (to check that a failed build gave its buffers back).
 */
export async function withArenaSpy<T>(
  fn: (arenas: Set<BufferArena>) => Promise<T> | T,
): Promise<T> {
  const arenas = new Set<BufferArena>();
  const tensor = BufferArena.prototype.tensor;
  BufferArena.prototype.tensor = function (this: BufferArena, name, shape) {
    arenas.add(this);
    return tensor.call(this, name, shape);
  };
  try {
    return await fn(arenas);
  } finally {
    BufferArena.prototype.tensor = tensor;
  }
}
