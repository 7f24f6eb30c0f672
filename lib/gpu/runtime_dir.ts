/**
 * A private `XDG_RUNTIME_DIR` for the WebGPU backend.
 *
 * When the Vulkan loader is installed, creating the WebGPU instance probes
 * for a Wayland display, and libwayland prints `error: XDG_RUNTIME_DIR is
 * invalid or not set in the environment.` (twice per process) when that
 * variable is unset or not an absolute path, as on servers, in containers
 * and under `sudo`. Nothing is wrong then: no display is needed. Setting the
 * variable to a private directory (0700, as the XDG spec asks) before the
 * first adapter request silences it without touching anything else.
 *
 * Needs `--allow-env=XDG_RUNTIME_DIR` and write access to the directory's
 * parent; without them this does nothing (and never prompts).
 * @module
 */

import { granted } from "../util/permissions.ts";

/** Where the private runtime directory goes (the tasks may write `.cache`). */
export const PRIVATE_RUNTIME_DIR = ".cache/xdg-runtime";

/**
 * Sets `XDG_RUNTIME_DIR` to an absolute private directory when it is unset
 * or invalid (Linux only; other systems have no Wayland). Returns the
 * directory it set, or undefined when it left the environment alone.
 */
export async function ensureRuntimeDir(dir = PRIVATE_RUNTIME_DIR): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  if (!granted({ name: "env", variable: "XDG_RUNTIME_DIR" })) return undefined;
  if (Deno.env.get("XDG_RUNTIME_DIR")?.startsWith("/")) return undefined;
  if (!granted({ name: "write", path: dir }) || !granted({ name: "read", path: dir })) {
    return undefined;
  }
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700); // mkdir leaves an existing directory's mode alone
    const abs = await Deno.realPath(dir);
    Deno.env.set("XDG_RUNTIME_DIR", abs);
    return abs;
  } catch {
    return undefined; // e.g. a read-only checkout: the warning stays, nothing else changes
  }
}
