import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  acquireGpu,
  BufferArena,
  GpuOperationError,
  GpuUnavailableError,
  identify,
} from "../../lib/gpu/mod.ts";
import { dispatch, submit } from "../../lib/gpu/commands.ts";
import { createTextureOperand, flatExtent, wgslFlatReaders } from "../../lib/gpu/texture.ts";
import { readTensor, writeTensor } from "../../lib/gpu/transfer.ts";
import { gpuTest, randn, testGpu, upload, withArena } from "../util.ts";

Deno.test("device gets the adapter's limits, not WebGPU's defaults", gpuTest, async () => {
  const gpu = await testGpu();
  // WebGPU's default is 256 invocations and 16 KiB of workgroup memory.
  assert(gpu.limits.maxComputeInvocationsPerWorkgroup >= 256);
  assert(gpu.adapter.description.length > 0);
  assert(gpu.adapter.key.includes(gpu.adapter.description));
});

Deno.test("tuning keys tell one adapter's backends apart (GL and Vulkan favour other variants)", () => {
  const adapter = (min: number, max: number) =>
    ({
      info: {
        vendor: "mesa",
        description: "llvmpipe (LLVM 19, 256 bits)",
        architecture: "",
        subgroupMinSize: min,
        subgroupMaxSize: max,
      },
    }) as unknown as GPUAdapter;
  const gl = identify(adapter(4, 128));
  const vulkan = identify(adapter(8, 8));
  assertEquals([gl.backend, vulkan.backend], ["GL", "Vulkan"]);
  assert(gl.key !== vulkan.key, gl.key);
  assertEquals(identify(adapter(8, 8)).key, vulkan.key);
});

Deno.test("the no-WebGPU switch gives a short, actionable error", async () => {
  // The switch's explicit form: setting ADABK_NO_WEBGPU here would race with
  // other test modules acquiring their devices in parallel (env is per process).
  const err = await assertRejects(
    () => acquireGpu({ simulateUnavailable: true }),
    GpuUnavailableError,
  );
  assert(err.message.includes("mesa-vulkan-drivers"), err.message);
  assert(err.message.length < 300, "message should be short");
});

Deno.test("tensor write/read round-trips exactly", gpuTest, () =>
  withArena(async (gpu, arena) => {
    const data = Float32Array.from(randn(1, 1001));
    const t = arena.tensor("x", [7, 143]);
    writeTensor(gpu, t, data);
    assertEquals(await readTensor(gpu, t), data);
  }));

Deno.test(
  "texture mirror: flat layout, full rows plus tail, read back by a kernel",
  gpuTest,
  () =>
    withArena(async (gpu, arena) => {
      // 4*1024*2 + 4*5 + 3 values: two full texture rows, a 6-texel tail, a partial texel.
      const n = 4 * 1024 * 2 + 23;
      assertEquals(flatExtent(n), { width: 1024, height: 3, texels: 2054 });
      const src = upload(gpu, arena, "src", [n], randn(2, n));
      const tex = createTextureOperand(gpu.device, src);
      const out = arena.tensor("out", [n]);
      const code = `@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${wgslFlatReaders("src")}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < ${n}u) { out[g.x] = src_at(g.x); }
}`;
      const copy = { kind: "copyToTexture" as const, label: "mirror", src, dst: tex };
      submit(gpu, [copy, dispatch(gpu, "tex_read", code, [tex, out], [Math.ceil(n / 64)])]);
      assertEquals(await readTensor(gpu, out), await readTensor(gpu, src));
      tex.texture.destroy();
    }),
);

Deno.test("pipeline cache compiles identical WGSL once", gpuTest, async () => {
  const gpu = await testGpu();
  const code = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(1) fn main() { x[0] = 41.0 + 1.0; }`;
  const before = gpu.pipelines.size;
  const a = gpu.pipelines.get("k", code);
  const b = gpu.pipelines.get("k", code);
  assert(a === b);
  assertEquals(gpu.pipelines.size, before + 1);
});

Deno.test("an invalid shader surfaces as GpuOperationError instead of stale results", async () => {
  // A device of its own: the error state is sticky by design.
  const gpu = await acquireGpu();
  try {
    const arena = new BufferArena(gpu.device);
    const out = arena.tensor("out", [4]);
    // `target` is fine, but an undeclared identifier is not valid WGSL.
    const code = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1) fn main() { out[0] = undeclared_name; }`;
    let err: unknown;
    try {
      submit(gpu, [dispatch(gpu, "broken", code, [out], [1])]);
      await readTensor(gpu, out);
    } catch (e) {
      err = e;
    }
    assert(err instanceof GpuOperationError, `the broken shader went unnoticed (${err})`);
    assert(/undeclared_name|invalid|error/i.test((err as Error).message), (err as Error).message);
  } finally {
    gpu.dispose();
  }
});

Deno.test("guard turns a validation error into GpuOperationError naming the operation", async () => {
  const gpu = await acquireGpu();
  try {
    // MAP_READ may only be combined with COPY_DST: a validation error.
    const err = await assertRejects(
      () =>
        gpu.guard(
          "making a bad buffer",
          () =>
            gpu.device.createBuffer({
              size: 16,
              usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE,
            }),
        ),
      GpuOperationError,
    );
    assert(err.message.startsWith("making a bad buffer failed on the GPU"), err.message);
    // A valid operation passes through with its result.
    const ok = await gpu.guard(
      "making a buffer",
      () => gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }),
    );
    assertEquals(ok.size, 16);
  } finally {
    gpu.dispose();
  }
});

Deno.test("a device is released when the program unloads (no native teardown at exit)", async () => {
  const gpu = await acquireGpu();
  assert(!gpu.isLost);
  // The same event Deno dispatches when this module's program or worker ends.
  globalThis.dispatchEvent(new Event("unload"));
  await gpu.device.lost;
  assert(gpu.isLost, "the device outlived unload");
});
