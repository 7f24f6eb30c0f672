/**
 * Mirror-refresh elision (lib/gpu/mirror_elision.ts) on hand-made command
 * lists: a refresh is dropped only when its mirror surely holds the range's
 * current values, across stages and their cadences; and which bindings a
 * kernel may write, read from its WGSL.
 */

import { assertEquals } from "../assert.ts";
import {
  type Binding,
  type Command,
  type DispatchCommand,
  readOnlyBindings,
} from "../../lib/gpu/commands.ts";
import { elideMirrorRefreshes } from "../../lib/gpu/mirror_elision.ts";
import { EVERY_STEP, type Stage } from "../../lib/gpu/stage.ts";
import type { Tensor } from "../../lib/gpu/tensor.ts";
import type { TextureOperand } from "../../lib/gpu/texture.ts";

const bufA = {} as GPUBuffer;
const bufB = {} as GPUBuffer;

function tensor(name: string, buffer: GPUBuffer, offset: number, size: number): Tensor {
  return { name, buffer, offset, size, shape: [size] };
}

function mirrorOf(name: string): TextureOperand {
  return { name, texture: {} as GPUTexture, view: {} as GPUTextureView, floats: 0, shape: [] };
}

const x = tensor("x", bufA, 0, 64); // bytes [0, 256)
const y = tensor("y", bufA, 256, 64); // bytes [256, 512)
const xAlias = tensor("x'", bufA, 0, 64); // another tensor on x's range (memory plan reuse)
const z = tensor("z", bufB, 0, 64);
const mx = mirrorOf("mx");
const mz = mirrorOf("mz");

const refresh = (src: Tensor, dst: TextureOperand): Command => ({
  kind: "copyToTexture",
  label: `mirror ${src.name}`,
  src,
  dst,
});
const kernel = (label: string, writes?: Binding[]): DispatchCommand => ({
  kind: "dispatch",
  label,
  pipeline: {} as GPUComputePipeline,
  bindGroup: {} as GPUBindGroup,
  workgroups: [1, 1, 1],
  writes,
});
const every = (name: string, commands: Command[]): Stage => ({
  name,
  cadence: EVERY_STEP,
  commands,
});
const sometimes = (name: string, commands: Command[]): Stage => ({
  name,
  cadence: { every: 10, offset: 0 },
  commands,
});

/** Labels of the refreshes kept, per stage. */
function kept(stages: Stage[]): string[][] {
  return elideMirrorRefreshes(stages).stages.map((s) =>
    s.commands.filter((c) => c.kind === "copyToTexture").map((c) => c.label)
  );
}

Deno.test("a second refresh of an unchanged tensor is dropped, within and across stages", () => {
  const stages = [
    every("forward", [refresh(x, mx), kernel("read x", [y]), refresh(x, mx)]),
    every("backward", [kernel("write z", [z]), refresh(x, mx), refresh(z, mz)]),
  ];
  assertEquals(kept(stages), [["mirror x"], ["mirror z"]]);
  assertEquals(elideMirrorRefreshes(stages).elided, 2);
  // Dispatches and other commands stay, in order.
  assertEquals(
    elideMirrorRefreshes(stages).stages[1].commands.map((c) => c.label),
    ["write z", "mirror z"],
  );
});

Deno.test("any write that may touch the range keeps the next refresh", () => {
  const cases: [string, Command][] = [
    ["a kernel writing the tensor", kernel("k", [x])],
    ["a kernel writing an overlapping range", kernel("k", [tensor("part", bufA, 128, 4)])],
    ["a kernel writing another tensor on the same range", kernel("k", [xAlias])],
    ["a kernel whose writes are unknown", kernel("k")],
    ["a copy into it", { kind: "copyTensor", label: "copy", src: y, dst: x }],
    ["a clear of it", { kind: "clear", label: "clear", dst: xAlias }],
  ];
  for (const [what, write] of cases) {
    assertEquals(kept([every("s", [refresh(x, mx), write, refresh(x, mx)])]), [[
      "mirror x",
      "mirror x",
    ]], what);
  }
  // Neighbouring ranges and other buffers do not.
  const apart = [kernel("k", [y, z, tensor("same offset, other buffer", bufB, 0, 64)])];
  assertEquals(kept([every("s", [refresh(x, mx), ...apart, refresh(x, mx)])]), [["mirror x"]]);
  // A refresh from another range into the same mirror makes the mirror hold that range.
  assertEquals(
    kept([every("s", [refresh(x, mx), refresh(y, mx), refresh(x, mx)])]),
    [["mirror x", "mirror y", "mirror x"]],
  );
});

Deno.test("stages that do not run every step: their refreshes are not relied on, their writes are", () => {
  // Inside: an earlier every-step refresh covers it.
  assertEquals(
    kept([every("forward", [refresh(x, mx)]), sometimes("statistics", [refresh(x, mx)])]),
    [["mirror x"], []],
  );
  // After: its own refresh may not have happened.
  assertEquals(
    kept([sometimes("statistics", [refresh(x, mx)]), every("backward", [refresh(x, mx)])]),
    [["mirror x"], ["mirror x"]],
  );
  // After: its writes may have happened.
  assertEquals(
    kept([
      every("forward", [refresh(x, mx)]),
      sometimes("roots", [kernel("write x", [x])]),
      every("update", [refresh(x, mx)]),
    ]),
    [["mirror x"], [], ["mirror x"]],
  );
  // After: a refresh it made while the mirror was already valid keeps it valid either way.
  assertEquals(
    kept([
      every("forward", [refresh(x, mx)]),
      sometimes("statistics", [refresh(x, mx), kernel("read", [y])]),
      every("backward", [refresh(x, mx)]),
    ]),
    [["mirror x"], [], []],
  );
});

Deno.test("a kernel writing a texture stales a mirror bound as that storage texture", () => {
  const stages = [
    every("s", [refresh(x, mx), kernel("k", [{ storageTexture: mx.view }]), refresh(x, mx)]),
  ];
  assertEquals(kept(stages), [["mirror x", "mirror x"]]);
});

Deno.test("readOnlyBindings: read storage, uniforms and sampled textures; everything else is written", () => {
  const code = `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> u: Params;
@group(0) @binding(3) var t: texture_2d<f32>;
@group(0) @binding(4) var dst: texture_storage_2d<rgba32float, write>;
@group(0) @binding(5) var<storage> c: array<f32>;
@group(0) @binding(6)
var<storage,read> d: array<f32>;
@group(0) @binding(7) var<storage, read_write> e: array<f32>;
// was: @group(0) @binding(8) var<storage, read> f: array<f32>; /* not a block comment
@group(0) @binding(8) var<storage, read_write> f: array<f32>;
/* @group(0) @binding(9) var<uniform> g: Params; // still the block comment */
@group(0) @binding(9) var h: texture_storage_2d<rgba32float, write>;`;
  // Declarations in comments count for nothing.
  assertEquals([...readOnlyBindings(code)].sort(), [0, 2, 3, 5, 6]);
});
