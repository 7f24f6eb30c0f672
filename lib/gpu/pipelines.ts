/**
 * Compiled compute pipelines, cached by their generated WGSL.
 *
 * Kernels are generated text; identical text means an identical pipeline, so
 * the WGSL itself is the cache key. Set `ADABK_DUMP_WGSL=1` to print every new
 * module to stderr, or `ADABK_DUMP_WGSL=<dir>` to write each to a file there
 * (needs `--allow-write` for that directory).
 * @module
 */

import { envVar } from "../util/env.ts";

/** A compute pipeline plus the label and code it was built from. */
export interface CompiledKernel {
  /** The pipeline (layout "auto": bind group layouts come from the shader). */
  pipeline: GPUComputePipeline;
  /** Label given by the kernel generator, e.g. "matmul_tex_16x16". */
  label: string;
  /** The WGSL source. */
  code: string;
}

let dumpCounter = 0;

function dump(label: string, code: string): void {
  const target = envVar("ADABK_DUMP_WGSL");
  if (!target || target === "0") return;
  const header = `// ---- ${label} ----\n`;
  if (target === "1" || target.toLowerCase() === "true") {
    console.error(header + code);
    return;
  }
  const name = `${String(dumpCounter++).padStart(4, "0")}_${label.replace(/[^\w.-]/g, "_")}.wgsl`;
  try {
    Deno.mkdirSync(target, { recursive: true });
    Deno.writeTextFileSync(`${target}/${name}`, code);
  } catch (e) {
    console.error(`ADABK_DUMP_WGSL: could not write ${target}/${name}: ${(e as Error).message}`);
  }
}

/** Cache of compute pipelines keyed by WGSL text and entry point. */
export class PipelineCache {
  readonly #device: GPUDevice;
  readonly #byCode = new Map<string, CompiledKernel>();

  /** Creates an empty cache for `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Number of distinct pipelines compiled so far. */
  get size(): number {
    return this.#byCode.size;
  }

  /** Returns the pipeline for `code`, compiling it on first use. */
  get(label: string, code: string, entryPoint = "main"): CompiledKernel {
    const key = `${entryPoint}\n${code}`;
    const hit = this.#byCode.get(key);
    if (hit) return hit;
    dump(label, code);
    const module = this.#device.createShaderModule({ label, code });
    const pipeline = this.#device.createComputePipeline({
      label,
      layout: "auto",
      compute: { module, entryPoint },
    });
    const compiled = { pipeline, label, code };
    this.#byCode.set(key, compiled);
    return compiled;
  }

  /**
   * Like {@link get} but compiles with `createComputePipelineAsync`, so several
   * kernels can compile concurrently, and surfaces WGSL errors as exceptions.
   */
  async getAsync(label: string, code: string, entryPoint = "main"): Promise<CompiledKernel> {
    const key = `${entryPoint}\n${code}`;
    const hit = this.#byCode.get(key);
    if (hit) return hit;
    dump(label, code);
    const module = this.#device.createShaderModule({ label, code });
    const pipeline = await this.#device.createComputePipelineAsync({
      label,
      layout: "auto",
      compute: { module, entryPoint },
    });
    const compiled = { pipeline, label, code };
    this.#byCode.set(key, compiled);
    return compiled;
  }
}
