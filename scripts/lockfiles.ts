/**
 * Regenerates the three lockfiles after a dependency change:
 *
 * - `deno.full.lock`: every npm package of the project (bench, check);
 *   updated by `deno cache` over all entry points.
 * - `deno.figures.lock`: what the CLI with its figure commands and the tests
 *   need (Plot, d3, resvg, the font; no TensorFlow.js).
 * - `deno.lock`: what training needs (the default lockfile, which `deno
 *   task` installs before running any task, and the training tasks and
 *   `profile` use).
 *
 * Deno downloads every package of the lockfile a process uses, whether the
 * program imports it or not, so each derived file is the full lockfile
 * pruned to the packages its entry points reach. Usage:
 *
 *   deno task lockfiles
 * @module
 */

import { childEnv } from "../lib/util/subprocess.ts";
import { PEER_PACKAGES } from "../bench/peer_packages.ts";

/** Entry points of the training tasks (deno.lock). */
const CORE = [
  "mod.ts",
  "lib/optim/mod.ts",
  "cli/main.ts",
  "examples/train_fashion.ts",
  "examples/one_step.ts",
  "scripts/prepare_fashion.ts",
  "scripts/check_layers.ts",
  "bench/profile.ts", // TensorFlow.js is loaded by bench/main.ts alone, at run time
];
/** Entry points added by the figure commands and the tests (deno.figures.lock). */
const FIGURES = ["cli/compare.ts", "cli/report.ts", "tests/"];
/** Entry points added by the benchmarks (deno.full.lock). */
const BENCH = ["bench/main.ts"];

interface Lockfile {
  version: string;
  specifiers?: Record<string, string>;
  npm?: Record<string, unknown>;
  [section: string]: unknown;
}

interface DenoInfo {
  roots: string[];
  redirects: Record<string, string>;
  modules: {
    specifier: string;
    kind?: string;
    npmPackage?: string;
    dependencies?: { code?: { specifier: string } }[];
  }[];
  npmPackages: Record<string, { dependencies?: string[] }>;
}

async function deno(args: string[]): Promise<string> {
  const out = await new Deno.Command("deno", {
    args,
    env: childEnv(),
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`deno ${args.join(" ")} failed (exit ${out.code})`);
  return new TextDecoder().decode(out.stdout);
}

/** The files behind `entries` (folders expand to their .ts files). */
function expand(entries: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) walk(path);
      else if (e.name.endsWith(".ts")) files.push(path);
    }
  };
  for (const e of entries) {
    if (Deno.statSync(e).isDirectory) walk(e.replace(/\/$/, ""));
    else files.push(e);
  }
  return files.sort();
}

/** What a lockfile must pin for `entries`: npm package ids (name@version_peers) and remote modules. */
interface Reachable {
  packages: Set<string>;
  remote: Set<string>;
}

const ROOT = ".cache/lockfiles-root.ts";

/** Writes one module importing every entry point and `packages`: one graph for all of them. */
async function writeRoot(entries: readonly string[], packages: readonly string[] = []) {
  await Deno.mkdir(".cache", { recursive: true });
  const files = expand(entries).map((f) => `../${f}`);
  await Deno.writeTextFile(ROOT, [...files, ...packages].map((s) => `import "${s}";\n`).join(""));
}

/** The npm packages and remote modules that `entries` (and `packages`) load at run time. */
async function reachable(
  entries: readonly string[],
  packages: readonly string[] = [],
): Promise<Reachable> {
  await writeRoot(entries, packages);
  const info: DenoInfo = JSON.parse(await deno(["info", "--json", "--lock=deno.full.lock", ROOT]));
  await Deno.remove(ROOT);
  // Follow code imports only: a type-only reference (`typeof import(…)`) is
  // not loaded at run time, so its packages are not downloaded either.
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const visited = new Set<string>();
  const remote = new Set<string>();
  const stack: string[] = [];
  const queue = [...info.roots];
  while (queue.length) {
    const spec = queue.pop()!;
    const resolved = info.redirects[spec] ?? spec;
    if (visited.has(resolved)) continue;
    visited.add(resolved);
    const m = modules.get(resolved);
    if (m?.npmPackage) stack.push(m.npmPackage);
    if (/^https?:/.test(resolved)) remote.add(resolved);
    for (const d of m?.dependencies ?? []) if (d.code) queue.push(d.code.specifier);
  }
  const seen = new Set<string>();
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(info.npmPackages[id]?.dependencies ?? []));
  }
  return { packages: seen, remote };
}

/** `full` pruned to what `keep` names. */
function prune(full: Lockfile, { packages: keep, remote }: Reachable): Lockfile {
  const out: Lockfile = { ...full };
  out.specifiers = Object.fromEntries(
    Object.entries(full.specifiers ?? {}).filter(([spec, version]) => {
      const name = spec.replace(/^npm:/, "").replace(/@[^@/]*$/, "");
      return !spec.startsWith("npm:") || keep.has(`${name}@${version}`);
    }),
  );
  out.npm = Object.fromEntries(Object.entries(full.npm ?? {}).filter(([id]) => keep.has(id)));
  const urls = Object.entries((full.remote ?? {}) as Record<string, string>)
    .filter(([url]) => remote.has(url));
  if (urls.length) out.remote = Object.fromEntries(urls);
  else delete out.remote;
  return out;
}

if (import.meta.main) {
  if (Deno.args.length) {
    const help = Deno.args.every((a) => a === "--help" || a === "-h");
    console[help ? "log" : "error"]("usage: deno task lockfiles   (no arguments)");
    Deno.exit(help ? 0 : 2);
  }
  await writeRoot([...CORE, ...FIGURES, ...BENCH], PEER_PACKAGES);
  await deno(["cache", "--lock=deno.full.lock", "--frozen=false", ROOT]);
  await Deno.remove(ROOT);
  const full: Lockfile = JSON.parse(await Deno.readTextFile("deno.full.lock"));
  const targets: [string, string[], readonly string[]][] = [
    ["deno.full.lock", [...CORE, ...FIGURES, ...BENCH], PEER_PACKAGES],
    ["deno.figures.lock", [...CORE, ...FIGURES], []],
    ["deno.lock", CORE, []],
  ];
  for (const [file, entries, packages] of targets) {
    const keep = await reachable(entries, packages);
    await Deno.writeTextFile(file, JSON.stringify(prune(full, keep), null, 2) + "\n");
    console.log(`${file}: ${keep.packages.size} npm packages`);
  }
}
