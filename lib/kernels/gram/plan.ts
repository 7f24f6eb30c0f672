/**
 * Gram variants as kernel plans (pure: WGSL, grids, bindings by role), and
 * which variants a problem has.
 *
 * Every variant stores raw partial sums (even for one chunk): scale, EMA
 * and the column permutation live in the small reduction pass, so the
 * expensive product kernels do not recompile when those constants change.
 * - `tex_<t>x<t>`: texture operands (tex_outer.ts), llvmpipe's choice.
 * - `tiled`: the first storage-buffer kernel (64×64 tiles).
 * - `wg…`: the register-tiled implicit GEMM (conv/gemm.ts), symmetric:
 *   only tiles on or above the diagonal run; split-K over rows.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type BufferArena, roundUp, type Tensor } from "../../gpu/tensor.ts";
import { type Binding, type Command, grid2d } from "../../gpu/commands.ts";
import { fitsTexture, mirrorOf } from "../conv/operands.ts";
import { outerInvocations, type OuterSpec, outerWgsl } from "../conv/tex_outer.ts";
import { tiledGrid, type TiledSpec, tiledWgsl } from "../conv/tiled.ts";
import { chooseSplits, patchElementWgsl } from "../conv/elements.ts";
import {
  partialFloats,
  type PartialShape,
  partialStore4Wgsl,
  partialStoreWgsl,
  reduceWgsl,
} from "../conv/reduce.ts";
import { type GemmSpec, gemmTileName, gemmWgsl, gemmWorkgroups } from "../conv/gemm.ts";
import {
  denseOperand,
  type GemmOperand,
  patchOperand,
  storageDecl,
} from "../conv/gemm_operands.ts";
import { gemmCandidates, gemmHeuristic, gemmTileFor, gemmTileNames } from "../conv/gemm_tiles.ts";
import { type GemmPlan, gemmSplits, recordPlan, reduceStep } from "../conv/gemm_passes.ts";
import { type GramFinishOptions, gramFinishWgsl, type GramShape } from "./problem.ts";

/** Square texture tiles offered, largest first. */
const TEX_TILES = [16, 8, 4];

function texNames(gpu: Gpu, s: GramShape): string[] {
  if (!fitsTexture(gpu, s.xFloats)) return [];
  return TEX_TILES.filter((t) => t <= Math.max(4, Math.ceil(s.dp / 4) * 4)).map((t) =>
    `tex_${t}x${t}`
  );
}

/**
 * The untuned choice: on fallback adapters the largest texture tile that
 * fits the output (as before the `wg` variants existed); on hardware the
 * `wg` tile of least estimated cost.
 */
export function gramHeuristic(gpu: Gpu, s: GramShape): string {
  if (gpu.adapter.isFallbackAdapter) return texNames(gpu, s)[0] ?? "tiled";
  return gemmHeuristic(gpu, "gram", s.dp, s.dp, s.groups) ?? "tiled";
}

/** Variant names valid for `s` on this device, the untuned choice first. */
export function gramVariantList(gpu: Gpu, s: GramShape): string[] {
  const def = gramHeuristic(gpu, s);
  const all = [...texNames(gpu, s), "tiled", ...gemmTileNames(gpu, "gram", s.dp, s.dp)];
  return [def, ...all.filter((v) => v !== def)];
}

/** True when `v` can run `s` here (`wg` tiles not listed are accepted if they fit). */
export function gramVariantValid(gpu: Gpu, s: GramShape, v: string): boolean {
  if (v === "tiled") return true;
  if (v.startsWith("wg")) {
    const t = gemmTileFor(gpu, v);
    return t !== undefined && t.bm === t.bn;
  }
  return texNames(gpu, s).includes(v);
}

/** Variants worth timing: texture tiles on software adapters, a few `wg` tiles on hardware. */
export function gramCandidates(gpu: Gpu, s: GramShape): string[] {
  if (gpu.adapter.isFallbackAdapter) {
    const tex = texNames(gpu, s);
    return tex.length > 0 ? tex : ["tiled"];
  }
  const wg = gemmCandidates(gpu, "gram", s.dp, s.dp, s.groups);
  return wg.length > 0 ? wg : ["tiled"];
}

/** The product's operand as the `wg` kernel reads it (rows = the reduction). */
function gemmOperand(s: GramShape): GemmOperand {
  if (s.op.kind === "patch") return patchOperand(s.op.d, "k", s.op.ones, "x");
  return denseOperand({ ...s.op, rows: s.rows }, "x");
}

function wgPlan(gpu: Gpu, s: GramShape, name: string, finish: string): GemmPlan {
  const tile = gemmTileFor(gpu, name)!;
  const op = gemmOperand(s);
  const ps: PartialShape = {
    splits: 1,
    groups: s.groups,
    rows: s.dp,
    cols: s.dp,
    upper: true,
    pitch: roundUp(s.dp, 4),
  };
  const nb = Math.ceil(s.dp / tile.bm);
  ps.splits = gemmSplits(gpu, ((nb * (nb + 1)) / 2) * s.groups, s.rows, tile, partialFloats(ps));
  const spec: GemmSpec = {
    label: `gram_${s.op.kind}_${gemmTileName(tile)}`,
    m: s.dp,
    n: s.dp,
    k: s.rows,
    groups: s.groups,
    splits: ps.splits,
    symmetric: true,
    tile,
    a: op,
    b: op,
    decls: `${storageDecl(0, "x", op.vec)}\n${partialStore4Wgsl(ps, 1)}`,
  };
  const grid = grid2d(gemmWorkgroups(spec), gpu.limits.maxComputeWorkgroupsPerDimension);
  return {
    steps: [
      { label: spec.label, code: gemmWgsl(spec, grid[0]), grid, roles: ["x", "part"] },
      reduceStep("gram_finish", ps, finish, ["part", "out"]),
    ],
    partialFloats: ps.splits * partialFloats(ps),
  };
}

/** Plan of the texture or `tiled` variant. Roles: xtex (mirror) or x, part, out. */
function legacyPlan(s: GramShape, v: string, finish: string): GemmPlan {
  const tile = v === "tiled" ? 64 : Number(/^tex_(\d+)x/.exec(v)![1]);
  const nb = Math.ceil(s.dp / tile);
  const tiles = ((nb * (nb + 1)) / 2) * s.groups;
  const perSplit = s.groups * s.dp * s.dp;
  // Fill the device: ~32 llvmpipe workgroups of 8 lanes, or hundreds of GPU workgroups.
  const splits = v === "tiled"
    ? chooseSplits({ tiles, rows: s.rows, target: 512, minRows: 256, partialFloats: perSplit })
    : chooseSplits({ tiles, rows: s.rows, target: 256, minRows: 128, partialFloats: perSplit });
  const ps: PartialShape = { splits, groups: s.groups, rows: s.dp, cols: s.dp, upper: true };
  const epilogue = partialStoreWgsl(ps, 2);
  const reduce = {
    label: "gram_finish",
    code: reduceWgsl(ps, finish),
    grid: grid2d(Math.ceil(perSplit / 64)),
    roles: ["part", "out"],
  };
  if (v === "tiled") {
    const col = s.op.kind === "dense"
      ? `fn col(g: u32, r: u32, j: u32) -> f32 {
  if (j >= ${s.op.cols}u) { return 1.0; }
  return x[r * ${s.op.cols}u + j];
}`
      : `${patchElementWgsl(s.d!, "im2col_at", "x")}
fn col(g: u32, r: u32, j: u32) -> f32 {
  if (j >= ${s.d!.kpos * s.d!.cinG}u) { return 1.0; }
  return im2col_at(g, r, j);
}`;
    const spec: TiledSpec = {
      label: `gram_${s.op.kind}_tiled`,
      m: s.dp,
      n: s.dp,
      k: s.rows,
      groups: s.groups,
      splits,
      symmetric: true,
      readers: `@group(0) @binding(0) var<storage, read> x: array<f32>;
${epilogue}
${col}
fn lda(g: u32, m: u32, k: u32) -> f32 { return col(g, k, m); }
fn ldb(g: u32, k: u32, n: u32) -> f32 { return col(g, k, n); }`,
    };
    // Binding 1 is unused by the tiled kernel; keep the order of the texture variant.
    const main = {
      label: spec.label,
      code: tiledWgsl(spec),
      grid: tiledGrid(spec),
      roles: ["x", "x", "part"],
    };
    return { steps: [main, reduce], partialFloats: splits * perSplit };
  }
  const spec: OuterSpec = {
    label: `gram_${s.op.kind}_${v}`,
    rows: s.rows,
    groups: s.groups,
    a: s.op,
    b: s.op,
    symmetric: true,
    shared: true,
    ti: tile,
    tj: tile,
    splits,
    epilogue,
  };
  const main = {
    label: spec.label,
    code: outerWgsl(spec),
    grid: grid2d(Math.ceil(outerInvocations(spec) / 8)),
    roles: ["xtex", "xtex", "part"],
  };
  return { steps: [main, reduce], partialFloats: splits * perSplit };
}

/** The plan of variant `v` (already validated) for `s`, finishing with `o`. */
export function gramPlan(gpu: Gpu, s: GramShape, v: string, o: GramFinishOptions): GemmPlan {
  const finish = gramFinishWgsl(s, o, 1);
  return v.startsWith("wg") ? wgPlan(gpu, s, v, finish) : legacyPlan(s, v, finish);
}

/**
 * Records `plan` over input `x` and output `out` (refreshing x's texture
 * mirror first when a step reads it), partial sums from `arena`.
 */
export function recordGram(
  gpu: Gpu,
  plan: GemmPlan,
  x: Tensor,
  out: Tensor,
  arena: BufferArena | undefined,
): Command[] {
  const cmds: Command[] = [];
  const bound: Record<string, Binding> = { x, out };
  if (plan.steps.some((st) => st.roles.includes("xtex"))) {
    const m = mirrorOf(gpu, x);
    cmds.push(m.copy);
    bound.xtex = m.tex;
  }
  return [...cmds, ...recordPlan(gpu, plan, bound, `${out.name}.partials`, arena)];
}
