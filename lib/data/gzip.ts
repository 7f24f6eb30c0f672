/**
 * Reading data files that may be gzip-compressed, with the standard
 * `CompressionStream`/`DecompressionStream` (no dependency).
 *
 * Compression is detected by the gzip magic bytes, not the file name, so
 * `train-images-idx3-ubyte` works whether or not it was gunzipped first.
 * @module
 */
import { DataError } from "./errors.ts";

/** True when `bytes` starts with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decompresses a whole gzip member. A truncated or corrupt stream becomes a
 * {@link DataError} naming `file` (the stream itself only says "corrupt").
 */
export async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new DataError(
      file,
      `gzip data is truncated or corrupt (${(e as Error).message})`,
      { cause: e },
    );
  }
}

/** Compresses `bytes` with gzip (used to write test files and caches). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Reads `path` whole, gunzipping it when it is gzip data. A missing file is a
 * {@link DataError} naming the path (other I/O errors, such as a missing
 * read permission, propagate unchanged because they are not data problems).
 */
export async function readDataFile(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError(path, "file not found", { cause: e });
    }
    throw e;
  }
  return isGzip(bytes) ? await gunzip(bytes, path) : bytes;
}

/**
 * The first of `candidates` that exists (e.g. `x` and `x.gz`), or undefined.
 * Uses `stat`, so it needs only read permission on the directory's files.
 */
export async function firstExisting(candidates: readonly string[]): Promise<string | undefined> {
  for (const c of candidates) {
    try {
      const s = await Deno.stat(c);
      if (s.isFile) return c;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return undefined;
}
