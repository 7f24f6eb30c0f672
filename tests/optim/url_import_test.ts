/**
 * The optimizer module works when imported by URL: this test serves the
 * repository on 127.0.0.1 and a child Deno process imports
 * `lib/optim/mod.ts` over HTTP (no lockfile, fresh path: nothing cached),
 * trains buffers it made itself, and its result is checked against the
 * float64 reference.
 */
import { refKron, refPrecondition } from "../ref/adabk.ts";
import { type RefState, sgdStep } from "../ref/optim.ts";
import { assert } from "../assert.ts";
import { assertClose, f32, gpuTest, randn } from "../util.ts";
import { childEnv } from "../../lib/util/subprocess.ts";

/** Fixed so the test task can grant exactly this address (see deno.json). */
const PORT = 47831;
const ROOT = new URL("../../", import.meta.url);

Deno.test(
  "lib/optim/mod.ts imported over HTTP trains user buffers like the reference",
  gpuTest,
  async () => {
    const served: string[] = [];
    const nonce = crypto.randomUUID();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: PORT, onListen: () => {} },
      async (req) => {
        const full = new URL(req.url).pathname;
        const path = full.slice(nonce.length + 1);
        if (!full.startsWith(`/${nonce}/`) || path.includes("..") || !path.endsWith(".ts")) {
          return new Response("not found", { status: 404 });
        }
        try {
          const body = await Deno.readFile(new URL(`.${path}`, ROOT));
          served.push(path);
          return new Response(body, { headers: { "content-type": "application/typescript" } });
        } catch {
          return new Response("not found", { status: 404 });
        }
      },
    );
    try {
      const url = `http://127.0.0.1:${PORT}/${nonce}/lib/optim/mod.ts`;
      const child = await new Deno.Command("deno", {
        args: [
          "run",
          "--no-lock",
          "--no-prompt",
          `--allow-import=127.0.0.1:${PORT}`,
          "tests/fixtures/url_import_child.ts",
          url,
        ],
        env: childEnv(),
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(child.stderr);
      assert(child.success, `child failed: ${stderr.slice(-2000)}`);
      assert(
        served.includes("/lib/optim/mod.ts") && served.length > 5,
        `served ${served.length} files`,
      );
      const got = JSON.parse(new TextDecoder().decode(child.stdout).trim().split("\n").pop()!);

      const out = 3, inF = 4, rows = 8;
      const kron = refKron(out, inF, false);
      const ref: RefState = { p: f32(randn(1, out * inF)), t: 0 };
      for (let k = 0; k < 4; k++) {
        const xs = f32(randn(10 + k, rows * inF)), ds = f32(randn(20 + k, rows * out));
        const gs = f32(randn(30 + k, out * inF));
        const g = refPrecondition(kron, xs, ds, rows, gs, undefined, {
          alpha: 0.9,
          eps: 1e-5,
          Ts: 1,
          Tir: 2,
        });
        sgdStep(ref, g.w, {
          lr: 0.05,
          momentum: 0.9,
          dampening: 0,
          nesterov: false,
          weightDecay: 0,
        });
      }
      // As in adabk_test: f32 roots of small factors, 4 steps of lr 0.05.
      assertClose(
        got,
        ref.p,
        { atol: 2e-4, rtol: 1e-3 },
        "weights after 4 SGDM_BK steps via URL import",
      );
    } finally {
      await server.shutdown();
    }
  },
);
