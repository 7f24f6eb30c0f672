/**
 * Recorded GPU work: dispatches and copies, built once, encoded every step.
 *
 * Kernel builders return {@link Command} lists with their bind groups already
 * made (every buffer exists before the step loop starts). {@link encode}
 * replays a list into a command encoder, packing consecutive dispatches into
 * one compute pass; the caller submits once per step.
 * @module
 */

import type { Gpu } from "./device.ts";
import type { Tensor } from "./tensor.ts";
import type { TextureOperand } from "./texture.ts";
import { encodeCopyToTexture } from "./texture.ts";

/** Which tuned kernel a dispatch belongs to (set by the family's entry point). */
export interface KernelTag {
  /** Kernel family id, e.g. "matmul". */
  readonly family: string;
  /** The variant recorded, e.g. "tiled_64x64". */
  readonly variant: string;
  /** The family's problem key. */
  readonly problem: string;
  /** True when the variant came from the tuning cache (else the heuristic or forced). */
  readonly tuned: boolean;
}

/** One compute dispatch with its resources bound. */
export interface DispatchCommand {
  readonly kind: "dispatch";
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
  /** The family and variant that recorded it, when a tuned family did. */
  readonly kernel?: KernelTag;
  /**
   * The bindings it may write (from its WGSL: everything not declared
   * read-only); undefined means unknown, i.e. anything.
   */
  readonly writes?: readonly Binding[];
}

/** Refresh a tensor's texture mirror. */
export interface CopyToTextureCommand {
  readonly kind: "copyToTexture";
  readonly label: string;
  readonly src: Tensor;
  readonly dst: TextureOperand;
}

/** Copy a tensor into another of the same size. */
export interface CopyTensorCommand {
  readonly kind: "copyTensor";
  readonly label: string;
  readonly src: Tensor;
  readonly dst: Tensor;
}

/** Fill a tensor with zeros. */
export interface ClearCommand {
  readonly kind: "clear";
  readonly label: string;
  readonly dst: Tensor;
}

/** Anything a stage can record. */
export type Command = DispatchCommand | CopyToTextureCommand | CopyTensorCommand | ClearCommand;

/** A resource bound at one binding index of group 0. */
export type Binding =
  | Tensor
  | TextureOperand
  | { readonly uniform: GPUBuffer }
  | { readonly storageTexture: GPUTextureView };

function toEntry(b: Binding, binding: number): GPUBindGroupEntry {
  if ("buffer" in b) {
    return { binding, resource: { buffer: b.buffer, offset: b.offset, size: b.size * 4 } };
  }
  if ("uniform" in b) return { binding, resource: { buffer: b.uniform } };
  if ("storageTexture" in b) return { binding, resource: b.storageTexture };
  return { binding, resource: b.view };
}

/**
 * Compiles (or reuses) `code` and binds `bindings` at @group(0) @binding(i)
 * in array order. Bindings the shader does not use must still be listed in
 * order but are skipped (layout "auto" drops them).
 */
export function dispatch(
  gpu: Gpu,
  label: string,
  code: string,
  bindings: readonly Binding[],
  workgroups: readonly [number, number, number] | readonly [number, number] | readonly [number],
): DispatchCommand {
  const { pipeline } = gpu.pipelines.get(label, code);
  const source = withoutComments(code);
  const used = new Set<number>();
  for (const m of source.matchAll(/@binding\((\d+)\)/g)) used.add(Number(m[1]));
  const readOnly = readOnlyIn(source);
  const entries = bindings.map(toEntry).filter((e) => used.has(e.binding));
  const bindGroup = gpu.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries,
  });
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  const wg: [number, number, number] = [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1];
  if (wg.some((n) => n > max)) {
    throw new RangeError(`${label}: grid ${wg.join("x")} exceeds ${max} workgroups per dimension`);
  }
  const writes = bindings.filter((_, i) => used.has(i) && !readOnly.has(i));
  return { kind: "dispatch", label, pipeline, bindGroup, workgroups: wg, writes };
}

/** WGSL without its comments: a declaration in one declares nothing. */
function withoutComments(code: string): string {
  // One left-to-right pass: whichever comment opens first wins (`// a /* b` is a line comment).
  return code.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, " ");
}

/**
 * The @group(0) binding indices that `code` declares read-only (read storage,
 * uniforms, sampled textures); every other binding counts as written, so a
 * declaration this does not recognise errs on the safe side.
 */
export function readOnlyBindings(code: string): Set<number> {
  return readOnlyIn(withoutComments(code));
}

/** {@link readOnlyBindings} of WGSL already without comments. */
function readOnlyIn(source: string): Set<number> {
  const out = new Set<number>();
  const decl = /@binding\((\d+)\)\s*var(?:<([^>]*)>)?\s+\w+\s*:\s*([\w_]+)/g;
  for (const m of source.matchAll(decl)) {
    const space = (m[2] ?? "").replace(/\s+/g, "");
    const type = m[3];
    if (space === "storage,read" || space === "storage" || space === "uniform") {
      out.add(Number(m[1]));
    } else if (space === "" && type.startsWith("texture_") && !type.startsWith("texture_storage")) {
      out.add(Number(m[1]));
    }
  }
  return out;
}

/**
 * Splits `count` workgroups into an (x, y) grid within the per-dimension
 * limit. Shaders recover the linear index as `gid.x + gid.y * x * size`
 * (or `wid.x + wid.y * x` for workgroup ids) and must bounds-check it.
 */
export function grid2d(count: number, max = 65535): [number, number, number] {
  if (count <= max) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y, 1];
}

/** Options for {@link encode}. */
export interface EncodeOptions {
  /**
   * Called for each compute pass (with the label and the first dispatch of
   * the pass) to add timestamp writes, if timing.
   */
  timestampWrites?: (
    label: string,
    first: DispatchCommand,
  ) => GPUComputePassTimestampWrites | undefined;
  /** One compute pass per dispatch (to time each on its own); default: one per run. */
  passPerDispatch?: boolean;
}

/** The number of dispatches among `commands` (the rest are copies and clears). */
export function dispatchCount(commands: readonly Command[]): number {
  return commands.filter((c) => c.kind === "dispatch").length;
}

/** The number of compute passes {@link encode} opens for `commands`. */
export function passCount(commands: readonly Command[], passPerDispatch = false): number {
  let n = 0;
  let open = false;
  for (const c of commands) {
    if (c.kind !== "dispatch") open = false;
    else if (!open || passPerDispatch) {
      n++;
      open = true;
    }
  }
  return n;
}

/**
 * Records `commands` into `enc`, one compute pass per run of dispatches (or
 * per dispatch with `passPerDispatch`).
 */
export function encode(
  enc: GPUCommandEncoder,
  commands: readonly Command[],
  opts: EncodeOptions = {},
) {
  let pass: GPUComputePassEncoder | undefined;
  const end = () => {
    pass?.end();
    pass = undefined;
  };
  for (const c of commands) {
    if (c.kind === "dispatch") {
      if (opts.passPerDispatch) end();
      if (!pass) {
        const timestampWrites = opts.timestampWrites?.(c.label, c);
        pass = enc.beginComputePass(
          timestampWrites ? { label: c.label, timestampWrites } : { label: c.label },
        );
      }
      pass.setPipeline(c.pipeline);
      pass.setBindGroup(0, c.bindGroup);
      pass.dispatchWorkgroups(c.workgroups[0], c.workgroups[1], c.workgroups[2]);
      continue;
    }
    end();
    if (c.kind === "copyToTexture") encodeCopyToTexture(enc, c.src, c.dst);
    else if (c.kind === "copyTensor") {
      if (c.src.size !== c.dst.size) {
        throw new RangeError(`${c.label}: copy of ${c.src.size} values into ${c.dst.size}`);
      }
      enc.copyBufferToBuffer(
        c.src.buffer,
        c.src.offset,
        c.dst.buffer,
        c.dst.offset,
        c.src.size * 4,
      );
    } else enc.clearBuffer(c.dst.buffer, c.dst.offset, c.dst.size * 4);
  }
  end();
}

/** Encodes `commands` into a fresh encoder and submits it once. */
export function submit(gpu: Gpu, commands: readonly Command[], label = "step"): void {
  gpu.checkAlive();
  const enc = gpu.device.createCommandEncoder({ label });
  encode(enc, commands);
  gpu.device.queue.submit([enc.finish()]);
}
