/**
 * Mirror-refresh elision (lib/gpu/mirror_elision.ts) against concrete
 * execution: random stage lists (every-step and cadenced stages, offsets,
 * `atStart`) of refreshes, kernels with known, unknown and texture writes,
 * copies and clears over overlapping and aliased ranges; for every step k the
 * stages that fire (`stagesAt`) of the original and the elided lists run in
 * a model of buffers and textures where every write leaves a new version,
 * and the host may write anything between steps. Each refresh the elided list
 * lacks must find its mirror already holding the range's current versions.
 * The analysis works on cadences; this checks it step by step.
 */

import { assert, assertEquals } from "../assert.ts";
import type { Binding, Command, DispatchCommand } from "../../lib/gpu/commands.ts";
import { elideMirrorRefreshes } from "../../lib/gpu/mirror_elision.ts";
import { type Cadence, EVERY_STEP, type Stage, stagesAt } from "../../lib/gpu/stage.ts";
import type { Tensor } from "../../lib/gpu/tensor.ts";
import type { TextureOperand } from "../../lib/gpu/texture.ts";
import { Rng } from "../../lib/util/rng.ts";

const CELLS = 16; // floats per buffer
const buffers = [{ label: "A" }, { label: "B" }] as unknown as GPUBuffer[];

function tensor(name: string, b: number, offset: number, size: number): Tensor {
  return { name, buffer: buffers[b], offset: offset * 4, size, shape: [size] };
}

// Disjoint, overlapping, aliased (same range, another tensor) and prefix ranges.
const TENSORS = [
  tensor("a0", 0, 0, 8),
  tensor("a1", 0, 8, 8),
  tensor("a2", 0, 4, 8),
  tensor("a0'", 0, 0, 8),
  tensor("b0", 1, 0, 8),
  tensor("b0-prefix", 1, 0, 4),
  tensor("b1", 1, 12, 4),
];

function mirror(name: string): TextureOperand {
  return { name, texture: {} as GPUTexture, view: {} as GPUTextureView, floats: 0, shape: [] };
}

// One mirror per range, as textureMirror keys them (a0 and a0' share one), and
// one mirror two ranges are copied into.
const MIRRORS = new Map<string, TextureOperand>();
const mirrorOf = (t: Tensor) => {
  const key = `${buffers.indexOf(t.buffer)}:${t.offset}:${t.size}`;
  if (!MIRRORS.has(key)) MIRRORS.set(key, mirror(`m${key}`));
  return MIRRORS.get(key)!;
};
const SHARED = mirror("shared");

function randomCommand(r: Rng, i: number): Command {
  const t = TENSORS[r.int(TENSORS.length)];
  const u = r.next();
  const kernel = (writes?: Binding[]): DispatchCommand => ({
    kind: "dispatch",
    label: `k${i}`,
    pipeline: {} as GPUComputePipeline,
    bindGroup: {} as GPUBindGroup,
    workgroups: [1, 1, 1],
    writes,
  });
  if (u < 0.4) {
    const dst = t.name.startsWith("a") && r.next() < 0.15 ? SHARED : mirrorOf(t);
    return { kind: "copyToTexture", label: `r${i}`, src: t, dst };
  }
  if (u < 0.7) {
    // Writes 0–2 tensors; reads (not listed) do not matter.
    const writes = TENSORS.filter(() => r.next() < 0.12);
    return kernel(writes);
  }
  if (u < 0.75) return kernel(); // writes unknown
  if (u < 0.8) {
    const m = [...MIRRORS.values(), SHARED][r.int(MIRRORS.size + 1)];
    return kernel([{ storageTexture: m.view }]);
  }
  if (u < 0.9) {
    const src = TENSORS.find((s) => s.size === t.size && s !== t) ?? t;
    return { kind: "copyTensor", label: `c${i}`, src, dst: t };
  }
  return { kind: "clear", label: `z${i}`, dst: t };
}

function randomCadence(r: Rng): Cadence {
  const u = r.next();
  if (u < 0.4) return EVERY_STEP;
  if (u < 0.5) return { every: 1, offset: 0 }; // every step, not the shared object
  const every = 2 + r.int(3);
  return { every, offset: r.int(every), atStart: r.next() < 0.3 };
}

function randomStages(r: Rng): Stage[] {
  let i = 0;
  return Array.from({ length: 1 + r.int(6) }, (_, s) => ({
    name: `s${s}`,
    cadence: randomCadence(r),
    commands: Array.from({ length: r.int(7) }, () => randomCommand(r, i++)),
  }));
}

/** Buffers and textures as versions: every write gives its cells new ones. */
class Model {
  #next = 1;
  readonly cells = buffers.map(() => new Array<number>(CELLS).fill(0));
  readonly textures = new Map<TextureOperand, string>();

  #cellsOf(t: Tensor): number[] {
    const b = this.cells[buffers.indexOf(t.buffer)];
    return b.slice(t.offset / 4, t.offset / 4 + t.size);
  }
  /** What a refresh of `src` would leave in a mirror. */
  content(src: Tensor): string {
    return `${buffers.indexOf(src.buffer)}@${src.offset}:${this.#cellsOf(src).join(",")}`;
  }
  write(t: Tensor): void {
    const b = this.cells[buffers.indexOf(t.buffer)];
    for (let c = t.offset / 4; c < t.offset / 4 + t.size; c++) b[c] = this.#next++;
  }
  writeEverything(): void {
    for (const t of TENSORS) this.write(t);
    for (const tex of this.textures.keys()) this.textures.set(tex, `garbage ${this.#next++}`);
  }
  run(c: Command): void {
    if (c.kind === "copyToTexture") this.textures.set(c.dst, this.content(c.src));
    else if (c.kind === "copyTensor" || c.kind === "clear") this.write(c.dst);
    else if (c.writes === undefined) this.writeEverything();
    else {
      for (const w of c.writes) {
        if ("buffer" in w) this.write(w);
        else if ("storageTexture" in w) {
          for (const tex of [...MIRRORS.values(), SHARED]) {
            if (tex.view === w.storageTexture) this.textures.set(tex, `garbage ${this.#next++}`);
          }
        }
      }
    }
  }
}

Deno.test("mirror elision drops only refreshes that concrete execution shows redundant (fuzz)", () => {
  const r = new Rng(20261204);
  let elided = 0;
  let checked = 0;
  for (let trial = 0; trial < 3000; trial++) {
    const stages = randomStages(r);
    const out = elideMirrorRefreshes(stages);
    elided += out.elided;
    assertEquals(out.stages.map((s) => s.cadence), stages.map((s) => s.cadence));
    const model = new Model();
    for (let k = 0; k < 14; k++) {
      // Data stages, checkpoint restores, optimizer uniforms: the host may write anything.
      model.writeEverything();
      const all = stagesAt(stages, k).flatMap((s) => s.commands);
      const kept = stagesAt(out.stages, k).flatMap((s) => s.commands);
      let j = 0;
      for (const c of all) {
        if (kept[j] === c) {
          model.run(c);
          j++;
          continue;
        }
        // Only refreshes are dropped, and only when the mirror already holds their range.
        assert(c.kind === "copyToTexture", `trial ${trial} step ${k}: dropped ${c.label}`);
        assertEquals(
          model.textures.get(c.dst),
          model.content(c.src),
          `trial ${trial} step ${k}: ${c.label} (${c.src.name} → ${c.dst.name}) was needed`,
        );
        checked++;
      }
      assertEquals(j, kept.length, `trial ${trial} step ${k}: kept commands out of order`);
    }
  }
  // The fuzz exercises the analysis: many refreshes dropped and checked at run time.
  assert(elided > 1000 && checked > 3000, `elided ${elided}, checked ${checked}`);
});
