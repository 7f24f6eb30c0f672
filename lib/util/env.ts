/**
 * Reading environment switches without demanding `--allow-env`.
 *
 * Every switch the library honours is optional, so a missing permission is
 * treated the same as an unset variable instead of crashing the program.
 * @module
 */

/** Returns the variable's value, or `undefined` when unset or not permitted. */
export function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** True when the variable is set to anything but "", "0" or "false". */
export function envFlag(name: string): boolean {
  const v = envVar(name);
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}
