/**
 * The `matmul` kernel family: the {@link MATMUL_VARIANTS} registry seen
 * through the generic {@link KernelFamily} interface, so the one tuner times
 * and caches matmul choices like every other family's.
 * @module
 */

import type { Command } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena } from "../../gpu/tensor.ts";
import type { KernelFamily } from "../tune/family.ts";
import { scratchTensor } from "../tune/measure.ts";
import {
  type Epilogue,
  matmulFlops,
  type MatmulProblem,
  problemKey,
  resolveMatmul,
  resolveProblem,
} from "./types.ts";
import {
  findMatmulVariant,
  heuristicMatmulVariant,
  MATMUL_VARIANTS,
  type MatmulVariant,
  validMatmulVariants,
} from "./variants.ts";

/** The epilogue the family generates for hashing: every variant applies epilogues alike. */
const PLAIN: Epilogue = { alpha: 1, beta: 0, hasBias: false, activation: "none" };

function variant(name: string): MatmulVariant {
  const v = findMatmulVariant(name);
  if (!v) {
    throw new RangeError(
      `matmul: unknown variant "${name}"; known: ${MATMUL_VARIANTS.map((x) => x.name).join(", ")}`,
    );
  }
  return v;
}

/** Every matmul variant over the shape-only {@link MatmulProblem}. */
export const matmulFamily: KernelFamily<MatmulProblem> = {
  id: "matmul",
  key: (p) => problemKey(p),
  variants: (gpu, p) => validMatmulVariants(gpu, resolveProblem(p)),
  heuristic: (gpu, p) => heuristicMatmulVariant(gpu, resolveProblem(p)),
  // The storage-tiled kernels are ~100x slower on software adapters (one
  // 1024³ run would take 15 s): not worth timing there unless asked.
  candidates: (gpu, p) =>
    validMatmulVariants(gpu, resolveProblem(p)).filter((n) =>
      !(gpu.adapter.isFallbackAdapter && variant(n).family === "tiled")
    ),
  wgsl: (gpu, p, name) => variant(name).wgsl(gpu, resolveProblem(p), PLAIN),
  benchCommands(gpu: Gpu, p: MatmulProblem, name: string, arena: BufferArena): Command[] {
    const r = resolveProblem(p);
    const bBatch = r.bBroadcast ? 1 : r.batch;
    const a = scratchTensor(gpu, arena, "matmul.a", [r.batch * r.m * r.k]);
    const b = scratchTensor(gpu, arena, "matmul.b", [bBatch * r.k * r.n]);
    const out = scratchTensor(gpu, arena, "matmul.out", [r.batch * r.m * r.n]);
    const resolved = resolveMatmul({ ...r, a, b, out, arena, label: `tune.matmul.${name}` });
    return variant(name).build(gpu, resolved);
  },
  work: (p) => matmulFlops(p),
};
