/**
 * Matmul arguments, their validation, and the shape-only "problem" the
 * autotuner keys its choices on.
 *
 * Every variant builder works from a {@link ResolvedMatmul}: the user's
 * {@link MatmulArgs} with defaults filled in and every size checked, so the
 * kernels themselves never re-validate.
 * @module
 */

import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { shapeStr } from "../../gpu/tensor.ts";

/**
 * Activation applied after bias. `"gelu"` is the tanh approximation
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), not the erf form.
 */
export type Activation = "none" | "relu" | "gelu" | "tanh" | "sigmoid";

/** Every activation name, for validation and test loops. */
export const ACTIVATIONS: readonly Activation[] = ["none", "relu", "gelu", "tanh", "sigmoid"];

/**
 * A (batched) matrix product with a fused epilogue:
 * `out = act(alpha·op(a)·op(b) + beta·out + bias)`.
 */
export interface MatmulArgs {
  /** Left operand: [m, k] per batch, or [k, m] with `transA`. */
  a: Tensor;
  /** Right operand: [k, n] per batch, or [n, k] with `transB`. */
  b: Tensor;
  /** Result [m, n] per batch (also read when `beta` ≠ 0). */
  out: Tensor;
  /** Rows of op(a) and of out. */
  m: number;
  /** Columns of op(b) and of out. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Default 1; batch b at offsets b·m·k (a), b·k·n (b), b·m·n (out); set bBroadcast to share b. */
  batch?: number;
  /** b is one [k,n] (or [n,k] with transB) matrix shared by every batch. */
  bBroadcast?: boolean;
  /** a stored [k, m] (else [m, k]). */
  transA?: boolean;
  /** b stored [n, k] (else [k, n]). */
  transB?: boolean;
  /** Default 1. */
  alpha?: number;
  /** Default 0: out = alpha·op(a)·op(b) + beta·out, then + bias, then activation. */
  beta?: number;
  /** Length n, added to every row. */
  bias?: Tensor;
  /** Default "none"; "gelu" is the tanh approximation. */
  activation?: Activation;
  /** Force a variant by name (tests, bench); default: autotuned choice or heuristic. */
  variant?: string;
  /** Label for pipelines and errors. */
  label?: string;
  /**
   * Where split-K variants allocate their partial-sum scratch (at build time).
   * Without it they create a plain device buffer owned by the returned commands.
   */
  arena?: BufferArena;
}

/**
 * The shape of a product, without tensors or epilogue: what the autotuner
 * times and keys its cache on (the epilogue costs the same in every variant).
 */
export interface MatmulProblem {
  /** Rows of op(a). */
  m: number;
  /** Columns of op(b). */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Default 1. */
  batch?: number;
  /** b shared by every batch. */
  bBroadcast?: boolean;
  /** a stored [k, m]. */
  transA?: boolean;
  /** b stored [n, k]. */
  transB?: boolean;
}

/** A problem with every default filled in. */
export interface ResolvedProblem {
  /** Rows of op(a). */
  readonly m: number;
  /** Columns of op(b). */
  readonly n: number;
  /** Inner dimension. */
  readonly k: number;
  /** Number of products. */
  readonly batch: number;
  /** b shared by every batch (always true when batch is 1, which changes nothing). */
  readonly bBroadcast: boolean;
  /** a stored [k, m]. */
  readonly transA: boolean;
  /** b stored [n, k]. */
  readonly transB: boolean;
}

/** The epilogue every variant applies identically. */
export interface Epilogue {
  /** Scale of the product. */
  readonly alpha: number;
  /** Scale of the previous out (0: out is not read). */
  readonly beta: number;
  /** True when a bias vector is bound. */
  readonly hasBias: boolean;
  /** Activation after bias. */
  readonly activation: Activation;
}

/** Validated arguments: problem, epilogue and tensors. */
export interface ResolvedMatmul extends ResolvedProblem {
  /** Epilogue settings. */
  readonly epilogue: Epilogue;
  /** The original arguments (tensors, label, arena). */
  readonly args: MatmulArgs;
  /** Label used for pipelines. */
  readonly label: string;
}

function checkDim(label: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new RangeError(`${label}: ${name} must be a positive integer, got ${v}`);
  }
  return v;
}

/** Fills the defaults of a problem and checks its dimensions. */
export function resolveProblem(p: MatmulProblem, label = "matmul"): ResolvedProblem {
  const batch = p.batch === undefined ? 1 : checkDim(label, "batch", p.batch);
  return {
    m: checkDim(label, "m", p.m),
    n: checkDim(label, "n", p.n),
    k: checkDim(label, "k", p.k),
    batch,
    bBroadcast: batch === 1 ? true : Boolean(p.bBroadcast),
    transA: Boolean(p.transA),
    transB: Boolean(p.transB),
  };
}

function overlaps(x: Tensor, y: Tensor): boolean {
  if (x.buffer !== y.buffer) return false;
  return x.offset < y.offset + y.size * 4 && y.offset < x.offset + x.size * 4;
}

/**
 * Validates `args` (sizes, aliasing, scalars) and fills defaults. Throws a
 * RangeError naming the tensor and both shapes on any mismatch.
 */
export function resolveMatmul(args: MatmulArgs): ResolvedMatmul {
  const label = args.label ?? "matmul";
  const p = resolveProblem(args, label);
  const { m, n, k, batch, transA, transB } = p;
  const expect = (t: Tensor | undefined, role: string, size: number, shape: string) => {
    if (!t) throw new RangeError(`${label}: tensor ${role} is missing`);
    if (t.size !== size) {
      throw new RangeError(
        `${label}: ${role} "${t.name}" has shape ${shapeStr(t.shape)} (${t.size} values), ` +
          `expected ${shape} (${size} values) for m=${m}, n=${n}, k=${k}, batch=${batch}`,
      );
    }
  };
  const bt = batch > 1 ? `${batch}×` : "";
  expect(args.a, "a", batch * m * k, transA ? `${bt}[${k}, ${m}]` : `${bt}[${m}, ${k}]`);
  const bBatch = p.bBroadcast ? 1 : batch;
  const bbt = bBatch > 1 ? `${bBatch}×` : "";
  expect(args.b, "b", bBatch * k * n, transB ? `${bbt}[${n}, ${k}]` : `${bbt}[${k}, ${n}]`);
  expect(args.out, "out", batch * m * n, `${bt}[${m}, ${n}]`);
  if (args.bias) expect(args.bias, "bias", n, `[${n}]`);
  for (const [role, t] of [["a", args.a], ["b", args.b], ["bias", args.bias]] as const) {
    if (t && overlaps(t, args.out)) {
      throw new RangeError(
        `${label}: out "${args.out.name}" overlaps ${role} "${t.name}" in memory`,
      );
    }
  }
  const alpha = args.alpha ?? 1;
  const beta = args.beta ?? 0;
  for (const [name, v] of [["alpha", alpha], ["beta", beta]] as const) {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new RangeError(`${label}: ${name} must be a finite number, got ${v}`);
    }
  }
  const activation = args.activation ?? "none";
  if (!ACTIVATIONS.includes(activation)) {
    throw new RangeError(`${label}: unknown activation "${activation}"`);
  }
  return {
    ...p,
    epilogue: { alpha, beta, hasBias: Boolean(args.bias), activation },
    args,
    label,
  };
}

/**
 * Cache key of a problem class: exact dimensions and layout. A training plan
 * has few distinct shapes, so exact keys cost little and never mis-generalise.
 */
export function problemKey(p: MatmulProblem): string {
  const r = resolveProblem(p);
  const flags = `${r.transA ? "T" : "N"}${r.transB ? "T" : "N"}`;
  const bc = r.batch > 1 && r.bBroadcast ? "bc" : "";
  return `matmul|${r.m}x${r.n}x${r.k}|b${r.batch}${bc}|${flags}`;
}

/** FLOPs of a problem (2·m·n·k per batch). */
export function matmulFlops(p: MatmulProblem): number {
  return 2 * p.m * p.n * p.k * (p.batch ?? 1);
}
