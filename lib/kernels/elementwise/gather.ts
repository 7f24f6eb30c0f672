/**
 * Batch gather: copies the samples a permutation selects from a GPU-resident
 * dataset into the input batch, normalising on the way, and writes labels.
 *
 * Rows past the end of the permutation (a final partial batch) get label −1,
 * which the loss ignores, and zero inputs.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import { type Command, dispatch, grid2d } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { f32Lit } from "../wgsl.ts";
import { WGSL_RNG } from "../../util/rng.ts";

const WG = 256;

/** Static description of a gather. */
export interface GatherArgs {
  /**
   * Dataset pixels: u8 packed 4 per u32 word ("u8") or plain f32 ("f32"),
   * in one or more buffers of `samplesPerBuffer` samples each (a dataset can
   * exceed one storage binding: CIFAR-10 is 150 MiB, llvmpipe binds 128).
   */
  pixels: { buffers: GPUBuffer[]; format: "u8" | "f32"; samplesPerBuffer: number };
  /** Labels, one u32 per sample. */
  labels: GPUBuffer;
  /** Permutation of sample indices (u32), `count` long. */
  perm: GPUBuffer;
  /** Number of entries of `perm` that are valid. */
  count: number;
  /** Values per sample (H·W·C). */
  sampleSize: number;
  /** Channels (last axis), for per-channel normalisation. */
  channels: number;
  /** x = (raw·scale − mean[c]) / std[c]. */
  normalization: { scale: number; mean: readonly number[]; std: readonly number[] };
  /**
   * Uniform buffer: u32 start (index of the batch's first entry in `perm`),
   * u32 stream (the augmentation stream of the current epoch).
   */
  start: GPUBuffer;
  /**
   * Random crop with zero padding `pad` and/or horizontal flip, drawn per
   * (seed, epoch stream, sample index) exactly as lib/data/augment_ref.ts.
   * Needs an image sample shape [H, W, C].
   */
  augment?: { seed: number; pad: number; flip: boolean; shape: readonly number[] };
  /** Output batch [B, ...sample]. */
  input: Tensor;
  /** Output labels [B] (f32 class indices, −1 for padding rows). */
  labelsOut: Tensor;
}

/** WGSL of the gather for a batch of `batch` samples. */
export function wgslGather(
  a: Omit<GatherArgs, "pixels" | "labels" | "perm" | "start" | "input" | "labelsOut"> & {
    format: "u8" | "f32";
    batch: number;
    gridX: number;
    buffers: number;
    samplesPerBuffer: number;
  },
): string {
  const { scale, mean, std } = a.normalization;
  const c = a.channels;
  const consts = (xs: readonly number[]) => xs.map(f32Lit).join(", ");
  const aug = a.augment;
  // The source element: j itself, or the cropped/flipped position (−1: padding).
  let locate = "let sj = i32(j);";
  if (aug) {
    const [h, w, c] = aug.shape;
    const span = 2 * aug.pad + 1;
    locate = `let base = 3u * src;
  let dy = i32(((rng_hash3(${aug.seed >>> 0}u, u.stream, base) >> 8u) * ${span}u) >> 24u);
  let dx = i32(((rng_hash3(${aug.seed >>> 0}u, u.stream, base + 1u) >> 8u) * ${span}u) >> 24u);
  let flip = ${
      aug.flip
        ? "(rng_hash3(" + (aug.seed >>> 0) + "u, u.stream, base + 2u) >> 31u) == 1u"
        : "false"
    };
  let py = i32(j / ${w * c}u);
  let px = i32((j / ${c}u) % ${w}u);
  let sy = py + dy - ${aug.pad};
  let sx = select(px, ${w - 1} - px, flip) + dx - ${aug.pad};
  let inside = sy >= 0 && sy < ${h} && sx >= 0 && sx < ${w};
  let sj = select(-1, (sy * ${w} + sx) * ${c} + i32(j % ${c}u), inside);`;
  }
  // Element `e` of buffer `b` (byte-addressed for u8 data).
  const read = (b: number) =>
    a.format === "u8"
      ? `return f32((pixels${b}[e >> 2u] >> ((e & 3u) * 8u)) & 255u);`
      : `return pixels${b}[e];`;
  const branches = Array.from(
    { length: a.buffers },
    (_, b) => b === a.buffers - 1 ? `  ${read(b)}` : `  if (chunk == ${b}u) { ${read(b)} }`,
  ).join("\n");
  const fetch = `raw = pixel(src, u32(sj));`;
  const decls = Array.from(
    { length: a.buffers },
    (_, b) =>
      `@group(0) @binding(${10 + b}) var<storage, read> pixels${b}: array<${
        a.format === "u8" ? "u32" : "f32"
      }>;`,
  ).join("\n");
  return `struct U { start: u32, stream: u32 }
${aug ? WGSL_RNG : ""}
@group(0) @binding(0) var<uniform> u: U;
${decls}
fn pixel(src: u32, j: u32) -> f32 {
  let chunk = src / ${a.samplesPerBuffer}u;
  let e = (src % ${a.samplesPerBuffer}u) * ${a.sampleSize}u + j;
${branches}
}
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> perm: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
const MEAN = array<f32, ${c}>(${consts(mean)});
const INV_STD = array<f32, ${c}>(${consts(std.map((s) => 1 / s))});
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * ${a.gridX * WG}u;
  if (i >= ${a.batch * a.sampleSize}u) { return; }
  let row = i / ${a.sampleSize}u;
  let j = i % ${a.sampleSize}u;
  let k = u.start + row;
  if (k >= ${a.count}u) {
    x[i] = 0.0;
    if (j == 0u) { y[row] = -1.0; }
    return;
  }
  let src = perm[k];
  ${locate}
  var raw = 0.0;
  if (sj >= 0) {
    ${fetch}
  }
  let ch = j % ${c}u;
  x[i] = (raw * ${f32Lit(scale)} - MEAN[ch]) * INV_STD[ch];
  if (j == 0u) { y[row] = f32(labels[src]); }
}
`;
}

/** Builds the gather dispatch. */
export function gather(gpu: Gpu, a: GatherArgs): Command[] {
  const batch = a.input.shape[0];
  if (a.input.size !== batch * a.sampleSize) {
    throw new RangeError(
      `gather: input [${a.input.shape}] does not hold ${batch} samples of ${a.sampleSize} values`,
    );
  }
  if (a.augment) {
    const [h, w, c] = a.augment.shape;
    if (a.augment.shape.length !== 3 || h * w * c !== a.sampleSize || c !== a.channels) {
      throw new RangeError(
        `gather: augmentation needs an image shape [H, W, C] of ${a.sampleSize} values`,
      );
    }
    if (!Number.isInteger(a.augment.pad) || a.augment.pad < 0 || a.augment.pad > 127) {
      throw new RangeError(
        `gather: crop padding must be an integer in [0, 127], got ${a.augment.pad}`,
      );
    }
  }
  if (a.normalization.mean.length !== a.channels || a.normalization.std.length !== a.channels) {
    throw new RangeError(`gather: normalisation needs ${a.channels} means and stds`);
  }
  const grid = grid2d(Math.ceil((batch * a.sampleSize) / WG));
  const nb = a.pixels.buffers.length;
  if (nb < 1 || nb > 8 || nb * a.pixels.samplesPerBuffer < a.count) {
    throw new RangeError(
      `gather: ${nb} pixel buffers of ${a.pixels.samplesPerBuffer} samples cannot hold ${a.count}`,
    );
  }
  const code = wgslGather({
    ...a,
    format: a.pixels.format,
    batch,
    gridX: grid[0],
    buffers: nb,
    samplesPerBuffer: a.pixels.samplesPerBuffer,
  });
  const raw = (buffer: GPUBuffer) => ({
    buffer,
    offset: 0,
    shape: [buffer.size / 4],
    size: buffer.size / 4,
    name: "",
  });
  return [
    dispatch(gpu, "gather", code, [
      { uniform: a.start },
      raw(a.pixels.buffers[0]), // binding 1 is unused (layout "auto" drops it)
      raw(a.labels),
      raw(a.perm),
      a.input,
      a.labelsOut,
      ...Array.from({ length: 4 }, () => raw(a.labels)), // 6–9 unused
      ...a.pixels.buffers.map(raw),
    ], grid),
  ];
}
