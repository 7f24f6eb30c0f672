/**
 * The RunSpec: everything a training run needs, as plain data validated by
 * zod. Both front ends (the YAML loader and the TypeScript builder) produce
 * it, the compiler consumes it, and a run directory stores it resolved.
 *
 * The schema is split by concern under dsl/schema/ (layers, data, loss,
 * optimizers, schedule, run); this module is its public face. Every default
 * is written exactly once: in the schema (`.default()` for a value,
 * `.prefault()` for a section whose own fields carry defaults, a transform
 * for the few defaults that depend on another field), or, for optimizers
 * and datasets, in lib/optim and lib/data, from which the schema takes them.
 * Each field has a `.describe()` text that `dsl/docs.ts` turns into
 * docs/yaml-reference.md. Objects are strict: an unknown key is an error, so
 * a typo never silently falls back to a default.
 * @module
 */
export {
  type Layer,
  LAYER_SCHEMAS,
  type LayerInput,
  LayerSchema,
  ModelSchema,
  type ResidualLayer,
  type ResidualLayerInput,
  type SequentialLayer,
  type SequentialLayerInput,
} from "./schema/layers.ts";
export { DataSchema } from "./schema/data.ts";
export { DATASET_NAMES, DATASETS } from "../lib/data/dataset.ts";
export { LossSchema } from "./schema/loss.ts";
export { OPTIMIZER_SCHEMAS, OptimizerSchema } from "./schema/optimizers.ts";
export { LR_SCHEDULE_SCHEMAS, ScheduleSchema } from "./schema/schedule.ts";
export {
  type DataSpec,
  type LossSpec,
  type LrScheduleInput,
  type LrScheduleSpec,
  type ModelSpec,
  type OptimizerInput,
  type OptimizerSpec,
  parseRunSpec,
  type RunOptions,
  RunOptionsSchema,
  type RunSpec,
  type RunSpecInput,
  RunSpecSchema,
  safeParseRunSpec,
  type SafeParseRunSpecResult,
  type ScheduleInput,
  type ScheduleSpec,
} from "./schema/run.ts";
