/**
 * The conv and Gram kernel families (conv.forward, conv.input, conv.weight,
 * gram.patch, gram.dense): listed variants are valid and each compiles and
 * runs; keys separate problems; the untuned choice on a software adapter is
 * what it was before the `wg` variants existed; on a hardware adapter
 * (limits of an H200, no device needed) the choice is a `wg` tile shaped to
 * the problem; builders record what the family chooses.
 */

import { assert, assertEquals } from "../assert.ts";
import { gpuTest, testGpu, withArena } from "../util.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import { submit } from "../../lib/gpu/commands.ts";
import { BufferArena } from "../../lib/gpu/tensor.ts";
import {
  conv2dForward,
  type Conv2dGeometry,
  convForwardFamily,
  convInputFamily,
  type ConvProblem,
  convWeightFamily,
} from "../../lib/kernels/conv/conv.ts";
import { gramDenseFamily, gramPatchFamily } from "../../lib/kernels/gram/gram.ts";
import type { KernelFamily } from "../../lib/kernels/tune/family.ts";
import { gemmSharedBytes, gemmThreads, parseGemmTile } from "../../lib/kernels/conv/gemm.ts";
import { gemmTileTable } from "../../lib/kernels/conv/gemm_tiles.ts";
import { geom } from "./conv_cases.ts";

const conv3 = (batch: number, hw: number, inC: number, outC: number, stride = 1, k = 3) =>
  geom({
    batch,
    inH: hw,
    inW: hw,
    inC,
    outC,
    kh: k,
    kw: k,
    strideH: stride,
    strideW: stride,
    padH: k === 3 ? 1 : 0,
    padW: k === 3 ? 1 : 0,
  });

/** The demo's and the residual net's layers at batch 128. */
const NETS: Record<string, Conv2dGeometry> = {
  demo1: conv3(128, 28, 1, 16),
  demo2: conv3(128, 14, 16, 32),
  res: conv3(128, 28, 32, 32),
  res_s2: conv3(128, 28, 32, 64, 2),
  res_proj: conv3(128, 28, 32, 64, 2, 1),
  res3: conv3(128, 7, 128, 128),
  bench: conv3(8, 32, 32, 64),
  small: conv3(64, 14, 16, 32),
};

/** A device-less stand-in with an adapter's identity and limits (heuristics only read these). */
function fakeGpu(fallback: boolean): Gpu {
  return {
    adapter: {
      isFallbackAdapter: fallback,
      description: "fake",
      vendor: "",
      architecture: "",
      key: "fake",
    },
    limits: {
      maxComputeInvocationsPerWorkgroup: 1024,
      maxComputeWorkgroupSizeX: 1024,
      maxComputeWorkgroupStorageSize: fallback ? 32768 : 49152,
      maxTextureDimension2D: 16384,
      maxStorageBufferBindingSize: fallback ? 134217728 : 2147483647,
      maxComputeWorkgroupsPerDimension: 65535,
    },
  } as unknown as Gpu;
}

Deno.test("every wg tile of the tables fits 32 KiB of workgroup memory and 256 threads", () => {
  // llvmpipe offers 32 KiB (the H200 48 KiB): a tile over it would silently drop out of every list.
  for (const kind of ["pixels", "weight", "gram"] as const) {
    for (const name of gemmTileTable(kind)) {
      const t = parseGemmTile(name)!;
      assert(gemmSharedBytes(t) <= 32768 && gemmThreads(t) <= 256, name);
    }
  }
});

Deno.test("conv and gram families: on a software adapter the untuned choice is unchanged", () => {
  // Recorded from the builders before the wg variants and families existed (commit d5f0b64),
  // except demo1's forward and weight gradient, measured faster on llvmpipe with other tiles: one
  // input channel over 3×3 taps takes tex_4x16 (variants.ts SMALL_K_TILE) and a weight gradient
  // whose 9 columns fit one tile takes that tile (tex_16x16, variants.ts coveringWidth).
  const before: Record<string, string[]> = {
    demo1: ["tex_4x16", "tex_16x4", "tex_16x16", "tex_8x8"],
    demo2: ["tex_16x32", "tex_16x16", "tex_16x32", "tex_16x16"],
    res: ["tex_16x32", "tex_16x32", "tex_16x32", "tex_16x16"],
    res_s2: ["tex_16x32", "tex_16x32", "tex_16x32", "tex_16x16"],
    res3: ["tex_16x32", "tex_16x32", "tex_16x32", "tex_16x16"],
    bench: ["tex_16x32", "tex_16x32", "tex_16x32", "tex_16x16"],
    small: ["tex_16x32", "tex_16x16", "tex_16x32", "tex_16x16"],
  };
  const gpu = fakeGpu(true);
  for (const [name, want] of Object.entries(before)) {
    const g = NETS[name];
    const got = [convForwardFamily, convInputFamily, convWeightFamily].map((f) =>
      f.heuristic(gpu, { geom: g, bias: false })
    );
    got.push(gramPatchFamily.heuristic(gpu, { geom: g, appendOnes: false }));
    assertEquals(got, want, name);
  }
  const dense: [number, number, string][] = [
    [128, 1568, "tex_16x16"],
    [100352, 16, "tex_16x16"],
    [25088, 32, "tex_16x16"],
    [128, 10, "tex_8x8"],
    [6272, 128, "tex_16x16"],
  ];
  for (const [rows, cols, want] of dense) {
    assertEquals(gramDenseFamily.heuristic(gpu, { rows, cols, appendOnes: true }), want);
  }
  // The tuner times texture tiles only there.
  const c = convForwardFamily.candidates!(gpu, { geom: NETS.demo2, bias: false });
  assert(c.length > 0 && c.every((v) => v.startsWith("tex_")), c.join());
});

Deno.test("conv and gram families: on a hardware adapter the choice is a wg tile shaped to the problem", () => {
  const gpu = fakeGpu(false);
  const tile = (v: string) => {
    const t = parseGemmTile(v);
    assert(t !== undefined, `${v} is not a wg tile`);
    return t;
  };
  // Narrow outputs get narrow tiles: 16 channels → 16-wide, 32 → 32-wide.
  assertEquals(tile(convForwardFamily.heuristic(gpu, { geom: NETS.demo1, bias: false })).bn, 16);
  assertEquals(tile(convForwardFamily.heuristic(gpu, { geom: NETS.demo2, bias: false })).bn, 32);
  assertEquals(tile(convInputFamily.heuristic(gpu, { geom: NETS.demo2, bias: false })).bn, 16);
  assertEquals(tile(convForwardFamily.heuristic(gpu, { geom: NETS.res, bias: false })).bn, 32);
  // The weight gradient of conv1 (16 × 9) takes the smallest sliced tile.
  assertEquals(tile(convWeightFamily.heuristic(gpu, { geom: NETS.demo1, bias: false })).bm, 16);
  for (const [name, g] of Object.entries(NETS)) {
    const families: [KernelFamily<ConvProblem>, ConvProblem][] = [
      [convForwardFamily, { geom: g, bias: true }],
      [convInputFamily, { geom: g, bias: false }],
      [convWeightFamily, { geom: g, bias: true }],
    ];
    for (const [f, p] of families) {
      const h = f.heuristic(gpu, p);
      const c = f.candidates!(gpu, p);
      assert(
        h.startsWith("wg") && c[0] === h && c.every((v) => v.startsWith("wg")),
        `${name} ${f.id}`,
      );
      assert(f.variants(gpu, p)[0] === h, `${name} ${f.id}: heuristic first`);
    }
    const gh = gramPatchFamily.heuristic(gpu, { geom: g, appendOnes: true });
    assertEquals(tile(gh).bm, tile(gh).bn);
  }
  assert(
    gramDenseFamily.heuristic(gpu, { rows: 128, cols: 1568, appendOnes: true }).startsWith("wg"),
  );
});

Deno.test("conv and gram family keys separate every field and ignore what does not matter", () => {
  const base = NETS.demo2;
  const key = (g: Conv2dGeometry, bias = false) => convForwardFamily.key({ geom: g, bias });
  const fields = Object.keys(base) as (keyof Conv2dGeometry)[];
  const keys = new Set(
    fields.map((k) => key({ ...base, [k]: base[k] * 2 + (k === "groups" ? 0 : 1) })),
  );
  keys.add(key(base));
  assertEquals(keys.size, fields.length + 1);
  assert(key(base) !== key(base, true), "bias changes the forward kernel");
  assertEquals(
    convInputFamily.key({ geom: base, bias: true }),
    convInputFamily.key({ geom: base, bias: false }),
  );
  const pk = (g: Conv2dGeometry) => gramPatchFamily.key({ geom: g, appendOnes: false });
  assertEquals(pk(base), pk({ ...base, outC: 64 }));
  assert(pk(base) !== gramPatchFamily.key({ geom: base, appendOnes: true }));
  const dk = (rows: number, cols: number, appendOnes: boolean) =>
    gramDenseFamily.key({ rows, cols, appendOnes });
  assertEquals(new Set([dk(10, 20, false), dk(20, 10, false), dk(10, 20, true)]).size, 3);
});

/** Compiles every WGSL module of `v` and runs its bench commands once. */
async function buildsAndRuns<P>(gpu: Gpu, f: KernelFamily<P>, p: P, v: string): Promise<void> {
  const codes = f.wgsl(gpu, p, v);
  assert(codes.length > 0 && codes.every((c) => c.includes("@compute")), `${f.id} ${v}: no WGSL`);
  for (const c of codes) await gpu.pipelines.getAsync(`${f.id}:${v}`, c);
  const arena = new BufferArena(gpu.device);
  try {
    submit(gpu, f.benchCommands(gpu, p, v, arena));
    await gpu.device.queue.onSubmittedWorkDone();
    gpu.checkAlive();
  } finally {
    arena.dispose();
  }
}

Deno.test("conv and gram families: every listed variant compiles and runs", gpuTest, async () => {
  const gpu = await testGpu();
  const g = geom({ batch: 2, inH: 7, inW: 6, inC: 4, outC: 20, padH: 1, padW: 1 });
  const cases: [KernelFamily<never>, unknown][] = [
    [convForwardFamily as KernelFamily<never>, { geom: g, bias: true }],
    [convInputFamily as KernelFamily<never>, { geom: g, bias: false }],
    [convWeightFamily as KernelFamily<never>, { geom: g, bias: true }],
    [gramPatchFamily as KernelFamily<never>, { geom: g, appendOnes: true }],
    [gramDenseFamily as KernelFamily<never>, { rows: 45, cols: 20, appendOnes: false }],
  ];
  for (const [f, p] of cases) {
    const vs = f.variants(gpu, p as never);
    assertEquals(new Set(vs).size, vs.length, `${f.id}: duplicates`);
    assert(vs[0] === f.heuristic(gpu, p as never), `${f.id}: heuristic first`);
    for (const c of f.candidates!(gpu, p as never)) {
      assert(vs.includes(c), `${f.id}: candidate ${c}`);
    }
    for (const v of vs) await buildsAndRuns(gpu, f, p as never, v);
  }
});

Deno.test(
  "conv builders record the family's choice when no variant is forced",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      await Promise.resolve();
      const g = geom({ batch: 2, inH: 6, inW: 6, inC: 4, outC: 8, padH: 1, padW: 1 });
      const x = arena.tensor("x", [2, 6, 6, 4]);
      const w = arena.tensor("w", [8, 4, 3, 3]);
      const y = arena.tensor("y", [2, 6, 6, 8]);
      const chosen = convForwardFamily.heuristic(gpu, { geom: g, bias: false });
      const cmds = conv2dForward(gpu, { geom: g, x, w, y });
      assert(cmds.some((c) => c.label === `conv_fwd_${chosen}`), cmds.map((c) => c.label).join());
    }),
);
