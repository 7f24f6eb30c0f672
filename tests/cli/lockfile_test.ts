/**
 * The first training run downloads only what training needs: Deno fetches
 * every package of the lockfile a process uses, and `deno task` installs the
 * import map's packages and deno.lock's before running any task. TensorFlow.js
 * (bench) and Plot/d3/resvg/the font (figures) must stay out of both.
 */
import { assert, assertEquals } from "../assert.ts";

const FIGURE_OR_BENCH = /^(@tensorflow\/|d3|@observablehq\/|linkedom|@resvg\/|dejavu-fonts-ttf)/;

function lockPackages(file: string): string[] {
  const lock = JSON.parse(Deno.readTextFileSync(file)) as { npm?: Record<string, unknown> };
  return Object.keys(lock.npm ?? {}).map((id) => id.replace(/^(@?[^@]+)@.*$/, "$1"));
}

const config = JSON.parse(Deno.readTextFileSync("deno.json")) as {
  imports: Record<string, string>;
  tasks: Record<string, string>;
  lock: { path: string; frozen: boolean };
};

Deno.test("deno.lock and the import map hold no bench or figure package", () => {
  assertEquals(lockPackages("deno.lock").filter((p) => FIGURE_OR_BENCH.test(p)), []);
  const mapped = Object.values(config.imports).map((s) => s.replace(/^npm:/, ""));
  assertEquals(mapped.filter((p) => FIGURE_OR_BENCH.test(p)), []);
  // Frozen: a run that needs a package deno.lock lacks fails instead of adding it.
  assertEquals(config.lock, { path: "deno.lock", frozen: true });
});

Deno.test("training tasks use deno.lock; figure and bench tasks name theirs", () => {
  for (const task of ["demo", "train", "inspect", "eval", "example", "one-step", "profile"]) {
    assert(!config.tasks[task].includes("--lock"), `${task}: ${config.tasks[task]}`);
  }
  for (const task of ["compare", "adabk", "test"]) {
    assert(config.tasks[task].includes("--lock=deno.figures.lock"), task);
  }
  for (const task of ["bench", "bench:kernels", "bench:optim", "check"]) {
    assert(config.tasks[task].includes("--lock=deno.full.lock"), task);
  }
  assert(!lockPackages("deno.figures.lock").some((p) => p.startsWith("@tensorflow/")));
  assert(lockPackages("deno.figures.lock").includes("dejavu-fonts-ttf"));
});

Deno.test("no task may read system fonts", () => {
  for (const [task, line] of Object.entries(config.tasks)) {
    assert(!line.includes("/usr/share/fonts"), `${task}: ${line}`);
  }
});
