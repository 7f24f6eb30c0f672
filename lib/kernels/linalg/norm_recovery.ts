/**
 * The last step of a Kronecker-preconditioned gradient: the norm recovery of
 * the AdaBK paper's Eq. 19, G̃ = Ĝ·‖G‖_F/(‖Ĝ‖_F + 1e-12), written back into
 * the layer's weight (and bias) gradient in place, in one or two dispatches
 * instead of two reductions and an unpack.
 *
 * G and Ĝ are [out, cols] with cols = inF (+1 with a bias, whose gradient is
 * the last column). Without a bias, G is the weight gradient itself, which
 * is also the destination: it is bound once, read in full before any write.
 *
 * Up to {@link SINGLE_GROUP_MAX} elements one workgroup does everything (sums
 * of squares by a fixed tree, then the scaled copy). Larger gradients take two
 * dispatches: per-workgroup partial sums, then every workgroup combines the
 * partials in the same fixed order and scales its own share. No float
 * atomics, so results depend only on the shape.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { check, REDUCE_WG, WGSL_WORKGROUP_REDUCE } from "./linalg.ts";

/** Largest gradient (elements) one workgroup handles alone. */
export const SINGLE_GROUP_MAX = 1 << 16;

/** Elements each workgroup of the two-dispatch form covers. */
const CHUNK = 4096;

/** Arguments of {@link normRecovery}. */
export interface NormRecoveryArgs {
  /** Ĝ [out, cols]. */
  Ghat: Tensor;
  /** G [out, cols]: the packed gradient, or the weight gradient itself without a bias. */
  G: Tensor;
  /** Weight gradient [out, inF] (destination). */
  wGrad: Tensor;
  /** Bias gradient [out] (destination of the last column). */
  bGrad?: Tensor;
  /** Rows. */
  out: number;
  /** Weight columns. */
  inF: number;
  /** Rescale to ‖G‖ (Eq. 19); false copies Ĝ unscaled. */
  recover: boolean;
  /** Scratch for the partial sums of large gradients. */
  arena: BufferArena;
  /** Force the two-dispatch form (tests). */
  split?: boolean;
}

/** Which dispatch a kernel is: it declares exactly what it reads and writes. */
type Pass = "single" | "copy" | "partials" | "apply";

function decls(a: NormRecoveryArgs, pass: Pass): string {
  // Layout "auto" drops unused bindings, so declare only what this pass touches.
  const L: string[] = [`@group(0) @binding(0) var<storage, read> H: array<f32>;`];
  const writes = pass !== "partials";
  if (writes || !a.bGrad) L.push(`@group(0) @binding(1) var<storage, read_write> w: array<f32>;`);
  if (writes && a.bGrad) L.push(`@group(0) @binding(2) var<storage, read_write> b: array<f32>;`);
  if (a.bGrad && (pass === "single" || pass === "partials")) {
    L.push(`@group(0) @binding(3) var<storage, read> G: array<f32>;`);
  }
  if (pass === "partials") L.push(`@group(0) @binding(4) var<storage, read_write> P: array<f32>;`);
  if (pass === "apply") L.push(`@group(0) @binding(4) var<storage, read> P: array<f32>;`);
  return L.join("\n");
}

/** The WGSL accumulating Σ G² and Σ Ĝ² over i in [i0, i1) into `g`, `h`. */
function sums(a: NormRecoveryArgs, i0: string, i1: string): string {
  const gRead = a.bGrad ? "G[i]" : "w[i]";
  return `  var g = 0.0;
  var h = 0.0;
  for (var i = ${i0} + li; i < ${i1}; i += ${REDUCE_WG}u) {
    let x = ${gRead};
    g += x * x;
    let y = H[i];
    h += y * y;
  }`;
}

/** The WGSL writing the scaled Ĝ for i in [i0, i1). */
function store(a: NormRecoveryArgs, i0: string, i1: string): string {
  const cols = a.inF + (a.bGrad ? 1 : 0);
  const bias = a.bGrad ? `if (j == ${a.inF}u) { b[o] = v; continue; }` : "";
  return `  for (var i = ${i0} + li; i < ${i1}; i += ${REDUCE_WG}u) {
    let o = i / ${cols}u;
    let j = i % ${cols}u;
    let v = H[i] * scale;
    ${bias}
    w[o * ${a.inF}u + j] = v;
  }`;
}

/** Records G̃ into the gradients; see the module documentation. */
export function normRecovery(gpu: Gpu, a: NormRecoveryArgs): Command[] {
  const cols = a.inF + (a.bGrad ? 1 : 0);
  const n = a.out * cols;
  const label = "norm_recovery";
  check(label, a.Ghat.size === n && a.G.size === n, `Ĝ and G must be ${a.out}×${cols}`);
  check(label, a.wGrad.size === a.out * a.inF, `weight gradient must be ${a.out}×${a.inF}`);
  check(label, !a.bGrad || a.bGrad.size === a.out, `bias gradient must have ${a.out} values`);
  check(
    label,
    a.bGrad !== undefined || a.G === a.wGrad,
    "without a bias, G is the weight gradient",
  );
  const head = `${WGSL_WORKGROUP_REDUCE}
@compute @workgroup_size(${REDUCE_WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32) {`;
  const bind = (P?: Tensor) => [
    a.Ghat,
    a.wGrad,
    a.bGrad ?? a.wGrad,
    a.bGrad ? a.G : a.wGrad,
    ...(P ? [P] : []),
  ];
  const groups = Math.ceil(n / CHUNK);
  const grid = grid2d(groups, gpu.limits.maxComputeWorkgroupsPerDimension);
  const chunk = `  let c = wid.x + wid.y * ${grid[0]}u;
  let c0 = c * ${CHUNK}u;
  let c1 = min(c0 + ${CHUNK}u, ${n}u);`;
  if (!a.recover) {
    // A plain copy: every workgroup copies its own chunk.
    const copy = `${decls(a, "copy")}\n${head}\n${chunk}\n  let scale = 1.0;
${store(a, "c0", "c1")}\n}\n`;
    return [dispatch(gpu, "kron_unpack", copy, bind(), grid)];
  }
  if (!a.split && n <= SINGLE_GROUP_MAX) {
    const code = `${decls(a, "single")}\n${head}
${sums(a, "0u", `${n}u`)}
  let scale = sqrt(red_sum(li, g)) / (sqrt(red_sum(li, h)) + 1e-12);
${store(a, "0u", `${n}u`)}\n}\n`;
    return [dispatch(gpu, label, code, bind(), [1])];
  }
  // Each apply workgroup combines every partial: keep that loop short.
  check(label, groups <= REDUCE_WG * 64, `gradient of ${n} values is too large`);
  const P = a.arena.tensor(`${label}.partials`, [groups, 2]);
  const partial = `${decls(a, "partials")}
${head}
${chunk}
${sums(a, "c0", "c1")}
  let gs = red_sum(li, g);
  let hs = red_sum(li, h);
  if (li == 0u && c0 < ${n}u) {
    P[2u * c] = gs;
    P[2u * c + 1u] = hs;
  }
}
`;
  const apply = `${decls(a, "apply")}
${head}
${chunk}
  var g = 0.0;
  var h = 0.0;
  for (var k = li; k < ${groups}u; k += ${REDUCE_WG}u) {
    g += P[2u * k];
    h += P[2u * k + 1u];
  }
  let scale = sqrt(red_sum(li, g)) / (sqrt(red_sum(li, h)) + 1e-12);
${store(a, "c0", "c1")}
}
`;
  return [
    dispatch(gpu, `${label}_partials`, partial, bind(P), grid),
    dispatch(gpu, label, apply, bind(P), grid),
  ];
}
