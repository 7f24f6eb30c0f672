/**
 * What a user's machine has and CI's might not: no NO_COLOR (every --help
 * exited 1), LD_LIBRARY_PATH set (scoped --allow-run refused every spawn),
 * no XDG_RUNTIME_DIR (libwayland printed an alarming line per process).
 * Each test runs the real task or a real child process, so the test
 * runner's own environment cannot hide the problem.
 */
import { childEnv } from "../../lib/util/subprocess.ts";
import { inferBackend } from "../../lib/gpu/device.ts";
import { assert, assertEquals } from "../assert.ts";
import { gpuTest } from "../util.ts";

const TASKS = Object.keys(
  (JSON.parse(Deno.readTextFileSync("deno.json")) as { tasks: Record<string, string> }).tasks,
);

async function deno(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command("deno", {
    args,
    env: childEnv(env),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("--help of every task exits 0 without NO_COLOR", async () => {
  // NO_COLOR="" is "unset" to commander (it tests the value), so the child
  // reads the colour variables the way it does for a user without NO_COLOR.
  const failed: string[] = [];
  for (let i = 0; i < TASKS.length; i += 4) {
    await Promise.all(
      TASKS.slice(i, i + 4).map(async (task) => {
        const r = await deno(["task", task, "--help"], { NO_COLOR: "" });
        if (r.code !== 0) {
          failed.push(`${task}: exit ${r.code}: ${r.stderr.trim().split("\n").pop()}`);
        }
      }),
    );
  }
  assertEquals(failed, []);
});

Deno.test("usage errors point at --help, and --help then works", async () => {
  const r = await deno(["task", "adabk", "train", "x.yaml", "--bogus"], { NO_COLOR: "" });
  assertEquals(r.code, 2);
  assert(r.stderr.includes("unknown option '--bogus'") && r.stderr.includes("--help"), r.stderr);
  const h = await deno(["task", "adabk", "train", "--help"], { NO_COLOR: "" });
  assertEquals(h.code, 0, h.stderr);
  assert(h.stdout.includes("--resume"), h.stdout);
});

Deno.test("a subprocess starts under a scoped --allow-run with LD_LIBRARY_PATH set", async () => {
  const r = await deno([
    "run",
    "--no-prompt",
    "--allow-run=deno",
    "--allow-env=LD_LIBRARY_PATH",
    "tests/fixtures/cli/spawn_with_loader_path.ts",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim());
  // The control case reproduces the refusal, so the other one proves the fix.
  assert(result.inherited.startsWith("refused:"), `inherited: ${result.inherited}`);
  assertEquals(result.childEnv, "ran");
});

Deno.test("every subprocess in the project gets childEnv()", async () => {
  const offenders: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (/\.(ts|js)$/.test(e.name)) {
        if (path === "tests/fixtures/cli/spawn_with_loader_path.ts") continue; // the control case
        const src = await Deno.readTextFile(path);
        for (const m of src.matchAll(/new Deno\.Command\(/g)) {
          // The options object follows within a few lines.
          const options = src.slice(m.index, m.index + 400);
          if (!options.includes("env: childEnv(")) {
            offenders.push(`${path}:${src.slice(0, m.index).split("\n").length}`);
          }
        }
      }
    }
  };
  for (const dir of ["lib", "cli", "dsl", "scripts", "bench", "examples", "tests"]) await walk(dir);
  assertEquals(offenders, [], "spawns without env: childEnv()");
});

Deno.test("the backend is inferred from what the adapter reports", () => {
  assertEquals(inferBackend({ subgroupMinSize: 4, subgroupMaxSize: 128 }, "linux"), "GL");
  assertEquals(inferBackend({ subgroupMinSize: 8, subgroupMaxSize: 8 }, "linux"), "Vulkan");
  assertEquals(inferBackend({ subgroupMinSize: 32, subgroupMaxSize: 32 }, "linux"), "Vulkan");
  assertEquals(inferBackend({ subgroupMinSize: 32, subgroupMaxSize: 32 }, "darwin"), "Metal");
  assertEquals(inferBackend({}, "linux"), "unknown");
});

Deno.test(
  "a GPU command prints no XDG_RUNTIME_DIR error, and inspect names adapter and backend",
  gpuTest,
  async () => {
    // XDG_RUNTIME_DIR="" is as invalid to libwayland as an unset one.
    const env = { XDG_RUNTIME_DIR: "" };
    // libwayland's words (not the task line, which names the permission).
    const warning = /XDG_RUNTIME_DIR (is invalid|not set)/;
    const control = await deno(["eval", "await navigator.gpu.requestAdapter()"], env);
    const r = await deno(["task", "inspect", "tests/fixtures/cli/tiny.yaml"], env);
    assertEquals(r.code, 0, r.stderr);
    assert(!warning.test(r.stderr), r.stderr);
    assert(/^adapter: .+ via (Vulkan|GL)/m.test(r.stdout), r.stdout);
    // Without the Vulkan loader nothing prints the line, and the check above is vacuous.
    if (!warning.test(control.stderr)) {
      console.warn("note: no Vulkan loader here; the XDG_RUNTIME_DIR line cannot appear");
    }
  },
);
