/**
 * adabk: a WebGPU training engine for Deno with the AdaBK preconditioned
 * optimizer family.
 *
 * - Describe a run with the TypeScript builder (`runSpec`, `model`,
 *   `conv2d`, `adamwBK`, `schedule`, …) or load a YAML model file
 *   (`loadRunSpecFile`); both give the same validated {@link RunSpec}.
 * - Train it with {@link train}; datasets load with `loadFashionMnist`,
 *   `loadMnist`, `loadCifar10`, `loadCifar100`, `syntheticDataset`, or the
 *   one a spec names with {@link loadDataset}. {@link evaluateCheckpoint}
 *   evaluates a run's latest (or best) checkpoint on the test split.
 * - Drive an optimizer from your own WebGPU code with {@link Optimizer} and
 *   {@link optimizerFactory} (the same optimizer names and defaults as a run
 *   spec). The optimizer engine alone, importable by URL without this
 *   package's other dependencies, is the `./optim` export
 *   (`lib/optim/mod.ts`).
 *
 * ```ts
 * import { adamwBK, conv2d, flatten, linear, model, relu, runSpec, train } from "./mod.ts";
 * const spec = runSpec({
 *   model: model([28, 28, 1], conv2d(16, 3, { padding: 1 }), relu(), flatten(), linear(10)),
 *   data: { dataset: "fashion-mnist", batch_size: 128 },
 *   optimizer: adamwBK({ lr: 1e-3, weight_decay: 0.05 }),
 *   schedule: { epochs: 3 },
 * });
 * const result = await train(spec);
 * console.log(result.finalEval?.accuracy);
 * ```
 * @module
 */

// Describing a run: the builder, the YAML front end, the validated RunSpec.
// dsl/builder.ts is the builder vocabulary: runSpec, model, every layer,
// optimizer and lr-curve builder, NameOpt.
export * from "./dsl/builder.ts";
export { loadRunSpecFile, type Override, parseOverride, parseRunSpecYaml } from "./dsl/yaml.ts";
export {
  type DataSpec,
  type LayerInput,
  type LossSpec,
  type LrScheduleInput,
  type LrScheduleSpec,
  type ModelSpec,
  type OptimizerInput,
  type OptimizerSpec,
  parseRunSpec,
  type ResidualLayerInput,
  type RunOptions,
  type RunSpec,
  type RunSpecInput,
  type ScheduleInput,
  type ScheduleSpec,
  type SequentialLayerInput,
} from "./dsl/schema.ts";
export { SpecError, type SpecIssue } from "./dsl/errors.ts";

// Running it.
export { loadDataset } from "./lib/run/data.ts";
export { type CompleteRun, train, type TrainOptions, type TrainResult } from "./lib/run/train.ts";
export { RunDirError } from "./lib/run/run_dir.ts";
export { checkpointFolder, type EvalResult, evaluateCheckpoint } from "./lib/run/evaluate.ts";
export { ReportError } from "./lib/report/errors.ts";
export { SafetensorsError } from "./lib/train/safetensors.ts";
export type { EvalEvent, EvalSplit, TrainerEvent, TrainEvent } from "./lib/train/events.ts";
export type { TrainSummary } from "./lib/train/trainer.ts";
export {
  acquireGpu,
  type AcquireOptions,
  type AdapterIdentity,
  Gpu,
  identify,
} from "./lib/gpu/device.ts";
export { DeviceLostError, GpuOperationError, GpuUnavailableError } from "./lib/gpu/errors.ts";

// Datasets.
export type { Dataset, ImageArray, Normalization, Split } from "./lib/data/dataset.ts";
export { type FashionMnistOptions, loadFashionMnist } from "./lib/data/fashion_mnist.ts";
export type { SplitRule } from "./lib/data/fashion_split.ts";
export { loadMnist, type MnistOptions } from "./lib/data/mnist.ts";
export {
  type Cifar100Options,
  type Cifar10Options,
  loadCifar10,
  loadCifar100,
} from "./lib/data/cifar.ts";
export { syntheticDataset, type SyntheticOptions } from "./lib/data/synthetic.ts";

// Optimizers for your own WebGPU code.
export {
  type Conv2dGeometry,
  Optimizer,
  type OptimizerFactory,
  type OptimizerState,
  type Tensor,
  type UserLayer,
  type UserParam,
} from "./lib/optim/mod.ts";
export { optimizerFactory } from "./dsl/optimizer_factory.ts";
