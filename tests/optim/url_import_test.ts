/**
 * The optimizer module works when imported by URL: this test serves the
 * repository on 127.0.0.1, imports `lib/optim/mod.ts` over HTTP, drives it on
 * buffers made here, and checks the result against the float64 reference.
 */
import { readTensors, writeTensor } from "../../lib/gpu/transfer.ts";
import { refKron, refPrecondition } from "../ref/adabk.ts";
import { type RefState, sgdStep } from "../ref/optim.ts";
import { assert } from "../assert.ts";
import { assertClose, f32, gpuTest, randn, withArena } from "../util.ts";

/** Fixed so the test task can grant exactly this address (see deno.json). */
const PORT = 47831;
const ROOT = new URL("../../", import.meta.url);

Deno.test(
  "lib/optim/mod.ts imported over HTTP trains user buffers like the reference",
  gpuTest,
  async () => {
    const served: string[] = [];
    // A fresh path prefix per run: Deno caches remote modules by URL, and the
    // test must really fetch (and so really resolve every relative import).
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
      const mod = await import(`http://127.0.0.1:${PORT}/${nonce}/lib/optim/mod.ts`);
      assert(
        served.includes("/lib/optim/mod.ts") && served.length > 5,
        `served ${served.length} files`,
      );
      await withArena(async (gpu, arena) => {
        const out = 3, inF = 4, rows = 8;
        const t = (name: string, shape: number[], v?: ArrayLike<number>) => {
          const x = arena.tensor(name, shape);
          if (v) writeTensor(gpu, x, v);
          return x;
        };
        const w0 = f32(randn(1, out * inF));
        const w = t("w", [out, inF], w0),
          dw = t("dw", [out, inF]),
          x = t("x", [rows, inF]),
          d = t("d", [rows, out]);
        const opt = new mod.Optimizer(
          gpu.device,
          mod.sgdmBK({ lr: 0.05, statEvery: 1, rootEvery: 2 }),
          [
            {
              name: "fc.weight",
              value: w.buffer,
              grad: dw.buffer,
              shape: [out, inF],
              layer: { kind: "linear", input: x.buffer, outputGrad: d.buffer, rows },
            },
          ],
        );
        const kron = refKron(out, inF, false);
        const ref: RefState = { p: Float64Array.from(w0), t: 0 };
        for (let k = 0; k < 4; k++) {
          const xs = f32(randn(10 + k, rows * inF)),
            ds = f32(randn(20 + k, rows * out)),
            gs = f32(randn(30 + k, out * inF));
          writeTensor(gpu, x, xs);
          writeTensor(gpu, d, ds);
          writeTensor(gpu, dw, gs);
          const enc = gpu.device.createCommandEncoder();
          opt.record(enc);
          gpu.device.queue.submit([enc.finish()]);
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
        const [got] = await readTensors(gpu, [w]);
        // As in adabk_test: f32 roots of small factors, 4 steps of lr 0.05.
        assertClose(
          got,
          ref.p,
          { atol: 2e-4, rtol: 1e-3 },
          "weights after 4 SGDM_BK steps via URL import",
        );
        opt.dispose();
      });
    } finally {
      await server.shutdown();
    }
  },
);
