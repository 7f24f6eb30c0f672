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
    "  deno task bench:kernels   kernel variants only",
    "  deno task bench:optim     optimizer step times only",
    "",
  ].join("\n");
}
