/**
 * The texture cache: textures that belong to a buffer's tensors (mirrors,
 * kernel-written copies), so one mirror serves every reader and an arena
 * disposing its buffers can destroy their textures. It sits below both
 * tensors (whose arena releases the textures) and texture mirrors (which
 * fill the cache).
 * @module
 */

/** A texture holding a tensor's values in the flat layout. */
export interface TextureOperand {
  /** The rgba32float texture. */
  readonly texture: GPUTexture;
  /** A view to bind as `texture_2d<f32>` (or as a write-only storage texture). */
  readonly view: GPUTextureView;
  /** Number of f32 values it mirrors. */
  readonly floats: number;
  /** Shape of the tensor it mirrors. */
  readonly shape: readonly number[];
  /** Name for messages. */
  readonly name: string;
}

// Textures belonging to a buffer's tensors (mirrors, kernel-written copies),
// weakly keyed by the buffer so a collected buffer drops them, then by a
// caller-chosen key. One cache for every kernel family: a tensor read by a
// matmul and a conv gets one mirror.
const textures = new WeakMap<GPUBuffer, Map<string, TextureOperand>>();

/** The texture cached for (`buffer`, `key`), made by `make` on first request. */
export function cachedTexture(
  buffer: GPUBuffer,
  key: string,
  make: () => TextureOperand,
): TextureOperand {
  let byKey = textures.get(buffer);
  if (!byKey) textures.set(buffer, byKey = new Map());
  let tex = byKey.get(key);
  if (!tex) byKey.set(key, tex = make());
  return tex;
}

/** Destroys every cached texture of `buffer` (its arena is being disposed). */
export function releaseTextures(buffer: GPUBuffer): void {
  const byKey = textures.get(buffer);
  if (!byKey) return;
  for (const tex of byKey.values()) tex.texture.destroy();
  textures.delete(buffer);
}
