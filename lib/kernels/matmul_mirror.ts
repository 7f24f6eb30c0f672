/**
 * Texture mirrors shared by every texture-reading matmul.
 *
 * A tensor read through a texture needs an `rgba32float` mirror, refreshed by
 * a copy command before each read. Mirrors are created once, when the first
 * kernel reading that tensor range is built, and reused by every later
 * kernel, so a plan never allocates during a step.
 * @module
 */

import type { CopyToTextureCommand } from "../gpu/commands.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { createTextureOperand, type TextureOperand } from "../gpu/texture.ts";

// Keyed by buffer (weakly: a collected buffer drops its mirrors), then by the
// tensor's byte range, since several tensors may share one buffer.
const mirrors = new WeakMap<GPUBuffer, Map<string, TextureOperand>>();

/** The texture mirror of `t`'s storage range, created on first request. */
export function textureMirror(gpu: Gpu, t: Tensor): TextureOperand {
  let byRange = mirrors.get(t.buffer);
  if (!byRange) {
    byRange = new Map();
    mirrors.set(t.buffer, byRange);
  }
  const key = `${t.offset}:${t.size}`;
  let tex = byRange.get(key);
  if (!tex) {
    tex = createTextureOperand(gpu.device, t);
    byRange.set(key, tex);
  }
  return tex;
}

/** The command refreshing `t`'s mirror (record it before the readers). */
export function mirrorCopy(gpu: Gpu, t: Tensor, label: string): CopyToTextureCommand {
  return {
    kind: "copyToTexture",
    label: `${label}:mirror(${t.name})`,
    src: t,
    dst: textureMirror(gpu, t),
  };
}

/**
 * Destroys the mirrors of every tensor in `buffer` (call when disposing the
 * buffer's arena; kernels built on them become invalid).
 */
export function releaseTextureMirrors(buffer: GPUBuffer): void {
  const byRange = mirrors.get(buffer);
  if (!byRange) return;
  for (const tex of byRange.values()) tex.texture.destroy();
  mirrors.delete(buffer);
}
