/**
 * adabk: a WebGPU training engine for Deno with the AdaBK preconditioned
 * optimizer family.
 *
 * This entry point re-exports the GPU layer; kernels, layers, the DSL and the
 * optimizers are exported from their own modules as they land.
 * @module
 */
export * from "./lib/gpu/mod.ts";
