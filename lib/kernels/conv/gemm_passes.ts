/**
 * The conv passes as `wg…` implicit GEMMs (gemm.ts): kernel plans (pure:
 * WGSL, grid, bindings by role; used by the builders and by the tuner's
 * precompilation) and the command builders.
 *
 * - forward: C[pixel][co] = Σ_{(kp, ci)} im2col(x)[pixel][(kp, ci)] · w, bias in the store.
 * - input gradient: C[input pixel][ci] = Σ_{(kp, co)} dy(scattered) · w.
 * - weight gradient: C[co][(kp, ci) | 1] = Σ_pixels dy[pixel][co] · [im2col(x) | 1],
 *   split-K over pixels (batch × space) when the output is too small to fill
 *   the device; partials added in a fixed order by a second pass.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena } from "../../gpu/tensor.ts";
import { roundUp } from "../../gpu/tensor.ts";
import { type Binding, type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import { type ConvDims, passProduct } from "./geometry.ts";
import { type GemmSpec, type GemmTile, gemmTileName, gemmWgsl, gemmWorkgroups } from "./gemm.ts";
import {
  denseOperand,
  patchOperand,
  scatterOperand,
  storageDecl,
  weightOperand,
} from "./gemm_operands.ts";
import { chooseSplits } from "./elements.ts";
import {
  phaseScatterOperand,
  phaseSizes,
  phaseStoreWgsl,
  phaseWeightOperand,
  phaseWgsl,
  usesPhases,
} from "./gemm_phases.ts";
import {
  partialFloats,
  type PartialShape,
  partialStore4Wgsl,
  reduceLanes,
  reduceLanesWgsl,
  reduceWgsl,
} from "./reduce.ts";
import { scratchTensor } from "./operands.ts";

/** One dispatch of a plan: code, grid, and which tensors bind (by role, in binding order). */
export interface KernelStep {
  /** Dispatch label. */
  label: string;
  /** WGSL. */
  code: string;
  /** Workgroup grid. */
  grid: [number, number, number];
  /** Roles of bindings 0, 1, … (resolved to tensors by the builder). */
  roles: string[];
}

/** The dispatches of one pass, plus the scratch it needs. */
export interface GemmPlan {
  /** Dispatches in order. */
  steps: KernelStep[];
  /** Floats of split-K partial sums (0 when the product stores directly). */
  partialFloats: number;
}

function gemmStep(gpu: Gpu, spec: GemmSpec, roles: string[]): KernelStep {
  const grid = grid2d(gemmWorkgroups(spec), gpu.limits.maxComputeWorkgroupsPerDimension);
  return { label: spec.label, code: gemmWgsl(spec, grid[0]), grid, roles };
}

/** WGSL `store4` for an NHWC output `buf` whose group g owns channels g·cg…, plus an optional bias. */
function nhwcStore(
  buf: string,
  channels: number,
  cg: number,
  binding: number,
  bias: boolean,
): string {
  const vec = cg % 4 === 0 ? 4 : 1;
  const decl = storageDecl(binding, buf, vec, "read_write") +
    (bias ? `\n${storageDecl(binding + 1, "bias", vec)}` : "");
  if (vec === 4) {
    return `${decl}
fn store4(g: u32, s: u32, m: u32, n: u32, v: vec4<f32>) {
  let c = g * ${cg}u + n;
  ${buf}[(m * ${channels}u + c) / 4u] = v${bias ? " + bias[c / 4u]" : ""};
}`;
  }
  const lanes = [0, 1, 2, 3].map((q) =>
    `  if (n + ${q}u < ${cg}u) { ${buf}[o + ${q}u] = v[${q}]${bias ? ` + bias[c + ${q}u]` : ""}; }`
  );
  return `${decl}
fn store4(g: u32, s: u32, m: u32, n: u32, v: vec4<f32>) {
  let c = g * ${cg}u + n;
  let o = m * ${channels}u + c;
${lanes.join("\n")}
}`;
}

/** Plan of the forward pass with `tile`. Roles: x, w, y[, bias]. */
export function forwardGemmPlan(gpu: Gpu, d: ConvDims, bias: boolean, tile: GemmTile): GemmPlan {
  const a = patchOperand(d, "outer", false, "x");
  const spec: GemmSpec = {
    label: `conv_fwd_${gemmTileName(tile)}`,
    ...passProduct(d, "forward"),
    splits: 1,
    symmetric: false,
    tile,
    a,
    b: weightOperand(d, "forward", "w"),
    decls: [
      storageDecl(0, "x", a.vec),
      storageDecl(1, "w", 1),
      nhwcStore("y", d.outC, d.coutG, 2, bias),
    ].join("\n"),
  };
  const roles = bias ? ["x", "w", "y", "bias"] : ["x", "w", "y"];
  return { steps: [gemmStep(gpu, spec, roles)], partialFloats: 0 };
}

/**
 * Plan of the input-gradient pass with `tile`. Roles: dy, w, dx. Strided
 * convs without dilation run one GEMM per stride phase (gemm_phases.ts), so
 * no FMA is spent on taps the stride skips.
 */
export function inputGemmPlan(gpu: Gpu, d: ConvDims, tile: GemmTile): GemmPlan {
  if (usesPhases(d)) {
    const z = phaseSizes(d);
    const a = phaseScatterOperand(d, "dy");
    const spec: GemmSpec = {
      label: `conv_dx_phases_${gemmTileName(tile)}`,
      m: z.rows,
      n: d.cinG,
      k: z.k,
      groups: d.groups * z.phases,
      splits: 1,
      symmetric: false,
      tile,
      a,
      b: phaseWeightOperand(d, "w"),
      decls: [storageDecl(0, "dy", a.vec), storageDecl(1, "w", 1), phaseWgsl(d), phaseStoreWgsl(d)]
        .join("\n"),
      kEnd: `phase_of(g).nty * ${z.tx * d.coutG}u`,
    };
    return { steps: [gemmStep(gpu, spec, ["dy", "w", "dx"])], partialFloats: 0 };
  }
  const a = scatterOperand(d, "dy");
  const spec: GemmSpec = {
    label: `conv_dx_${gemmTileName(tile)}`,
    ...passProduct(d, "input"),
    splits: 1,
    symmetric: false,
    tile,
    a,
    b: weightOperand(d, "input", "w"),
    decls: [
      storageDecl(0, "dy", a.vec),
      storageDecl(1, "w", 1),
      nhwcStore("dx", d.inC, d.cinG, 2, false),
    ].join("\n"),
  };
  return { steps: [gemmStep(gpu, spec, ["dy", "w", "dx"])], partialFloats: 0 };
}

/**
 * Split-K count for a product with `tiles` tiles over `k` rows: enough
 * workgroups to fill a large GPU (~1024), at least four steps per chunk,
 * partial sums within one storage binding.
 */
export function gemmSplits(gpu: Gpu, tiles: number, k: number, tile: GemmTile, perSplit: number) {
  return chooseSplits({
    tiles,
    rows: k,
    target: 1024,
    minRows: 4 * tile.bk,
    partialFloats: perSplit,
    maxPartialFloats: Math.min(1 << 24, Math.floor(gpu.limits.maxStorageBufferBindingSize / 4)),
  });
}

/** The split-K second pass: lanes for many chunks, one thread per element otherwise. */
export function reduceStep(label: string, p: PartialShape, finish: string, roles: string[]) {
  const lanes = reduceLanes(p.splits);
  const n = p.groups * p.rows * p.cols;
  return lanes === 1
    ? { label, code: reduceWgsl(p, finish), grid: grid2d(Math.ceil(n / 64)), roles }
    : {
      label,
      code: reduceLanesWgsl(p, finish, lanes),
      grid: grid2d(Math.ceil((n * lanes) / 256)),
      roles,
    };
}

/** WGSL `fn finish(g, i, j, v)` of the weight gradient (declares dw, db at `base`, `base + 1`). */
export type WeightFinish = (d: ConvDims, bias: boolean, base: number) => string;

/**
 * Plan of the weight-gradient pass with `tile`. Roles: dy, x, then either
 * part (split-K; the reduction reads part and writes dw[, dbias]) or dw[, dbias].
 */
export function weightGemmPlan(
  gpu: Gpu,
  d: ConvDims,
  bias: boolean,
  tile: GemmTile,
  finish: WeightFinish,
): GemmPlan {
  const { m: M, n: N, k: rows } = passProduct(d, "weight", bias);
  const a = denseOperand(
    { rows, cols: d.coutG, stride: d.outC, groupOffset: d.coutG, ones: false },
    "dy",
  );
  const b = patchOperand(d, "k", bias, "x");
  const p: PartialShape = {
    splits: 1,
    groups: d.groups,
    rows: M,
    cols: N,
    upper: false,
    pitch: roundUp(N, 4),
  };
  const tiles = Math.ceil(M / tile.bm) * Math.ceil(N / tile.bn) * d.groups;
  p.splits = gemmSplits(gpu, tiles, rows, tile, partialFloats(p));
  const outs = bias ? ["dw", "dbias"] : ["dw"];
  const direct = `${finish(d, bias, 2)}
fn store4(g: u32, s: u32, m: u32, n: u32, v: vec4<f32>) {
${
    [0, 1, 2, 3].map((q) => `  if (n + ${q}u < ${N}u) { finish(g, m, n + ${q}u, v[${q}]); }`).join(
      "\n",
    )
  }
}`;
  const spec: GemmSpec = {
    label: `conv_dw_${gemmTileName(tile)}`,
    m: M,
    n: N,
    k: rows,
    groups: d.groups,
    splits: p.splits,
    symmetric: false,
    tile,
    a,
    b,
    decls: [
      storageDecl(0, "dy", a.vec),
      storageDecl(1, "x", b.vec),
      p.splits > 1 ? partialStore4Wgsl(p, 2) : direct,
    ].join("\n"),
  };
  if (p.splits === 1) {
    return { steps: [gemmStep(gpu, spec, ["dy", "x", ...outs])], partialFloats: 0 };
  }
  return {
    steps: [
      gemmStep(gpu, spec, ["dy", "x", "part"]),
      reduceStep("conv_dw_reduce", p, finish(d, bias, 1), ["part", ...outs]),
    ],
    partialFloats: p.splits * partialFloats(p),
  };
}

/**
 * Records a plan: binds each step's roles from `tensors`, allocating the
 * partial sums (role `part`) from `arena` (or the device) as `<scratchName>`.
 */
export function recordPlan(
  gpu: Gpu,
  plan: GemmPlan,
  tensors: Record<string, Binding | undefined>,
  scratchName: string,
  arena?: BufferArena,
): Command[] {
  const bound: Record<string, Binding | undefined> = { ...tensors };
  if (plan.partialFloats > 0) {
    bound.part = scratchTensor(gpu, arena, scratchName, plan.partialFloats);
  }
  return plan.steps.map((s) => {
    const bindings = s.roles.map((r) => {
      const t = bound[r];
      if (!t) throw new Error(`${s.label}: no tensor for binding role "${r}"`);
      return t;
    });
    return dispatch(gpu, s.label, s.code, bindings, s.grid);
  });
}
