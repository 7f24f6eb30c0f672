/**
 * Operand storage shared by the conv, pooling and Gram builders: texture
 * mirrors of tensors (cached, so several kernels reading one tensor share one
 * texture), textures written by kernels, and scratch tensors.
 *
 * All of it is created while a plan is built, never inside a step.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena, Tensor } from "../../gpu/tensor.ts";
import { TENSOR_USAGE } from "../../gpu/tensor.ts";
import type { CopyToTextureCommand } from "../../gpu/commands.ts";
import {
  cachedTexture,
  flatExtent,
  textureMirror,
  type TextureOperand,
} from "../../gpu/texture.ts";

const cached = cachedTexture;

/**
 * The flat-layout texture mirror of `t` (one per tensor range, reused by every
 * kernel that reads `t`) and the command that refreshes it; the command must
 * be recorded after `t` is written and before the readers.
 */
export function mirrorOf(gpu: Gpu, t: Tensor): { tex: TextureOperand; copy: CopyToTextureCommand } {
  const tex = textureMirror(gpu.device, t);
  return { tex, copy: { kind: "copyToTexture", label: `mirror ${t.name}`, src: t, dst: tex } };
}

/** True when `t` fits a flat texture mirror on this device. */
export function fitsTexture(gpu: Gpu, floats: number): boolean {
  return flatExtent(floats).height <= gpu.limits.maxTextureDimension2D;
}

/**
 * A flat-layout rgba32float texture of `floats` values that a kernel writes
 * (as a write-only storage texture) and later kernels read. Cached per
 * (`owner` tensor, `key`) so rebuilding a plan reuses it.
 */
export function derivedTexture(
  gpu: Gpu,
  owner: Tensor,
  key: string,
  floats: number,
): TextureOperand {
  return cached(owner.buffer, `derived:${owner.offset}:${owner.size}:${key}:${floats}`, () => {
    const { width, height } = flatExtent(floats);
    if (height > gpu.limits.maxTextureDimension2D) {
      throw new RangeError(`${key}: ${floats} values do not fit a texture (${height} rows)`);
    }
    const texture = gpu.device.createTexture({
      label: `${owner.name}.${key}`,
      size: { width, height },
      format: "rgba32float",
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING |
        GPUTextureUsage.COPY_SRC | GPUTextureUsage.COPY_DST,
    });
    return {
      texture,
      view: texture.createView(),
      floats,
      shape: [floats],
      name: `${owner.name}.${key}`,
    };
  });
}

/**
 * A scratch tensor for a kernel's intermediate results (split-K partial
 * sums). Allocated through `arena` when the caller passes one (so the plan
 * owns and frees it); otherwise directly on the device, freed with it.
 */
export function scratchTensor(
  gpu: Gpu,
  arena: BufferArena | undefined,
  name: string,
  size: number,
): Tensor {
  if (arena) return arena.tensor(name, [size]);
  const buffer = gpu.device.createBuffer({
    label: name,
    size: Math.max(16, Math.ceil((size * 4) / 16) * 16),
    usage: TENSOR_USAGE,
  });
  return { buffer, offset: 0, shape: [size], size, name };
}
