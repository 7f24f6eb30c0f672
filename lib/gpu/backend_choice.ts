/**
 * Which WebGPU backends Deno initialises.
 *
 * Unless told otherwise (`DENO_WEBGPU_BACKEND`), Deno's WebGPU instance
 * initialises every backend wgpu has on Linux: Vulkan and OpenGL through
 * EGL. Where a Vulkan driver is installed the adapter is a Vulkan one, so
 * the EGL display, its context and its rasterizer threads (5 more threads
 * per instance on llvmpipe) serve nothing; and at process exit libEGL's
 * destructors were caught racing another thread's teardown into a glibc
 * heap abort ("corrupted size vs. prev_size in fastbins", in a test process
 * holding one instance per test module). So when a Vulkan driver is
 * configured (`VK_ICD_FILENAMES` / `VK_DRIVER_FILES`) or installed (a
 * manifest in the loader's system folders), Vulkan alone is asked for.
 * Without a Vulkan driver nothing changes (OpenGL stays available).
 *
 * Needs `--allow-env=DENO_WEBGPU_BACKEND,VK_ICD_FILENAMES,VK_DRIVER_FILES`
 * and read access to the manifest folders; without them this does nothing
 * (and never prompts).
 * @module
 */

import { granted } from "../util/permissions.ts";

/** Where the Vulkan loader finds installed drivers' manifests on Linux. */
export const VULKAN_ICD_DIRS = [
  "/usr/share/vulkan/icd.d",
  "/etc/vulkan/icd.d",
  "/usr/local/share/vulkan/icd.d",
] as const;

function hasManifest(dir: string): boolean {
  if (!granted({ name: "read", path: dir })) return false;
  try {
    for (const e of Deno.readDirSync(dir)) if (e.name.endsWith(".json")) return true;
  } catch { /* no such folder */ }
  return false;
}

/**
 * Sets `DENO_WEBGPU_BACKEND=vulkan` when it is unset and a Vulkan driver is
 * configured or installed (Linux only); returns the value it set, or
 * undefined when it left the environment alone. Call it before the first
 * adapter request, which creates the instance.
 */
export function preferVulkan(dirs: readonly string[] = VULKAN_ICD_DIRS): string | undefined {
  if (Deno.build.os !== "linux") return undefined;
  const vars = ["DENO_WEBGPU_BACKEND", "VK_ICD_FILENAMES", "VK_DRIVER_FILES"];
  if (!vars.every((variable) => granted({ name: "env", variable }))) return undefined;
  if (Deno.env.get("DENO_WEBGPU_BACKEND") !== undefined) return undefined;
  const configured = Boolean(Deno.env.get("VK_ICD_FILENAMES") || Deno.env.get("VK_DRIVER_FILES"));
  if (!configured && !dirs.some(hasManifest)) return undefined;
  Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
  return "vulkan";
}
