/**
 * adabk: a WebGPU training engine for Deno with the AdaBK preconditioned
 * optimizer family.
 *
 * - Describe a run with the TypeScript DSL (`runSpec`, `model`, `conv2d`, …)
 *   or load a YAML model file (`loadRunSpecFile`), then `train(spec)`.
 * - Drive the optimizers from your own WebGPU code with `Optimizer` and the
 *   factories in `optim` (also importable alone from `lib/optim/mod.ts`).
 *
 * ```ts
 * import { loadRunSpecFile, train } from "./mod.ts";
 * const spec = await loadRunSpecFile("examples/fashion_cnn.yaml");
 * const result = await train(spec);
 * console.log(result.finalEval?.accuracy);
 * ```
 * @module
 */
export * from "./lib/gpu/mod.ts";
export * from "./dsl/mod.ts";
export { type CompleteRun, train, type TrainOptions, type TrainResult } from "./dsl/run.ts";
export { RunDirError } from "./lib/train/run_dir.ts";
export { compileGraph, compileOptimizer, compileSchedule } from "./dsl/compile.ts";
/** The optimizer module (factories such as `optim.adamwBK`, and `Optimizer`). */
export * as optim from "./lib/optim/mod.ts";
export { Optimizer, type UserLayer, type UserParam } from "./lib/optim/mod.ts";
