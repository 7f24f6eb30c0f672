/**
 * The Gram kernel families `gram.dense` and `gram.patch`
 * (lib/kernels/tune/family.ts). A problem is shape-only: scale and EMA
 * change only the small finishing pass, not the choice.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena } from "../../gpu/tensor.ts";
import { writeTensor } from "../../gpu/transfer.ts";
import type { Command } from "../../gpu/commands.ts";
import type { KernelFamily } from "../tune/family.ts";
import type { Conv2dGeometry } from "../conv/geometry.ts";
import {
  denseShape,
  type GramDenseProblem,
  type GramPatchProblem,
  type GramShape,
  patchShape,
} from "./problem.ts";
import {
  gramCandidates,
  gramHeuristic,
  gramPlan,
  gramVariantList,
  gramVariantValid,
  recordGram,
} from "./plan.ts";

/** Cache-key text of the patches a conv reads (its output channels do not matter). */
function patchKey(g: Conv2dGeometry): string {
  return `n${g.batch} ${g.inH}x${g.inW}x${g.inC} k${g.kh}x${g.kw} s${g.strideH}x${g.strideW}` +
    ` p${g.padH}x${g.padW} d${g.dilationH}x${g.dilationW} g${g.groups}`;
}

function check(gpu: Gpu, s: GramShape, v: string): void {
  if (!gramVariantValid(gpu, s, v)) {
    throw new RangeError(
      `${s.what}: unknown or unsupported variant "${v}" (valid here: ${
        gramVariantList(gpu, s).join(", ")
      })`,
    );
  }
}

/** FLOPs of the upper triangle: rows·d'·(d'+1) per group. */
function work(s: GramShape): number {
  return s.groups * s.rows * s.dp * (s.dp + 1);
}

/** Commands running variant `v` on scratch tensors (x filled with small finite values). */
function bench(gpu: Gpu, s: GramShape, v: string, arena: BufferArena, xShape: number[]): Command[] {
  check(gpu, s, v);
  const x = arena.tensor("tune.x", xShape);
  writeTensor(
    gpu,
    x,
    Float32Array.from({ length: x.size }, (_, i) => ((i * 7919) % 17) / 17 - 0.5),
  );
  const out = arena.tensor("tune.out", [s.groups, s.dp, s.dp]);
  return recordGram(gpu, gramPlan(gpu, s, v, {}), x, out, arena);
}

/** Statistics XᵀX of a dense [rows, cols] matrix (optionally with a ones column). */
export const gramDenseFamily: KernelFamily<GramDenseProblem> = {
  id: "gram.dense",
  key: (p) => `${p.rows}x${p.cols}${p.appendOnes ? " ones" : ""}`,
  variants: (gpu, p) => gramVariantList(gpu, denseShape(p)),
  heuristic: (gpu, p) => gramHeuristic(gpu, denseShape(p)),
  candidates: (gpu, p) => gramCandidates(gpu, denseShape(p)),
  work: (p) => work(denseShape(p)),
  wgsl(gpu, p, v) {
    const s = denseShape(p);
    check(gpu, s, v);
    return gramPlan(gpu, s, v, {}).steps.map((st) => st.code);
  },
  benchCommands: (gpu, p, v, arena) => bench(gpu, denseShape(p), v, arena, [p.rows, p.cols]),
};

/** Statistics X̃ᵀX̃ of a conv's im2col patches (optionally with a ones column). */
export const gramPatchFamily: KernelFamily<GramPatchProblem> = {
  id: "gram.patch",
  key: (p) => `${patchKey(p.geom)}${p.appendOnes ? " ones" : ""}`,
  variants: (gpu, p) => gramVariantList(gpu, patchShape(p)),
  heuristic: (gpu, p) => gramHeuristic(gpu, patchShape(p)),
  candidates: (gpu, p) => gramCandidates(gpu, patchShape(p)),
  work: (p) => work(patchShape(p)),
  wgsl(gpu, p, v) {
    const s = patchShape(p);
    check(gpu, s, v);
    return gramPlan(gpu, s, v, {}).steps.map((st) => st.code);
  },
  benchCommands(gpu, p, v, arena) {
    const g = p.geom;
    return bench(gpu, patchShape(p), v, arena, [g.batch, g.inH, g.inW, g.inC]);
  },
};
