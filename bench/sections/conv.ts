/**
 * Conv benchmark section: forward, input-gradient and weight-gradient
 * throughput of our conv kernels next to TensorFlow.js WebGPU on the same
 * adapter, in the same process.
 *
 * Layers: (a) 8×32×32×32 → 64, 3×3, pad 1; (b) the two convs of a small
 * 28×28 CNN at batch 64: 28×28×1 → 16 and 14×14×16 → 32, both 3×3, pad 1.
 * Peer ops: `tf.conv2d`, and the `Conv2DBackpropInput` / `Conv2DBackpropFilter`
 * kernels run directly (what `tf.grads` of a conv dispatches), all NHWC with
 * explicit padding 1, so both sides compute exactly the same products.
 * FLOPs = 2·N·Ho·Wo·Cout·(Cin/groups)·kh·kw per pass.
 *
 * On hardware adapters the section adds per-variant rows for every conv
 * pass and statistics Gram of the demo CNN and the residual example
 * (conv_variants.ts); on software adapters only with `variants: true`.
 *
 * Run alone: `deno run --no-prompt --allow-read=. --allow-write=bench/results,.cache
 * --allow-env=ADABK_DUMP_WGSL,ADABK_NO_WEBGPU,ADABK_TUNE,LOG_TOKENS,LOG_STREAM
 * bench/sections/conv.ts [--no-peer] [--variants] [--quick]`.
 * @module
 */

import type { Gpu } from "../../lib/gpu/device.ts";
import { BufferArena } from "../../lib/gpu/tensor.ts";
import { writeTensor } from "../../lib/gpu/transfer.ts";
import {
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  type Conv2dGeometry,
  conv2dVariants,
  convOutputSize,
} from "../../lib/kernels/conv/conv.ts";
import { type BenchRow, gflops, timeCommands, timePeer } from "../harness.ts";
import { convVariantRows } from "./conv_variants.ts";

// deno-lint-ignore no-explicit-any
type Tf = any;

/** A benchmarked layer. */
interface Layer {
  label: string;
  geom: Conv2dGeometry;
}

function layer(batch: number, hw: number, inC: number, outC: number): Layer {
  return {
    label: `${batch}x${hw}x${hw}x${inC}->${outC} 3x3 p1`,
    geom: {
      batch,
      inH: hw,
      inW: hw,
      inC,
      outC,
      kh: 3,
      kw: 3,
      strideH: 1,
      strideW: 1,
      padH: 1,
      padW: 1,
      dilationH: 1,
      dilationW: 1,
      groups: 1,
    },
  };
}

/** The layers of the section. */
export const CONV_BENCH_LAYERS: readonly Layer[] = [
  layer(8, 32, 32, 64),
  layer(64, 28, 1, 16),
  layer(64, 14, 16, 32),
];

/** FLOPs of one pass of `g` (all three passes do the same number of products). */
export function convFlops(g: Conv2dGeometry): number {
  const { outH, outW } = convOutputSize(g);
  return 2 * g.batch * outH * outW * g.outC * (g.inC / g.groups) * g.kh * g.kw;
}

function random(n: number, seed: number): Float32Array {
  // A cheap LCG: benchmark data only needs to be finite and non-trivial.
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

type Pass = "forward" | "input" | "weight";
const PASS_NAMES: Record<Pass, string> = {
  forward: "forward",
  input: "input-grad",
  weight: "weight-grad",
};

/** Times the TF.js peer for one pass, or undefined when the op is missing there. */
async function peerMs(tf: Tf, g: Conv2dGeometry, pass: Pass, data: Record<string, Float32Array>) {
  const { outH, outW } = convOutputSize(g);
  const xShape = [g.batch, g.inH, g.inW, g.inC];
  const fShape = [g.kh, g.kw, g.inC, g.outC];
  const x = tf.tensor(data.x, xShape);
  const f = tf.tensor(data.w, fShape);
  const dy = tf.tensor(data.dy, [g.batch, outH, outW, g.outC]);
  const attrs = {
    strides: [g.strideH, g.strideW],
    pad: g.padH,
    dataFormat: "NHWC",
    dimRoundingMode: undefined,
  };
  try {
    const fn = pass === "forward"
      ? () => tf.conv2d(x, f, [g.strideH, g.strideW], g.padH)
      : pass === "input"
      ? () =>
        tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: f }, {
          ...attrs,
          inputShape: xShape,
        })
      : () =>
        tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { ...attrs, filterShape: fShape });
    return await timePeer(tf, fn);
  } catch (e) {
    console.error(`TF.js ${pass} on ${xShape.join("x")} failed: ${(e as Error).message}`);
    return undefined;
  } finally {
    tf.dispose([x, f, dy]);
  }
}

/** Options of {@link convSection}. */
export interface ConvSectionOptions {
  /** Per-variant rows of the two nets (default: on hardware adapters only). */
  variants?: boolean;
  /** Per-variant rows for the demo's layers only. */
  quick?: boolean;
}

/**
 * Conv rows: for every layer and pass, our default variant's median time and
 * GFLOP/s next to TF.js WebGPU (`tf` undefined: our side only); then, on
 * hardware, every variant of the two nets' conv passes and Grams.
 */
export async function convSection(
  gpu: Gpu,
  tf: Tf | undefined,
  opts: ConvSectionOptions = {},
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const { label, geom: g } of CONV_BENCH_LAYERS) {
    const arena = new BufferArena(gpu.device);
    try {
      const { outH, outW } = convOutputSize(g);
      const data = {
        x: random(g.batch * g.inH * g.inW * g.inC, 1),
        w: random(g.outC * g.inC * g.kh * g.kw, 2),
        dy: random(g.batch * outH * outW * g.outC, 3),
      };
      const x = arena.tensor("x", [g.batch, g.inH, g.inW, g.inC]);
      const w = arena.tensor("w", [g.outC, g.inC / g.groups, g.kh, g.kw]);
      const bias = arena.tensor("bias", [g.outC]);
      const y = arena.tensor("y", [g.batch, outH, outW, g.outC]);
      const dy = arena.tensor("dy", [g.batch, outH, outW, g.outC]);
      const dx = arena.tensor("dx", [g.batch, g.inH, g.inW, g.inC]);
      const dw = arena.tensor("dw", [g.outC, g.inC / g.groups, g.kh, g.kw]);
      const dbias = arena.tensor("dbias", [g.outC]);
      writeTensor(gpu, x, data.x);
      writeTensor(gpu, w, data.w);
      writeTensor(gpu, dy, data.dy);
      const flops = convFlops(g);
      for (const pass of ["forward", "input", "weight"] as const) {
        const variant = conv2dVariants(gpu, pass, g)[0];
        const cmds = pass === "forward"
          ? conv2dForward(gpu, { geom: g, x, w, bias, y, variant })
          : pass === "input"
          ? conv2dBackwardInput(gpu, { geom: g, dy, w, dx, variant })
          : conv2dBackwardWeight(gpu, { geom: g, x, dy, dw, dbias, variant, arena });
        const ms = await timeCommands(gpu, cmds);
        // TF.js wants the filter as [kh, kw, Cin, Cout]; values do not matter for timing.
        const peer = tf ? await peerMs(tf, g, pass, data) : undefined;
        rows.push({
          group: "conv",
          name: PASS_NAMES[pass],
          shape: label,
          ms,
          gflops: gflops(flops, ms),
          peerMs: peer,
          peerGflops: peer === undefined ? undefined : gflops(flops, peer),
          speedup: peer === undefined ? undefined : peer / ms,
          note: pass === "weight" ? `${variant}, with bias grad` : variant,
        });
      }
    } finally {
      arena.dispose();
    }
  }
  if (opts.variants ?? !gpu.adapter.isFallbackAdapter) {
    rows.push(...await convVariantRows(gpu, { quick: opts.quick }));
  }
  return rows;
}

if (import.meta.main) {
  const { acquireGpu } = await import("../../lib/gpu/device.ts");
  const { loadPeer, markdownTable } = await import("../harness.ts");
  const gpu = await acquireGpu();
  const tf = Deno.args.includes("--no-peer") ? undefined : await loadPeer();
  const variants = Deno.args.includes("--variants") ? true : undefined;
  const quick = Deno.args.includes("--quick");
  console.log(markdownTable(await convSection(gpu, tf, { variants, quick })));
}
