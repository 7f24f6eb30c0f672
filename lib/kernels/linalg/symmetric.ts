/**
 * Products with a symmetric result, computed by row slabs so that only the
 * upper part is multiplied.
 *
 * Every matrix of the coupled iteration (Y, Z, T, M) is a polynomial of the
 * same symmetric factor, so every product C = X·B of the chain is symmetric,
 * and B is symmetric. Splitting the rows into slabs [r0, r1), slab s only
 * needs C[r0:r1, r0:d] = X[r0:r1, :]·(B[r0:d, :])ᵀ: both operands are
 * contiguous row ranges (B's columns are its rows), so each slab is one plain
 * matmul with `transB`, and whatever variant the matmul family chose for it.
 * An assembly pass then writes C[i, j] = C[min, max] from the slabs: the
 * result is exactly symmetric, so the next product may again use it as B.
 * With p slabs the products cost (p + 1)/(2p) of the full product's FLOPs
 * (¾ for 2, ⅝ for 4) for p − 1 more dispatches and the assembly.
 *
 * A slab must start at a storage-binding offset the device accepts
 * (minStorageBufferOffsetAlignment), so boundaries are rounded to whole
 * aligned rows; sizes where that leaves an empty slab have no plan.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import { roundUp, type Tensor, view } from "../../gpu/tensor.ts";
import { matmul } from "../matmul/matmul.ts";
import type { MatmulProblem } from "../matmul/types.ts";
import { check, checkStacked, elementwise, wgslStackedIndex } from "./linalg.ts";
import { type RootStepCoefficients, wgslPolynomial } from "./steps.ts";

/** Where the slabs of a batch of symmetric products live. */
export interface SlabPlan {
  /** Size of each matrix. */
  readonly d: number;
  /** Number of stacked matrices. */
  readonly count: number;
  /** Slab s covers rows [bounds[s], bounds[s + 1]); bounds[0] = 0, last = d. */
  readonly bounds: readonly number[];
  /** Float offset of slab s within one matrix's part of the scratch. */
  readonly slabOffsets: readonly number[];
  /** Floats of scratch per matrix (aligned). */
  readonly perMatrix: number;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Floats per storage-binding offset step on this device. */
export function offsetAlignFloats(gpu: Gpu): number {
  return Math.max(1, gpu.limits.minStorageBufferOffsetAlignment / 4);
}

/**
 * Slab plan for `slabs` slabs of `count` stacked d×d products, or undefined
 * when the alignment leaves no valid split.
 */
export function planSlabs(
  d: number,
  count: number,
  slabs: number,
  alignFloats: number,
): SlabPlan | undefined {
  if (!Number.isInteger(slabs) || slabs < 2) return undefined;
  // Every slab offset f·d² + r0·d must be a multiple of alignFloats.
  if (count > 1 && (d * d) % alignFloats !== 0) return undefined;
  const rowAlign = alignFloats / gcd(d, alignFloats);
  const bounds = [0];
  for (let s = 1; s < slabs; s++) {
    const r = Math.round((s * d) / slabs / rowAlign) * rowAlign;
    if (r <= bounds[s - 1] || r >= d) return undefined;
    bounds.push(r);
  }
  bounds.push(d);
  const slabOffsets: number[] = [];
  let at = 0;
  for (let s = 0; s < slabs; s++) {
    slabOffsets.push(at);
    at += roundUp((bounds[s + 1] - bounds[s]) * (d - bounds[s]), alignFloats);
  }
  return { d, count, bounds, slabOffsets, perMatrix: at };
}

/** Floats of scratch a plan needs. */
export function slabScratchSize(plan: SlabPlan): number {
  return plan.perMatrix * plan.count;
}

/** The matmul problems of one symmetric product under `plan`. */
function slabProblems(plan: SlabPlan): MatmulProblem[] {
  const out: MatmulProblem[] = [];
  for (let f = 0; f < plan.count; f++) {
    for (let s = 0; s + 1 < plan.bounds.length; s++) {
      const [r0, r1] = [plan.bounds[s], plan.bounds[s + 1]];
      out.push({ m: r1 - r0, n: plan.d - r0, k: plan.d, transB: true });
    }
  }
  return out;
}

/** What the assembly writes: C itself, or the iteration's T computed from it. */
export interface AssemblyEpilogue {
  /** T = c0·I + c1·M + c2·M²; the product is M (c2 = 0) or M² (then `M` is given). */
  step: RootStepCoefficients;
  /** The full M when the product is M². */
  M?: Tensor;
}

/** WGSL of the assembly pass (exported for the kernel family's hashing). */
export function assemblyWgsl(plan: SlabPlan, epilogue: AssemblyEpilogue | undefined): string[] {
  const { d, bounds, slabOffsets } = plan;
  const pick: string[] = [];
  for (let s = 1; s + 1 < bounds.length; s++) {
    pick.push(`  if (lo >= ${bounds[s]}u) { r0 = ${bounds[s]}u; so = ${slabOffsets[s]}u; }`);
  }
  const quintic = epilogue !== undefined && epilogue.step[2] !== 0;
  const value = epilogue === undefined
    ? "v"
    : quintic
    ? wgslPolynomial(epilogue.step, "M[i]", "v")
    : wgslPolynomial(epilogue.step, "v");
  const decls = `@group(0) @binding(0) var<storage, read> P: array<f32>;
@group(0) @binding(1) var<storage, read_write> C: array<f32>;
${quintic ? "@group(0) @binding(2) var<storage, read> M: array<f32>;" : ""}`;
  const body = `${wgslStackedIndex(d)}
  let lo = min(r, col);
  let hi = max(r, col);
  var r0 = 0u;
  var so = 0u;
${pick.join("\n")}
  let v = P[f * ${plan.perMatrix}u + so + (lo - r0) * (${d}u - r0) + (hi - r0)];
  C[i] = ${value};`;
  return [decls, body];
}

/**
 * Records C = X·B for every stacked pair (B symmetric), by slabs, then the
 * assembly into `out` (or T from it, with `epilogue`). Returns the commands
 * and the matmul problems recorded.
 */
export function symmetricProduct(
  gpu: Gpu,
  a: {
    X: Tensor;
    B: Tensor;
    out: Tensor;
    scratch: Tensor;
    plan: SlabPlan;
    epilogue?: AssemblyEpilogue;
    label: string;
  },
): { commands: Command[]; products: MatmulProblem[] } {
  const { plan } = a;
  const { d, count, bounds } = plan;
  for (const t of [a.X, a.B, a.out]) checkStacked(a.label, t, d, count);
  check(a.label, a.scratch.size >= slabScratchSize(plan), "slab scratch too small");
  const cmds: Command[] = [];
  for (let f = 0; f < count; f++) {
    for (let s = 0; s + 1 < bounds.length; s++) {
      const [r0, r1] = [bounds[s], bounds[s + 1]];
      const base = f * d * d + r0 * d;
      cmds.push(...matmul(gpu, {
        a: view(a.X, base, [r1 - r0, d], `${a.X.name}[${f}][${r0}:${r1}]`),
        b: view(a.B, base, [d - r0, d], `${a.B.name}[${f}][${r0}:]`),
        out: view(
          a.scratch,
          f * plan.perMatrix + plan.slabOffsets[s],
          [r1 - r0, d - r0],
          `${a.scratch.name}[${f}][${s}]`,
        ),
        m: r1 - r0,
        n: d - r0,
        k: d,
        transB: true,
        label: `${a.label}.sym`,
      }));
    }
  }
  const [decls, body] = assemblyWgsl(plan, a.epilogue);
  const quintic = a.epilogue !== undefined && a.epilogue.step[2] !== 0;
  check(a.label, !quintic || a.epilogue!.M !== undefined, "a quintic step needs M");
  const bindings = [a.scratch, a.out, ...(quintic ? [a.epilogue!.M!] : [])];
  cmds.push(elementwise(gpu, "root_sym_assemble", count * d * d, decls, body, bindings));
  return { commands: cmds, products: slabProblems(plan) };
}
