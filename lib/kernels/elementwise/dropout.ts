/**
 * Inverted dropout driven by the counter-based RNG of lib/util/rng.ts.
 *
 * Element i is kept when rng_uniform01(seed, stream, i) ≥ p (p rounded to
 * f32) and scaled by 1/(1 − p); dropped elements are exactly 0. The mask is
 * never stored: backward regenerates it from the same (seed, stream), so
 * forward and backward of a step agree as long as they see the same seed.
 *
 * The seed comes from a uniform block the trainer rewrites every step (no
 * re-encoding), or is baked in as a constant for fixed-seed uses.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import type { Uniforms } from "../../gpu/uniforms.ts";
import { WGSL_RNG } from "../../util/rng.ts";
import { f32Lit } from "../wgsl.ts";
import { mapFirstExtraBinding, mapKernel, pickWidth, type WidthChoice } from "./map.ts";
import { checkSize, like, type Operand } from "./operands.ts";

/**
 * Where the seed comes from: a uniform block with a `seed: u32` field (read
 * at run time), or a constant baked into the kernel.
 */
export type DropoutSeed = Uniforms<string> | { seed: number };

/** Arguments of {@link dropoutForward}. */
export interface DropoutForwardArgs {
  /** Input. */
  x: Tensor;
  /** Output, same size (may be x). */
  y: Tensor;
  /** Drop probability in [0, 1]. */
  p: number;
  /** Seed source; use the same for the matching backward. */
  seed: DropoutSeed;
  /** Stream id (u32) that separates the masks of different layers. */
  stream: number;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

/** Arguments of {@link dropoutBackward}. */
export interface DropoutBackwardArgs {
  /** Gradient w.r.t. the output. */
  dy: Tensor;
  /** Gradient w.r.t. the input, same size (may be dy). */
  dx: Tensor;
  /** The forward's drop probability. */
  p: number;
  /** The forward's seed source. */
  seed: DropoutSeed;
  /** The forward's stream id. */
  stream: number;
  /** Force the scalar or vec4 kernel. */
  variant?: WidthChoice;
}

function isUniforms(s: DropoutSeed): s is Uniforms<string> {
  return typeof (s as Uniforms<string>).wgslStruct === "function";
}

function checkU32(label: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`${label}: ${what} must be an integer in [0, 2^32), got ${v}`);
  }
}

/** The WGSL prelude (RNG, seed source, keep test) and the extra binding. */
export function dropoutPrelude(
  label: string,
  p: number,
  seed: DropoutSeed,
  stream: number,
  firstBinding: number,
): { prelude: string; extra: { uniform: GPUBuffer }[] } {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${label}: p must be in [0, 1], got ${p}`);
  checkU32(label, "stream", stream);
  const p32 = Math.fround(p);
  // p = 1 drops everything; the scale is then irrelevant (and 1/0 not bakeable).
  const scale = p32 >= 1 ? 0 : 1 / (1 - p32);
  let seedExpr: string;
  let decl = "";
  const extra: { uniform: GPUBuffer }[] = [];
  if (isUniforms(seed)) {
    const struct = seed.wgslStruct("DropoutParams");
    if (!/^\s*seed: u32,$/m.test(struct)) {
      throw new RangeError(`${label}: the seed uniform block needs a "seed" field of type u32`);
    }
    decl =
      `${struct}@group(0) @binding(${firstBinding}) var<uniform> dropout_params: DropoutParams;\n`;
    seedExpr = "dropout_params.seed";
    extra.push(seed.binding);
  } else {
    checkU32(label, "seed", seed.seed);
    seedExpr = `${seed.seed >>> 0}u`;
  }
  const prelude = `${WGSL_RNG}${decl}
const DROP_P: f32 = ${f32Lit(p32)};
const DROP_SCALE: f32 = ${f32Lit(scale)};
fn keep(e: u32) -> bool {
  return rng_uniform01(${seedExpr}, ${stream >>> 0}u, e) >= DROP_P;
}
`;
  return { prelude, extra };
}

function build(
  gpu: Gpu,
  label: string,
  src: Operand,
  dst: Operand,
  p: number,
  seed: DropoutSeed,
  stream: number,
  variant: WidthChoice,
): Command[] {
  checkSize(label, dst.name, dst.tensor, src.tensor.size, like(src.name, src.tensor));
  const n = src.tensor.size;
  const width = pickWidth(label, [n], variant);
  const operands = [src, dst];
  const { prelude, extra } = dropoutPrelude(
    label,
    p,
    seed,
    stream,
    mapFirstExtraBinding(label, operands),
  );
  const mask = width === 4
    ? "vec4<bool>(keep(e), keep(e + 1u), keep(e + 2u), keep(e + 3u))"
    : "keep(e)";
  return mapKernel(gpu, {
    label: `${label}_w${width}${extra.length ? "_u" : ""}`,
    n,
    width,
    operands,
    prelude,
    extra,
    // select, not multiply by a 0/1 mask: dropped elements are 0 even for inf/NaN inputs.
    body: (nm) =>
      `  ${nm[dst.name]}[i] = select(T(0.0), ${nm[src.name]}[i] * DROP_SCALE, ${mask});`,
  });
}

/** y = keep ? x/(1 − p) : 0 with keep_i = uniform01(seed, stream, i) ≥ p. */
export function dropoutForward(gpu: Gpu, a: DropoutForwardArgs): Command[] {
  return build(
    gpu,
    "dropout_forward",
    { name: "x", tensor: a.x },
    { name: "y", tensor: a.y, write: true },
    a.p,
    a.seed,
    a.stream,
    a.variant,
  );
}

/** dx = keep ? dy/(1 − p) : 0 with the forward's mask (same p, seed and stream). */
export function dropoutBackward(gpu: Gpu, a: DropoutBackwardArgs): Command[] {
  return build(
    gpu,
    "dropout_backward",
    { name: "dy", tensor: a.dy },
    { name: "dx", tensor: a.dx, write: true },
    a.p,
    a.seed,
    a.stream,
    a.variant,
  );
}
