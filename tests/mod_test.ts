/**
 * The public surface of mod.ts is deliberate: this list changes only with it.
 * One `sgd` (the builder's), no GPU internals, no `optim` namespace (the
 * optimizer engine alone is the `./optim` export).
 */
import * as mod from "../mod.ts";
import * as builder from "../dsl/builder.ts";
import { assertEquals } from "./assert.ts";

Deno.test("mod.ts exports exactly the curated values", () => {
  assertEquals(Object.keys(mod).sort(), [
    "DeviceLostError",
    "Gpu",
    "GpuOperationError",
    "GpuUnavailableError",
    "Optimizer",
    "ReportError",
    "RunDirError",
    "SafetensorsError",
    "SpecError",
    "acquireGpu",
    "adabelief",
    "adagrad",
    "adam",
    "adamw",
    "adamwBK",
    "avgpool2d",
    "batchnorm2d",
    "checkpointFolder",
    "constantLr",
    "conv2d",
    "cosineLr",
    "dropout",
    "evaluateCheckpoint",
    "flatten",
    "gelu",
    "globalAvgPool",
    "identify",
    "kfac",
    "linear",
    "loadCifar10",
    "loadCifar100",
    "loadDataset",
    "loadFashionMnist",
    "loadMnist",
    "loadRunSpecFile",
    "maxpool2d",
    "model",
    "multistepLr",
    "named",
    "optimizerFactory",
    "parseOverride",
    "parseRunSpec",
    "parseRunSpecYaml",
    "radam",
    "relu",
    "residual",
    "runSpec",
    "schedule",
    "sequential",
    "sgd",
    "sgdm",
    "sgdmBK",
    "shampoo",
    "sigmoid",
    "stepLr",
    "syntheticDataset",
    "tanh",
    "train",
    "wadam",
    "wsgdm",
  ]);
  assertEquals(mod.sgd, builder.sgd);
});
