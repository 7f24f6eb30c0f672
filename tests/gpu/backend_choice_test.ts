/**
 * `preferVulkan` (lib/gpu/backend_choice.ts): Vulkan alone is asked for when
 * a Vulkan driver is configured or installed, nothing changes otherwise, and
 * a user's own `DENO_WEBGPU_BACKEND` always wins.
 */

import { assertEquals } from "../assert.ts";
import { preferVulkan } from "../../lib/gpu/backend_choice.ts";

const VARS = ["DENO_WEBGPU_BACKEND", "VK_ICD_FILENAMES", "VK_DRIVER_FILES"] as const;

/** Runs `fn` with the three variables as given (undefined: unset), then restores them. */
function withEnv(values: Partial<Record<(typeof VARS)[number], string>>, fn: () => void): void {
  const saved = VARS.map((v) => Deno.env.get(v));
  try {
    for (const v of VARS) {
      const want = values[v];
      if (want === undefined) Deno.env.delete(v);
      else Deno.env.set(v, want);
    }
    fn();
  } finally {
    VARS.forEach((v, i) =>
      saved[i] === undefined ? Deno.env.delete(v) : Deno.env.set(v, saved[i]!)
    );
  }
}

/** Two manifest folders under .cache: one empty, one with a driver manifest. */
function folders(): { empty: string; withDriver: string; cleanup: () => void } {
  const root = Deno.makeTempDirSync({ dir: ".cache", prefix: "icd-test-" });
  Deno.mkdirSync(`${root}/empty`);
  Deno.mkdirSync(`${root}/driver`);
  Deno.writeTextFileSync(`${root}/driver/lvp_icd.x86_64.json`, "{}");
  Deno.writeTextFileSync(`${root}/empty/README`, "not a manifest");
  return {
    empty: `${root}/empty`,
    withDriver: `${root}/driver`,
    cleanup: () => Deno.removeSync(root, { recursive: true }),
  };
}

Deno.test({
  name: "preferVulkan: Vulkan alone where a driver is installed or configured, else nothing",
  ignore: Deno.build.os !== "linux",
  fn() {
    const f = folders();
    try {
      withEnv({}, () => {
        assertEquals(preferVulkan([f.empty, `${f.empty}/missing`]), undefined);
        assertEquals(Deno.env.get("DENO_WEBGPU_BACKEND"), undefined, "no driver: left alone");
      });
      withEnv({}, () => {
        assertEquals(preferVulkan([f.empty, f.withDriver]), "vulkan");
        assertEquals(Deno.env.get("DENO_WEBGPU_BACKEND"), "vulkan", "an installed manifest");
      });
      withEnv({ VK_DRIVER_FILES: "/somewhere/nvidia_icd.json" }, () => {
        assertEquals(preferVulkan([f.empty]), "vulkan", "a configured driver");
      });
      withEnv({ VK_ICD_FILENAMES: "/somewhere/nvidia_icd.json" }, () => {
        assertEquals(preferVulkan([]), "vulkan", "the older variable too");
      });
      withEnv({ DENO_WEBGPU_BACKEND: "gl" }, () => {
        assertEquals(preferVulkan([f.withDriver]), undefined);
        assertEquals(Deno.env.get("DENO_WEBGPU_BACKEND"), "gl", "the user's choice wins");
      });
    } finally {
      f.cleanup();
    }
  },
});
