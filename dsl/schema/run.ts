/**
 * The run section and the whole RunSpec: the sections assembled, the checks
 * across sections, the public types, and parsing.
 * @module
 */
import { z } from "zod";
import {
  formatPath,
  issuesFromZod,
  type PathIssue,
  SpecError,
  type ZodIssueLike,
} from "../errors.ts";
import { PATH_RULES, pathString, runNameString } from "../strings.ts";
import { clean, posInt } from "./primitives.ts";
import { ModelSchema } from "./layers.ts";
import { DataSchema, sampleShape } from "./data.ts";
import { LossSchema } from "./loss.ts";
import { OptimizerSchema } from "./optimizers.ts";
import { type LrScheduleInput, type ScheduleInput, ScheduleSchema } from "./schedule.ts";

export type { LrScheduleInput, ScheduleInput };

/** The run section. */
export const RunOptionsSchema = z
  .strictObject({
    name: runNameString
      .default("run")
      .describe("Run name, used in logs and the default out_dir."),
    seed: z.int().min(0).max(0xffffffff).default(0).describe(
      "Seed for initialisation, shuffling, augmentation and dropout (a u32).",
    ),
    eval_every: posInt.default(1).describe("Evaluate every this many epochs (and after the last)."),
    log_every: posInt.default(50).describe("Log training metrics every this many steps."),
    out_dir: pathString.optional().describe(
      "Directory for the resolved spec, metrics, checkpoints and plots. Default: `runs/<name>`. " +
        PATH_RULES,
    ),
    tune: z.enum(["auto", "off", "exhaustive"]).default("auto").describe(
      "Kernel tuning when the plan is built: `auto` times the plan's uncached kernel problems " +
        "within a few seconds on a hardware adapter (none on a software one) and reuses " +
        "`.cache/tune.json`; `exhaustive` times every valid variant of every problem on any " +
        "adapter; `off` uses the heuristic choices and ignores the cache.",
    ),
  })
  .transform((v) => ({ ...v, out_dir: v.out_dir ?? `runs/${v.name}` }))
  .describe("Run bookkeeping.");

/** The whole run spec. */
export const RunSpecSchema = z
  .strictObject({
    model: ModelSchema,
    data: DataSchema,
    loss: LossSchema.prefault("cross_entropy"),
    optimizer: OptimizerSchema,
    schedule: ScheduleSchema,
    run: RunOptionsSchema.prefault({}),
  })
  .superRefine((v, ctx) => {
    if (!clean(ctx)) return;
    const shape = sampleShape(v.data);
    if (!shape) return;
    const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
    if (count(shape) !== count(v.model.input)) {
      ctx.addIssue({
        code: "custom",
        path: ["model", "input"],
        message:
          `the data yields samples of shape ${JSON.stringify(shape)} (${count(shape)} values) ` +
          `but model.input ${JSON.stringify(v.model.input)} has ${count(v.model.input)}`,
      });
    } else if (v.model.input.length === 3 && v.model.input.join() !== shape.join()) {
      ctx.addIssue({
        code: "custom",
        path: ["model", "input"],
        message: `the data yields samples of shape ${JSON.stringify(shape)}, not ${
          JSON.stringify(v.model.input)
        } (use [${count(shape)}] to flatten)`,
      });
    }
  })
  .describe("A complete training run.");

// The public types below are aliases of these zod-derived ones, which
// `deno doc` cannot show (zod's types are not part of this package's API);
// docs/yaml-reference.md documents every field.
/** @ignore */
type RunSpecSchemaInput = z.input<typeof RunSpecSchema>;
/** @ignore */
type RunSpecSchemaOutput = z.output<typeof RunSpecSchema>;
/** @ignore */
type OptimizerSchemaInput = z.input<typeof OptimizerSchema>;

/** A run spec as written (defaults may be omitted; fields: docs/yaml-reference.md). */
export type RunSpecInput = RunSpecSchemaInput;
/** A validated run spec with every default filled in (fields: docs/yaml-reference.md). */
export type RunSpec = RunSpecSchemaOutput;
/** The model section, validated. */
export type ModelSpec = RunSpec["model"];
/** The data section, validated. */
export type DataSpec = RunSpec["data"];
/** The loss section, validated. */
export type LossSpec = RunSpec["loss"];
/** The optimizer section, validated. */
export type OptimizerSpec = RunSpec["optimizer"];
/** The optimizer section as written. */
export type OptimizerInput = OptimizerSchemaInput;
/** The schedule section, validated. */
export type ScheduleSpec = RunSpec["schedule"];
/** The lr curve, validated. */
export type LrScheduleSpec = ScheduleSpec["lr"];
/** The run section, validated. */
export type RunOptions = RunSpec["run"];

/**
 * Validates `obj` (plain data from YAML, JSON or the builder) and fills in
 * every default.
 * @throws {SpecError} listing every issue, each with its path.
 */
export function parseRunSpec(obj: unknown): RunSpec {
  const result = safeParseRunSpec(obj);
  if (result.success) return result.data;
  throw new SpecError(
    result.issues.map((i) => ({ path: formatPath(i.segments), message: i.message })),
  );
}

/** The outcome of {@link safeParseRunSpec}. */
export type SafeParseRunSpecResult =
  | { success: true; data: RunSpec }
  | { success: false; issues: PathIssue[] };

/**
 * Like {@link parseRunSpec} but returns the issues (with path segments, so a
 * front end can locate them in its source) instead of throwing.
 */
export function safeParseRunSpec(obj: unknown): SafeParseRunSpecResult {
  // Unknown-key messages suggest the closest known key; zod's issue lacks the
  // schema, so its error callback records the object's keys, by input object.
  const known = new WeakMap<object, readonly string[]>();
  const result = RunSpecSchema.safeParse(obj, {
    reportInput: true,
    error: (iss) => {
      if (iss.code === "unrecognized_keys" && iss.input && typeof iss.input === "object") {
        const shape = (iss.inst as { _zod?: { def?: { shape?: object } } })?._zod?.def?.shape;
        if (shape) known.set(iss.input, Object.keys(shape));
      }
      return undefined; // keep zod's message; errors.ts rewrites it
    },
  });
  if (result.success) return { success: true, data: result.data };
  const issues = issuesFromZod(
    result.error.issues as unknown as ZodIssueLike[],
    (input) => (input && typeof input === "object" ? known.get(input) : undefined),
  );
  return { success: false, issues };
}
