/**
 * `bench`: the benchmarks live in bench/main.ts, a script that reads its own
 * arguments and needs write access to bench/results, which the CLI's task
 * does not grant; so `adabk bench` points at the task that runs it.
 * @module
 */

/** The instructions `adabk bench` prints. */
export function benchHelp(): string {
  return [
    "Benchmarks run as their own task (it writes bench/results/ and compares with TensorFlow.js WebGPU):",
    "",
    "  deno task bench [--quick] [--only=matmul,conv,steps,optim]",
    "",
    "  deno task bench:kernels   the same with --only=matmul,conv",
    "  deno task bench:optim     the same with --only=optim",
    "",
    "Results: bench/results/<date>[-quick][-<sections>].json and .md, adapter recorded.",
    "",
  ].join("\n");
}
