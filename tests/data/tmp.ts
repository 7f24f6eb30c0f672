/**
 * Temporary folders for data tests, under `.cache/` (the only place the
 * test permissions allow writing).
 * @module
 */

/** Runs `fn` with a fresh folder under `.cache/`, removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  await Deno.mkdir(".cache", { recursive: true });
  const dir = await Deno.makeTempDir({ dir: ".cache", prefix: "data-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Big-endian IDX header bytes written by hand (independent of lib/data/idx.ts). */
export function idxHeader(type: number, dims: number[]): Uint8Array {
  const h = new Uint8Array(4 + 4 * dims.length);
  h[2] = type;
  h[3] = dims.length;
  dims.forEach((d, i) => {
    h[4 + 4 * i] = (d >>> 24) & 255;
    h[5 + 4 * i] = (d >>> 16) & 255;
    h[6 + 4 * i] = (d >>> 8) & 255;
    h[7 + 4 * i] = d & 255;
  });
  return h;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
