/**
 * Texture mirrors of tensors: the operand storage that is fast on software
 * adapters.
 *
 * On llvmpipe, `textureLoad` from an `rgba32float` texture is ~10x faster than
 * a storage-buffer load (see the platform notes §5), so kernels that read an
 * operand many times (matmul, implicit-GEMM conv) can read it from a texture
 * mirror instead. Whether a tensor gets a mirror is a decision of the memory
 * plan; the mirror is refreshed by a copy command recorded before its readers.
 *
 * Layout ("flat"): element i of the tensor lives in texel i/4, component i%4;
 * texel t sits at x = t % 1024, y = t / 1024. Row-major tensors whose inner
 * dimension is a multiple of 4 can therefore be read a vec4 at a time.
 * @module
 */

import type { Tensor } from "./tensor.ts";
import { shapeStr } from "./tensor.ts";
import { cachedTexture, type TextureOperand } from "./texture_cache.ts";

export { cachedTexture, releaseTextures, type TextureOperand } from "./texture_cache.ts";

/** Texels per texture row in the flat layout (16 KiB, a multiple of 256 bytes). */
export const FLAT_TEXELS_PER_ROW = 1024;

/** Texture extent (in texels) needed for `floats` values in the flat layout. */
export function flatExtent(floats: number): { width: number; height: number; texels: number } {
  const texels = Math.max(1, Math.ceil(floats / 4));
  const width = Math.min(FLAT_TEXELS_PER_ROW, texels);
  const height = Math.ceil(texels / FLAT_TEXELS_PER_ROW);
  return { width, height, texels };
}

/** Creates a flat-layout texture sized for `t` (contents undefined until copied). */
export function createTextureOperand(device: GPUDevice, t: Tensor): TextureOperand {
  const { width, height } = flatExtent(t.size);
  const maxDim = device.limits.maxTextureDimension2D;
  if (height > maxDim) {
    throw new RangeError(
      `tensor "${t.name}" ${shapeStr(t.shape)} is too large for a texture mirror ` +
        `(${height} rows > maxTextureDimension2D ${maxDim})`,
    );
  }
  const texture = device.createTexture({
    label: `${t.name}.tex`,
    size: { width, height },
    format: "rgba32float",
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST |
      GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_SRC,
  });
  return { texture, view: texture.createView(), floats: t.size, shape: t.shape, name: t.name };
}

/**
 * Records the copy of `src` into its mirror `dst`: whole 1024-texel rows in one
 * copy, the remainder in a single-row copy (which needs no 256-byte pitch).
 */
export function encodeCopyToTexture(enc: GPUCommandEncoder, src: Tensor, dst: TextureOperand) {
  if (src.size !== dst.floats) {
    throw new RangeError(`texture "${dst.name}" mirrors ${dst.floats} values, not ${src.size}`);
  }
  if (src.offset % 16 !== 0) {
    throw new RangeError(`tensor "${src.name}" offset ${src.offset} is not 16-byte aligned`);
  }
  const { texels } = flatExtent(src.size);
  const fullRows = Math.floor(texels / FLAT_TEXELS_PER_ROW);
  const rest = texels - fullRows * FLAT_TEXELS_PER_ROW;
  const rowBytes = FLAT_TEXELS_PER_ROW * 16;
  if (fullRows > 0) {
    enc.copyBufferToTexture(
      { buffer: src.buffer, offset: src.offset, bytesPerRow: rowBytes, rowsPerImage: fullRows },
      { texture: dst.texture },
      { width: FLAT_TEXELS_PER_ROW, height: fullRows },
    );
  }
  if (rest > 0) {
    enc.copyBufferToTexture(
      { buffer: src.buffer, offset: src.offset + fullRows * rowBytes },
      { texture: dst.texture, origin: { x: 0, y: fullRows } },
      { width: rest, height: 1 },
    );
  }
}

/**
 * WGSL helpers for reading a flat-layout texture bound as `name`:
 * `<name>_v4(t)` returns texel t; `<name>_at(i)` returns element i.
 */
export function wgslFlatReaders(name: string): string {
  return `fn ${name}_v4(t: u32) -> vec4<f32> {
  return textureLoad(${name}, vec2<u32>(t & ${FLAT_TEXELS_PER_ROW - 1}u, t >> ${
    Math.log2(FLAT_TEXELS_PER_ROW)
  }u), 0);
}
fn ${name}_at(i: u32) -> f32 {
  return ${name}_v4(i >> 2u)[i & 3u];
}
`;
}

/** The flat-layout mirror of `t`'s storage range, shared by every reader of `t`. */
export function textureMirror(device: GPUDevice, t: Tensor): TextureOperand {
  return cachedTexture(
    t.buffer,
    `mirror:${t.offset}:${t.size}`,
    () => createTextureOperand(device, t),
  );
}
