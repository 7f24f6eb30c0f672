/**
 * The environment every subprocess gets.
 *
 * Under a scoped `--allow-run` (e.g. `--allow-run=npm`), Deno refuses to
 * start a child whose environment holds a non-empty dynamic-loader variable
 * (`LD_*`, `DYLD_*`), because it could inject code into the permitted
 * program. Such variables are set on most CUDA machines
 * (`LD_LIBRARY_PATH`), so a spawn that simply inherits the environment
 * fails there. Passing them explicitly empty is what Deno accepts; the rest
 * of the environment (PATH, HOME, proxies, npm settings, DENO_DIR) is still
 * inherited, and reading it needs no `--allow-env`. For the variables below
 * the empty string means "unset" to the loaders (glibc ld.so, macOS dyld).
 * @module
 */

/** Loader variables blanked for every child (the ones commonly set; others still need unsetting by hand). */
export const LOADER_VARIABLES: readonly string[] = [
  "LD_LIBRARY_PATH",
  "LD_PRELOAD",
  "LD_AUDIT",
  "DYLD_LIBRARY_PATH",
  "DYLD_FALLBACK_LIBRARY_PATH",
  "DYLD_INSERT_LIBRARIES",
  "DYLD_FRAMEWORK_PATH",
];

/**
 * The `env` option of every `Deno.Command`: the loader variables emptied,
 * then `extra` (which may not set a loader variable: Deno would refuse it).
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of LOADER_VARIABLES) env[name] = "";
  for (const [name, value] of Object.entries(extra)) {
    if (LOADER_VARIABLES.includes(name) && value !== "") {
      throw new RangeError(`childEnv: ${name} cannot be passed under a scoped --allow-run`);
    }
    env[name] = value;
  }
  return env;
}
