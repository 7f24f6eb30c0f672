/**
 * The IDX file format (MNIST, Fashion-MNIST, and this project's caches).
 *
 * Layout: two zero bytes, an element-type byte, a rank byte, `rank`
 * big-endian uint32 dimensions, then the elements row-major. Only unsigned
 * bytes (type 0x08) are read; that is what every image/label file uses.
 * @module
 */
import { DataError } from "./errors.ts";
import { readDataFile } from "./gzip.ts";

/** An IDX array of unsigned bytes. */
export interface IdxArray {
  /** Dimensions, outermost first (e.g. `[60000, 28, 28]`). */
  dims: number[];
  /** The elements, row-major (a view into the file's bytes; no copy). */
  data: Uint8Array;
}

/** Constraints to check while parsing; `undefined` entries match any size. */
export interface IdxExpect {
  /** Required dimensions (its length is the required rank). */
  dims?: readonly (number | undefined)[];
}

/** IDX element types, for the error message on an unsupported one. */
const TYPE_NAMES: Record<number, string> = {
  0x08: "unsigned byte",
  0x09: "signed byte",
  0x0b: "int16",
  0x0c: "int32",
  0x0d: "float32",
  0x0e: "float64",
};

const UBYTE = 0x08;

/**
 * Parses IDX bytes, validating the magic number, the element type, the rank,
 * the dimensions against `expect` and the exact data length. Every problem
 * is a {@link DataError} naming `file` and what is wrong.
 */
export function parseIdx(bytes: Uint8Array, file: string, expect: IdxExpect = {}): IdxArray {
  if (bytes.length < 4) {
    throw new DataError(
      file,
      `truncated: ${bytes.length} bytes, shorter than the 4-byte IDX magic number`,
    );
  }
  const magic = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  const hex = `0x${magic.toString(16).padStart(8, "0")}`;
  if (bytes[0] !== 0 || bytes[1] !== 0 || !(bytes[2] in TYPE_NAMES) || bytes[3] === 0) {
    throw new DataError(
      file,
      `bad magic number ${hex}: not an IDX file (expected 0x000008NN, e.g. 0x00000803 for images)`,
    );
  }
  if (bytes[2] !== UBYTE) {
    throw new DataError(
      file,
      `IDX element type 0x${bytes[2].toString(16)} (${TYPE_NAMES[bytes[2]]}) is not supported; ` +
        "only unsigned byte (0x08)",
    );
  }
  const rank = bytes[3];
  const header = 4 + 4 * rank;
  if (bytes.length < header) {
    throw new DataError(
      file,
      `truncated: rank-${rank} header needs ${header} bytes, file has ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let total = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    total *= d;
  }
  if (expect.dims) {
    const want = expect.dims;
    const ok = want.length === rank && want.every((w, i) => w === undefined || w === dims[i]);
    if (!ok) {
      const shown = want.map((w) => w ?? "N").join("×");
      throw new DataError(
        file,
        `dimensions ${dims.join("×") || "(scalar)"} do not match the expected ${shown} ` +
          `(magic ${hex})`,
      );
    }
  }
  const have = bytes.length - header;
  if (have < total) {
    throw new DataError(
      file,
      `truncated: header says ${dims.join("×")} = ${total} data bytes, file has ${have}`,
    );
  }
  if (have > total) {
    throw new DataError(
      file,
      `${have - total} unexpected bytes after the ${dims.join("×")} = ${total} data bytes`,
    );
  }
  return { dims, data: bytes.subarray(header) };
}

/** Encodes an unsigned-byte IDX file (the inverse of {@link parseIdx}). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  if (dims.length < 1 || dims.length > 255) {
    throw new RangeError(`IDX rank must be 1..255, got ${dims.length}`);
  }
  const total = dims.reduce((a, b) => a * b, 1);
  if (data.length !== total) {
    throw new RangeError(`IDX data has ${data.length} bytes, dims [${dims}] need ${total}`);
  }
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + total);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, header);
  return out;
}

/** Reads and parses an IDX file, gzip-compressed or not (see {@link parseIdx}). */
export async function readIdxFile(path: string, expect: IdxExpect = {}): Promise<IdxArray> {
  return parseIdx(await readDataFile(path), path, expect);
}
