/**
 * Per-variant rows for the conv and statistics kernels of the demo CNN
 * (examples/fashion_cnn.yaml) and the residual example
 * (examples/fashion_resnet.yaml) at batch 128: every pass of every conv
 * layer and every Gram of the AdaBK statistics, timed with each `wg` tile
 * (and `tiled`) through the kernel families, so a run on a real GPU shows
 * which variant wins where and how far each is from its target.
 *
 * Times are GPU timestamps per run (sum of its compute passes: product plus
 * split-K reduction) where the adapter has them, wall time otherwise.
 * FLOPs: 2·N·Ho·Wo·Cout·Cin_g·kh·kw per conv pass; 2·rows·d'² per Gram
 * (the full product, although only the upper triangle is computed).
 * On software adapters these rows are skipped unless asked for: the `wg`
 * kernels run ~100× slower there and would take many minutes.
 * @module
 */

import type { Gpu } from "../../lib/gpu/device.ts";
import { BufferArena } from "../../lib/gpu/tensor.ts";
import type { Command } from "../../lib/gpu/commands.ts";
import type { KernelFamily } from "../../lib/kernels/tune/family.ts";
import {
  type Conv2dGeometry,
  convForwardFamily,
  convInputFamily,
  convOutputSize,
  type ConvProblem,
  convWeightFamily,
} from "../../lib/kernels/conv/conv.ts";
import { gramDenseFamily, gramPatchFamily } from "../../lib/kernels/gram/gram.ts";
import { chooseVariant } from "../../lib/kernels/tune/choose.ts";
import { type BenchRow, gflops, gpuRunTimes, timeCommands } from "../harness.ts";

/** A conv layer of one of the two nets. */
export interface NetLayer {
  /** Which net. */
  net: string;
  /** Layer name(s). */
  name: string;
  /** Its geometry (batch 128). */
  geom: Conv2dGeometry;
  /** The layer's input is the image: the step computes no input gradient. */
  first: boolean;
  /** Layers of this exact shape in the net (default 1). */
  count?: number;
}

function conv(
  net: string,
  name: string,
  hw: number,
  inC: number,
  outC: number,
  o: { stride?: number; k?: number; first?: boolean; count?: number } = {},
): NetLayer {
  const k = o.k ?? 3;
  const s = o.stride ?? 1;
  const pad = k === 3 ? 1 : 0;
  return {
    net,
    name,
    first: o.first ?? false,
    count: o.count,
    geom: {
      batch: 128,
      inH: hw,
      inW: hw,
      inC,
      outC,
      kh: k,
      kw: k,
      strideH: s,
      strideW: s,
      padH: pad,
      padW: pad,
      dilationH: 1,
      dilationW: 1,
      groups: 1,
    },
  };
}

/** Every conv of the two nets (no bias: each is followed by batch norm). */
export const NET_CONVS: readonly NetLayer[] = [
  conv("demo", "conv1", 28, 1, 16, { first: true }),
  conv("demo", "conv2", 14, 16, 32),
  conv("resnet", "stem", 28, 1, 32, { first: true }),
  conv("resnet", "block1.conv1|conv2", 28, 32, 32, { count: 2 }),
  conv("resnet", "block2.conv1", 28, 32, 64, { stride: 2 }),
  conv("resnet", "block2.conv2", 14, 64, 64),
  conv("resnet", "block2.proj", 28, 32, 64, { stride: 2, k: 1 }),
  conv("resnet", "block3.conv1", 14, 64, 128, { stride: 2 }),
  conv("resnet", "block3.conv2", 7, 128, 128),
  conv("resnet", "block3.proj", 14, 64, 128, { stride: 2, k: 1 }),
];

/** A dense Gram of a head: its input (with the bias column) or its output gradient. */
export interface HeadGram {
  /** Which net. */
  net: string;
  /** "head R" or "head L". */
  name: string;
  /** Rows (the batch). */
  rows: number;
  /** Columns. */
  cols: number;
  /** Ones column appended. */
  ones: boolean;
}

/** The dense Grams of the heads. */
export const HEAD_GRAMS: readonly HeadGram[] = [
  { net: "demo", name: "head R", rows: 128, cols: 1568, ones: true },
  { net: "demo", name: "head L", rows: 128, cols: 10, ones: false },
  { net: "resnet", name: "head R", rows: 128, cols: 128, ones: true },
  { net: "resnet", name: "head L", rows: 128, cols: 10, ones: false },
];

/** Options of {@link convVariantRows}. */
export interface ConvVariantOptions {
  /** Only the demo's layers. */
  quick?: boolean;
  /** Conv layers to time (default {@link NET_CONVS}). */
  layers?: readonly NetLayer[];
  /** Head Grams to time (default {@link HEAD_GRAMS}). */
  heads?: readonly HeadGram[];
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** Times one variant: GPU timestamps (best of 5 rounds) or wall-time median. */
async function timeVariant(
  gpu: Gpu,
  cmds: readonly Command[],
): Promise<{ ms: number; how: string }> {
  const t = await gpuRunTimes(gpu, cmds);
  if (t) return { ms: t.best, how: `GPU best (median ${t.median.toFixed(3)} ms)` };
  return { ms: await timeCommands(gpu, cmds, { samples: 3, minBatchMs: 60 }), how: "wall" };
}

/**
 * Rows for every variant of `p` worth timing here: the `wg` tiles and
 * `tiled` on hardware, everything on software adapters (when asked).
 */
async function timeFamily<P>(
  gpu: Gpu,
  f: KernelFamily<P>,
  p: P,
  shape: string,
  flops: number,
  log: (line: string) => void,
): Promise<{ rows: BenchRow[]; best: number; pick: number }> {
  const chosen = chooseVariant(gpu, f, p);
  const names = f.variants(gpu, p).filter((v) =>
    gpu.adapter.isFallbackAdapter || v.startsWith("wg") || v === "tiled"
  );
  const rows: BenchRow[] = [];
  for (const name of names) {
    const arena = new BufferArena(gpu.device);
    const mark = name === chosen ? "untuned/cached pick; " : "";
    try {
      const { ms, how } = await timeVariant(gpu, f.benchCommands(gpu, p, name, arena));
      rows.push({
        group: `${f.id} variants`,
        name,
        shape,
        ms,
        gflops: gflops(flops, ms),
        note: `${mark}${how}`,
      });
    } catch (e) {
      // One broken variant must not end an offline run: record it and go on.
      const note = `${mark}failed: ${(e as Error).message.split("\n")[0]}`;
      rows.push({ group: `${f.id} variants`, name, shape, ms: NaN, note });
    } finally {
      arena.dispose();
    }
  }
  const ok = rows.filter((r) => Number.isFinite(r.ms));
  if (ok.length === 0) {
    log(`  ${f.id} ${shape}: every variant failed`);
    return { rows, best: NaN, pick: NaN };
  }
  const best = ok.reduce((a, b) => (b.ms < a.ms ? b : a));
  const pick = rows.find((r) => r.name === chosen);
  log(
    `  ${f.id} ${shape}: best ${best.name} ${best.ms.toFixed(3)} ms (${
      best.gflops!.toFixed(0)
    } GFLOP/s)` + (pick ? `, pick ${chosen} ${pick.ms.toFixed(3)} ms` : ""),
  );
  return { rows, best: best.ms, pick: pick?.ms ?? NaN };
}

/** Per-variant rows of every conv pass and Gram of the two nets, then per-net totals. */
export async function convVariantRows(
  gpu: Gpu,
  opts: ConvVariantOptions = {},
): Promise<BenchRow[]> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const rows: BenchRow[] = [];
  // Per net and part of the step: the sum of each problem's best and picked time.
  const totals = new Map<string, { best: number; pick: number }>();
  const add = (
    key: string,
    count: number,
    r: { rows: BenchRow[]; best: number; pick: number },
  ) => {
    rows.push(...r.rows);
    const t = totals.get(key) ?? { best: 0, pick: 0 };
    totals.set(key, { best: t.best + count * r.best, pick: t.pick + count * r.pick });
  };
  for (const layer of (opts.layers ?? NET_CONVS).filter((l) => !opts.quick || l.net === "demo")) {
    const g = layer.geom;
    const n = layer.count ?? 1;
    const { outH, outW } = convOutputSize(g);
    const label =
      `${layer.net} ${layer.name} ${g.inH}x${g.inW}x${g.inC}->${g.outC} k${g.kh} s${g.strideH}`;
    const flops = 2 * g.batch * outH * outW * g.outC * (g.inC / g.groups) * g.kh * g.kw;
    const p: ConvProblem = { geom: g, bias: false };
    const conv = `${layer.net} conv passes of one step`;
    const stats = `${layer.net} statistics pass (Grams only)`;
    add(conv, n, await timeFamily(gpu, convForwardFamily, p, `${label} forward`, flops, log));
    if (!layer.first) {
      add(conv, n, await timeFamily(gpu, convInputFamily, p, `${label} input-grad`, flops, log));
    }
    add(conv, n, await timeFamily(gpu, convWeightFamily, p, `${label} weight-grad`, flops, log));
    // Statistics: R from the input patches, L from the output gradient [N·Ho·Wo, Cout].
    const dp = (g.inC / g.groups) * g.kh * g.kw;
    const pixels = g.batch * outH * outW;
    const r = { geom: g, appendOnes: false };
    add(
      stats,
      n,
      await timeFamily(gpu, gramPatchFamily, r, `${label} R`, 2 * pixels * dp * dp, log),
    );
    const l = { rows: pixels, cols: g.outC, appendOnes: false };
    const lFlops = 2 * pixels * g.outC * g.outC;
    add(stats, n, await timeFamily(gpu, gramDenseFamily, l, `${label} L`, lFlops, log));
  }
  for (const h of (opts.heads ?? HEAD_GRAMS).filter((x) => !opts.quick || x.net === "demo")) {
    const d = h.cols + (h.ones ? 1 : 0);
    const shape = `${h.net} ${h.name} ${h.rows}x${h.cols}${h.ones ? "+1" : ""}`;
    const p = { rows: h.rows, cols: h.cols, appendOnes: h.ones };
    add(
      `${h.net} statistics pass (Grams only)`,
      1,
      await timeFamily(gpu, gramDenseFamily, p, shape, 2 * h.rows * d * d, log),
    );
  }
  for (const [shape, t] of totals) {
    rows.push({ group: "conv totals", name: "Σ best variant", shape, ms: t.best });
    rows.push({ group: "conv totals", name: "Σ untuned/cached pick", shape, ms: t.pick });
    log(
      `${shape}: ${t.best.toFixed(3)} ms with the best variants, ${t.pick.toFixed(3)} ms as picked`,
    );
  }
  return rows;
}
