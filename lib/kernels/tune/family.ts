/**
 * The kernel-family interface every family and the tuner share.
 *
 * A family maps a *problem* (a plain, shape-only description: sizes, layout,
 * epilogue flags that change the code) to the variants that can compute it on
 * this device. Each variant is a WGSL generator plus dispatch geometry behind
 * a name. The tuner (tuner.ts) times variants through
 * {@link KernelFamily.benchCommands}, caches the fastest per (adapter, family,
 * problem key) in cache.ts, and kernel builders ask `chooseVariant`
 * (choose.ts) which one to record, which also lists the problem for
 * plan-time tuning.
 *
 * Families: `matmul`, `conv.forward`, `conv.input`, `conv.weight`,
 * `gram.dense`, `gram.patch`, `reduce.axis`, `root.chain`.
 * @module
 */

import type { Command } from "../../gpu/commands.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { BufferArena } from "../../gpu/tensor.ts";

/** One kernel family over problems of type `P`. */
export interface KernelFamily<P> {
  /** Stable id, part of every cache key (e.g. `"conv.weight"`). */
  readonly id: string;
  /**
   * Cache key of a problem: everything the choice and the generated code
   * depend on (exact sizes, layout, flags), nothing they do not (tensors).
   */
  key(p: P): string;
  /** Names of every variant that can run `p` on this device (limits checked). */
  variants(gpu: Gpu, p: P): string[];
  /** The untuned choice; one of {@link variants}. */
  heuristic(gpu: Gpu, p: P): string;
  /**
   * The variants worth timing here (default: all valid). Software adapters
   * usually drop workgroup-memory variants, which are 100× slower there.
   */
  candidates?(gpu: Gpu, p: P): string[];
  /**
   * The WGSL modules `variant` compiles for `p`: used to precompile
   * concurrently, for `ADABK_DUMP_WGSL`, and hashed so that a changed
   * generator invalidates cached choices.
   */
  wgsl(gpu: Gpu, p: P, variant: string): string[];
  /**
   * Commands that run `variant` on `p` over scratch tensors from `arena`
   * (filled with small finite values by the family), for timing only.
   */
  benchCommands(gpu: Gpu, p: P, variant: string, arena: BufferArena): Command[];
  /**
   * Approximate FLOPs (or any cost in the same unit across families) of one
   * run of `p`: plan-time tuning times the costliest problems first, so a
   * short budget goes where it matters. Optional; problems without it come last.
   */
  work?(p: P): number;
}

/** A problem of some family: what plan-time tuning collects. */
export interface KernelRequest<P = unknown> {
  /** Its family. */
  readonly family: KernelFamily<P>;
  /** The problem. */
  readonly problem: P;
}
