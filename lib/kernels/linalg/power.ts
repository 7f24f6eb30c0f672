/**
 * λ̂ by power iteration (the paper's Eq. 18) and the normaliser of the damped
 * factor, for a batch of `count` stacked d×d factors.
 *
 * The sequence is the published code's `max_eignvalue`, kept exactly:
 * v = 1; each round w = A·v, u = w/‖w‖, v = A·u; λ̂ = ‖v‖ after the last
 * round (2 products per round, the norm of w taken every round). Products
 * read A column-wise (A is symmetric, so A·x = Aᵀ·x), which makes neighbouring
 * threads read neighbouring addresses.
 *
 * Two variants of the same arithmetic:
 * - fused (d ≤ {@link FUSED_POWER_MAX}, 32 on software adapters): one workgroup per factor runs every
 *   round with the vectors in workgroup memory, then λ̂ and the normaliser:
 *   one dispatch for the whole batch;
 * - per product (larger d): one dispatch per product over
 *   ⌈d/32⌉ × count workgroups, each normalising its input itself (a tree
 *   reduction of ‖w‖² instead of a separate pass), then one finishing
 *   dispatch (λ̂ and the normaliser, a workgroup per factor).
 * No invocation loops more than a few thousand times (llvmpipe silently stops
 * a loop after 65535 iterations).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { check, checkStacked, elementwise, SCALAR_SLOTS } from "./linalg.ts";
import {
  boundRowsWgsl,
  finishKernelWgsl,
  fusedPowerWgsl,
  type LambdaSource,
  lambdaSource,
  type NormaliserSource,
  type PowerConfig,
  powerProductWgsl,
  TX,
} from "./power_wgsl.ts";

export type { PowerConfig, RootNormaliser } from "./power_wgsl.ts";
export { fusedPowerWgsl, powerProductWgsl } from "./power_wgsl.ts";

/**
 * Largest d whose power iteration runs as one fused dispatch: 256 on
 * hardware; 32 on software adapters, where one workgroup's loop runs on one
 * core (llvmpipe, 10 rounds: fused 11.4 ms vs per product 7.0 ms at d = 256,
 * 4.3 vs 3.9 at 128, equal at 64).
 */
const FUSED_POWER_MAX = 256;
/** {@link FUSED_POWER_MAX} on software adapters. */
const FUSED_POWER_MAX_SOFTWARE = 32;

/** Arguments of {@link powerIteration}. */
export interface PowerArgs extends PowerConfig {
  /** The factors, [count, d, d]. */
  A: Tensor;
  /** [count, SCALAR_SLOTS]: λ̂ and the normaliser are written here. */
  scalars: Tensor;
  /** Scratch: v and w [count, d] and rows [count, d, 2] (per-product variant only). */
  work: { v: Tensor; w: Tensor; rows: Tensor };
  /** Force the fused (true) or per-product (false) variant. */
  fused?: boolean;
}

/** True when {@link powerIteration} runs fused for size d by default on `gpu`. */
export function powerIsFused(gpu: Gpu, d: number): boolean {
  return d <= (gpu.adapter.isFallbackAdapter ? FUSED_POWER_MAX_SOFTWARE : FUSED_POWER_MAX);
}

/**
 * Records λ̂ (power iteration) and the normaliser of every factor of the
 * batch into `scalars`; see the module documentation.
 */
export function powerIteration(gpu: Gpu, a: PowerArgs): Command[] {
  const { d, count } = a;
  const label = "power_iteration";
  checkStacked(label, a.A, d, count);
  check(label, a.scalars.size >= count * SCALAR_SLOTS, `scalars need ${count}×${SCALAR_SLOTS}`);
  check(label, Number.isInteger(a.rounds) && a.rounds >= 0, `rounds must be ≥ 0, got ${a.rounds}`);
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  const perFactor = grid2d(count, max);
  if (a.fused ?? powerIsFused(gpu, d)) {
    const code = fusedPowerWgsl(a, perFactor[0]);
    return [dispatch(gpu, "power_fused", code, [a.A, a.scalars], perFactor)];
  }
  check(
    label,
    a.work.v.size >= count * d && a.work.w.size >= count * d,
    "vector scratch too small",
  );
  check(label, a.work.rows.size >= 2 * count * d, "row scratch too small");
  const cmds: Command[] = [];
  const rounds = lambdaSource(a) === "v" ? a.rounds : 0;
  const products = grid2d(Math.ceil(d / TX) * count, max);
  const product = (src: "ones" | "raw" | "normalised", x: Tensor | undefined, y: Tensor) =>
    dispatch(
      gpu,
      `power_${src}`,
      powerProductWgsl(d, count, src, products[0]),
      [a.A, y, ...(x ? [x] : [])],
      products,
    );
  for (let r = 0; r < rounds; r++) {
    cmds.push(r === 0 ? product("ones", undefined, a.work.w) : product("raw", a.work.v, a.work.w));
    cmds.push(product("normalised", a.work.w, a.work.v));
  }
  const finish = (lambda: LambdaSource, norm: NormaliserSource) =>
    dispatch(
      gpu,
      "power_finish",
      finishKernelWgsl(a, perFactor[0], lambda, norm),
      [a.A, a.scalars, a.work.v, a.work.rows],
      perFactor,
    );
  const lambda = lambdaSource(a);
  if (a.normaliser === "trace") {
    cmds.push(finish(lambda, "trace"));
    return cmds;
  }
  // The column sums read this refresh's λ̂: store it first.
  if (lambda !== "keep") cmds.push(finish(lambda, "none"));
  const [decls, body] = boundRowsWgsl(a);
  cmds.push(
    elementwise(gpu, "root_bound_rows", count * d, decls, body, [a.A, a.scalars, a.work.rows]),
  );
  cmds.push(finish("keep", "bound_from_rows"));
  return cmds;
}
