/**
 * Texture mirrors shared by every texture-reading matmul.
 *
 * A tensor read through a texture needs an `rgba32float` mirror, refreshed by
 * a copy command before each read. Mirrors are created once, when the first
 * kernel reading that tensor range is built, and reused by every later
 * kernel, so a plan never allocates during a step.
 * @module
 */

import type { CopyToTextureCommand } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import {
  releaseTextures,
  textureMirror as sharedMirror,
  type TextureOperand,
} from "../../gpu/texture.ts";

/** The texture mirror of `t`'s storage range (shared with every other reader of `t`). */
export function textureMirror(gpu: Gpu, t: Tensor): TextureOperand {
  return sharedMirror(gpu.device, t);
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
 * Destroys the mirrors of every tensor in `buffer` (BufferArena.dispose does
 * this for its buffers; kernels built on them become invalid).
 */
export function releaseTextureMirrors(buffer: GPUBuffer): void {
  releaseTextures(buffer);
}
