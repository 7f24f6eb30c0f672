/**
 * CIFAR-10 and CIFAR-100 from their "binary version" files on disk.
 *
 * A CIFAR-10 record is 1 label byte + 3,072 pixel bytes; a CIFAR-100 record
 * is 1 coarse-label byte + 1 fine-label byte + 3,072 pixel bytes. Pixels are
 * stored channel-major (1,024 red, then green, then blue, each 32×32
 * row-major) and are converted here to the engine's HWC layout.
 *
 * Files: CIFAR-10 `data_batch_1.bin` … `data_batch_5.bin` and
 * `test_batch.bin`; CIFAR-100 `train.bin` and `test.bin`. `dir` may be the
 * folder holding them or its parent (with `cifar-10-batches-bin/` or
 * `cifar-100-binary/` inside, as the archives unpack). Needs `--allow-read`.
 * @module
 */
import { type Dataset, type Split, tableNormalization, validateSplit } from "./dataset.ts";
import { DataError } from "./errors.ts";
import { firstExisting, readDataFile } from "./gzip.ts";

/** Which CIFAR file format a byte buffer holds. */
export type CifarVariant = "cifar10" | "cifar100";

/** Decoded records of one CIFAR file, images already HWC. */
export interface CifarRecords {
  /** `count·32·32·3` bytes, NHWC. */
  images: Uint8Array;
  /** Class labels (CIFAR-10 classes, or CIFAR-100 fine labels). */
  labels: Uint8Array;
  /** CIFAR-100 coarse (superclass) labels; absent for CIFAR-10. */
  coarseLabels?: Uint8Array;
  /** Number of records. */
  count: number;
}

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

/** Bytes per record for a variant (label bytes + 3,072 pixels). */
export function cifarRecordSize(variant: CifarVariant): number {
  return (variant === "cifar10" ? 1 : 2) + PIXELS;
}

/**
 * Decodes one CIFAR binary file. The length must be a whole, non-zero
 * number of records and every label must be in range (10 classes; or 20
 * coarse and 100 fine); otherwise a {@link DataError} names `file`.
 */
export function parseCifar(bytes: Uint8Array, file: string, variant: CifarVariant): CifarRecords {
  const rec = cifarRecordSize(variant);
  const label = variant === "cifar10" ? "CIFAR-10" : "CIFAR-100";
  if (bytes.length === 0) {
    throw new DataError(file, `empty file (a ${label} record is ${rec} bytes)`);
  }
  if (bytes.length % rec !== 0) {
    throw new DataError(
      file,
      `length ${bytes.length} is not a whole number of ${rec}-byte ${label} records ` +
        `(${Math.floor(bytes.length / rec)} records + ${bytes.length % rec} bytes): ` +
        "truncated, or not a " + label + " binary file",
    );
  }
  const count = bytes.length / rec;
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  const coarse = variant === "cifar100" ? new Uint8Array(count) : undefined;
  const labelBytes = rec - PIXELS;
  for (let r = 0; r < count; r++) {
    const base = r * rec;
    if (coarse) {
      coarse[r] = bytes[base];
      labels[r] = bytes[base + 1];
      if (coarse[r] >= 20 || labels[r] >= 100) {
        throw new DataError(
          file,
          `record ${r} has coarse label ${coarse[r]} / fine label ${labels[r]}; ` +
            "CIFAR-100 needs coarse < 20 and fine < 100 (corrupt, or not a CIFAR-100 file)",
        );
      }
    } else {
      labels[r] = bytes[base];
      if (labels[r] >= 10) {
        throw new DataError(
          file,
          `record ${r} has label ${
            labels[r]
          }, not a CIFAR-10 class 0–9 (corrupt, or not a CIFAR-10 file)`,
        );
      }
    }
    // CHW → HWC: value (c, p) of the file goes to pixel p, channel c.
    const src = base + labelBytes;
    const dst = r * PIXELS;
    for (let p = 0; p < PLANE; p++) {
      const o = dst + 3 * p;
      images[o] = bytes[src + p];
      images[o + 1] = bytes[src + PLANE + p];
      images[o + 2] = bytes[src + 2 * PLANE + p];
    }
  }
  return { images, labels, coarseLabels: coarse, count };
}

/** Reads and decodes several files of one variant into one split. */
async function readFiles(paths: string[], variant: CifarVariant, coarse: boolean): Promise<Split> {
  const parts: CifarRecords[] = [];
  for (const p of paths) parts.push(parseCifar(await readDataFile(p), p, variant));
  const count = parts.reduce((a, r) => a + r.count, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const r of parts) {
    images.set(r.images, at * PIXELS);
    labels.set(coarse ? r.coarseLabels! : r.labels, at);
    at += r.count;
  }
  return { images, labels, count };
}

/** Resolves `dir` or `dir/<sub>` to the folder that contains `probe`. */
async function resolveDir(dir: string, sub: string, probe: string): Promise<string> {
  const found = await firstExisting([`${dir}/${probe}`, `${dir}/${sub}/${probe}`]);
  if (!found) {
    throw new DataError(`${dir}/${probe}`, `file not found (also looked in ${dir}/${sub}/)`);
  }
  return found.slice(0, found.length - probe.length - 1);
}

/** Options of {@link loadCifar10}. */
export interface Cifar10Options {
  /** Folder with the `.bin` files (or its parent). */
  dir: string;
}

/** Loads CIFAR-10 (50,000 train / 10,000 test images, 32×32×3, 10 classes). */
export async function loadCifar10(options: Cifar10Options): Promise<Dataset> {
  const dir = await resolveDir(options.dir, "cifar-10-batches-bin", "test_batch.bin");
  const trainFiles = [1, 2, 3, 4, 5].map((i) => `${dir}/data_batch_${i}.bin`);
  const train = await readFiles(trainFiles, "cifar10", false);
  const test = await readFiles([`${dir}/test_batch.bin`], "cifar10", false);
  const shape = [SIDE, SIDE, 3];
  validateSplit(dir, train, shape, 10);
  validateSplit(dir, test, shape, 10);
  return {
    name: "cifar10",
    inputShape: shape,
    classes: 10,
    train,
    test,
    normalization: tableNormalization("cifar10")!,
  };
}

/** Options of {@link loadCifar100}. */
export interface Cifar100Options {
  /** Folder with `train.bin` and `test.bin` (or its parent). */
  dir: string;
  /** Which label byte to use: 100 fine classes (default) or 20 coarse superclasses. */
  labels?: "fine" | "coarse";
}

/** Loads CIFAR-100 (50,000 train / 10,000 test images, 32×32×3). */
export async function loadCifar100(options: Cifar100Options): Promise<Dataset> {
  const dir = await resolveDir(options.dir, "cifar-100-binary", "test.bin");
  const coarse = options.labels === "coarse";
  const train = await readFiles([`${dir}/train.bin`], "cifar100", coarse);
  const test = await readFiles([`${dir}/test.bin`], "cifar100", coarse);
  const classes = coarse ? 20 : 100;
  return {
    name: coarse ? "cifar100-coarse" : "cifar100",
    inputShape: [SIDE, SIDE, 3],
    classes,
    train,
    test,
    normalization: tableNormalization("cifar100")!,
  };
}
