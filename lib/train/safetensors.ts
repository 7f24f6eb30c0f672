/**
 * The safetensors format: an 8-byte little-endian header length, a JSON
 * header (name → dtype, shape, byte offsets; plus string metadata), then the
 * raw little-endian data. Only F32 tensors are written and read here.
 * @module
 */

/** A named f32 tensor. */
export interface NamedTensor {
  /** Shape. */
  shape: number[];
  /** Values, row-major. */
  data: Float32Array;
}

/** The file could not be read as safetensors. */
export class SafetensorsError extends Error {
  /** `file` names the source. */
  constructor(file: string, detail: string) {
    super(`${file}: not a valid safetensors file: ${detail}`);
    this.name = "SafetensorsError";
  }
}

/** Serialises tensors (in the given order) and string metadata. */
export function encodeSafetensors(
  tensors: Map<string, NamedTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) {
      throw new RangeError(
        `tensor "${name}": shape [${t.shape}] holds ${size} values, not ${t.data.length}`,
      );
    }
    header[name] = {
      dtype: "F32",
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (allowed by the format).
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Parses a safetensors file; every inconsistency is a {@link SafetensorsError}. */
export function decodeSafetensors(
  bytes: Uint8Array,
  file = "<input>",
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new SafetensorsError(file, `only ${bytes.length} bytes`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n <= 0 || 8 + n > bytes.length) {
    throw new SafetensorsError(
      file,
      `header length ${n} does not fit in ${bytes.length} bytes (truncated?)`,
    );
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(file, `header is not JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = info as unknown as Record<string, string>;
      continue;
    }
    if (info.dtype !== "F32") {
      throw new SafetensorsError(
        file,
        `tensor "${name}" has dtype ${info.dtype}; only F32 is supported`,
      );
    }
    const [begin, end] = info.data_offsets ?? [];
    const size = (info.shape ?? []).reduce((a, b) => a * b, 1);
    if (!(begin >= 0 && end <= dataLength && end - begin === size * 4)) {
      throw new SafetensorsError(
        file,
        `tensor "${name}" has offsets [${begin}, ${end}] outside the data or not matching shape [${info.shape}]`,
      );
    }
    const data = new Float32Array(size);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { shape: info.shape, data });
  }
  return { tensors, metadata };
}
