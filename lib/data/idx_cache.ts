/**
 * A converted dataset on disk: the four MNIST-named IDX files plus
 * `manifest.json` with each file's size and SHA-256.
 *
 * The files are plain (uncompressed) IDX so a load is a read plus a hash;
 * any MNIST tool can read them too. Each file is written to a temporary name
 * and renamed, and the manifest is written last, so a crash mid-write never
 * leaves a cache that looks complete.
 * @module
 */
import type { Split } from "./dataset.ts";
import { DataError } from "./errors.ts";
import { encodeIdx, type IdxArray, parseIdx } from "./idx.ts";

/** Version of the on-disk layout; bump when it changes. */
export const CACHE_FORMAT = 1;

/** Manifest name inside the cache folder. */
export const MANIFEST = "manifest.json";

/** The four cached files, in the order train images, train labels, test images, test labels. */
export const CACHE_FILES = [
  "train-images-idx3-ubyte",
  "train-labels-idx1-ubyte",
  "t10k-images-idx3-ubyte",
  "t10k-labels-idx1-ubyte",
] as const;

/** `manifest.json`: what the cache holds and how it was made. */
export interface CacheManifest {
  /** {@link CACHE_FORMAT} at write time. */
  format: number;
  /** Dataset name. */
  dataset: string;
  /** `[H, W, C]`. */
  inputShape: number[];
  /** Number of classes. */
  classes: number;
  /** Free-form provenance (package, split rule, dropped entries, timings…). */
  meta: Record<string, unknown>;
  /** Per file: byte length and lowercase hex SHA-256. */
  files: Record<string, { bytes: number; sha256: string }>;
}

/** Lowercase hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes `bytes` to `path` via a temporary file and a rename. */
async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

/** Writes a cache for `train`/`test` of byte images into `dir`. */
export async function writeIdxCache(
  dir: string,
  info: { dataset: string; inputShape: number[]; classes: number; meta: Record<string, unknown> },
  train: Split,
  test: Split,
): Promise<CacheManifest> {
  await Deno.mkdir(dir, { recursive: true });
  // A stale manifest must not vouch for half-written new files.
  await Deno.remove(`${dir}/${MANIFEST}`).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  const [h, w] = info.inputShape;
  const arrays: [readonly number[], Split["images"]][] = [
    [[train.count, h, w], train.images],
    [[train.count], train.labels],
    [[test.count, h, w], test.images],
    [[test.count], test.labels],
  ];
  const files: CacheManifest["files"] = {};
  for (let i = 0; i < CACHE_FILES.length; i++) {
    const [dims, data] = arrays[i];
    if (!(data instanceof Uint8Array)) throw new RangeError("IDX caches hold byte images only");
    const bytes = encodeIdx(dims, data);
    await writeAtomic(`${dir}/${CACHE_FILES[i]}`, bytes);
    files[CACHE_FILES[i]] = { bytes: bytes.length, sha256: await sha256Hex(bytes) };
  }
  const manifest: CacheManifest = { format: CACHE_FORMAT, ...info, files };
  await writeAtomic(
    `${dir}/${MANIFEST}`,
    new TextEncoder().encode(JSON.stringify(manifest, null, 2)),
  );
  return manifest;
}

/** Reads `dir/manifest.json`; undefined when absent or from another format version. */
export async function readManifest(dir: string): Promise<CacheManifest | undefined> {
  const path = `${dir}/${MANIFEST}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  let m: CacheManifest;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new DataError(path, `not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (m?.format !== CACHE_FORMAT) return undefined;
  if (!m.files || !Array.isArray(m.inputShape) || typeof m.classes !== "number") {
    throw new DataError(path, "manifest lacks files, inputShape or classes");
  }
  return m;
}

/**
 * Reads the cached splits, checking each file's size and SHA-256 against
 * the manifest and its IDX header against the manifest's shape. Any
 * mismatch is a {@link DataError} naming the file.
 */
export async function readIdxCache(
  dir: string,
  manifest: CacheManifest,
): Promise<{ train: Split; test: Split }> {
  const [h, w] = manifest.inputShape;
  const parsed: IdxArray[] = [];
  for (let i = 0; i < CACHE_FILES.length; i++) {
    const name = CACHE_FILES[i];
    const path = `${dir}/${name}`;
    const want = manifest.files[name];
    if (!want) throw new DataError(`${dir}/${MANIFEST}`, `no entry for ${name}`);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new DataError(path, "file listed in the manifest is missing", { cause: e });
      }
      throw e;
    }
    if (bytes.length !== want.bytes) {
      throw new DataError(
        path,
        `${bytes.length} bytes, manifest says ${want.bytes}: cache is corrupt`,
      );
    }
    const sum = await sha256Hex(bytes);
    if (sum !== want.sha256) {
      throw new DataError(
        path,
        `SHA-256 ${sum.slice(0, 12)}… does not match the manifest: cache is corrupt`,
      );
    }
    parsed.push(parseIdx(bytes, path, { dims: i % 2 === 0 ? [undefined, h, w] : [undefined] }));
  }
  const split = (img: number, lbl: number): Split => {
    const count = parsed[img].dims[0];
    if (parsed[lbl].dims[0] !== count) {
      throw new DataError(
        `${dir}/${CACHE_FILES[lbl]}`,
        `${parsed[lbl].dims[0]} labels for ${count} images`,
      );
    }
    return { images: parsed[img].data, labels: parsed[lbl].data, count };
  };
  return { train: split(0, 1), test: split(2, 3) };
}
