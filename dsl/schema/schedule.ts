/**
 * The schedule section: run length, warm-up and the learning-rate curves.
 * Each curve is declared once (schema, compile step to lib/train's
 * `LrDecay`, builder); the registry's mapped type fails `deno task check`
 * when a decay rule of lib/train/schedule.ts has no curve.
 * @module
 */
import { z } from "zod";
import { lrAt, type LrDecay, type LrScheduleSpec } from "../../lib/train/schedule.ts";
import { clean, defined, nonNegInt, nonNegNum, posInt, posNum } from "./primitives.ts";

/** One learning-rate curve: its schema and its decay rule. */
interface CurveKind<T extends LrDecay["type"], S extends z.ZodType<{ type: T }>> {
  /** Its fields, defaults and documentation. */
  readonly schema: S;
  /** The validated curve as lib/train's decay rule. */
  compile(curve: z.output<S>): Extract<LrDecay, { type: T }>;
}

/** Declares a curve (see {@link CurveKind}). */
function curveKind<T extends LrDecay["type"], S extends z.ZodType<{ type: T }>>(
  _type: T,
  schema: S,
  compile: (curve: z.output<S>) => Extract<LrDecay, { type: T }>,
): CurveKind<T, S> {
  return { schema, compile };
}

const constantCurve = curveKind(
  "constant",
  z.strictObject({ type: z.literal("constant") }).describe("lr stays at optimizer.lr."),
  () => ({ type: "constant" }),
);
const stepCurve = curveKind(
  "step",
  z.strictObject({
    type: z.literal("step"),
    step_size: posInt.describe("Decay every this many units."),
    gamma: posNum.default(0.1).describe("Multiplier per decay."),
  }).describe("lr = optimizer.lr · gamma^⌊t / step_size⌋ (PyTorch `StepLR`)."),
  (c) => ({ type: "step", stepSize: c.step_size, gamma: c.gamma }),
);
const multistepCurve = curveKind(
  "multistep",
  z.strictObject({
    type: z.literal("multistep"),
    milestones: z
      .array(posInt)
      .min(1)
      .refine((m) => m.every((x, i) => i === 0 || !(x <= m[i - 1])), {
        error: "milestones must be strictly increasing",
      })
      .describe("Units at which lr is multiplied by gamma, strictly increasing."),
    gamma: posNum.default(0.1).describe("Multiplier per milestone."),
  }).describe("lr = optimizer.lr · gamma^(number of milestones ≤ t) (PyTorch `MultiStepLR`)."),
  (c) => ({ type: "multistep", milestones: c.milestones, gamma: c.gamma }),
);
const cosineCurve = curveKind(
  "cosine",
  z.strictObject({
    type: z.literal("cosine"),
    min_lr: nonNegNum.default(0).describe("Final learning rate (absolute, PyTorch `eta_min`)."),
  }).describe(
    "lr = min_lr + (optimizer.lr − min_lr)·(1 + cos(π·t/T))/2 with T the run length in units (PyTorch `CosineAnnealingLR`, one half-period).",
  ),
  (c) => ({ type: "cosine", minLr: c.min_lr }),
);

/** Every curve by type, in the order the reference lists them. */
const CURVES = {
  constant: constantCurve,
  step: stepCurve,
  multistep: multistepCurve,
  cosine: cosineCurve,
} satisfies { readonly [T in LrDecay["type"]]: CurveKind<T, z.ZodType<{ type: T }>> };

/** @ignore */
type CurveSchema = (typeof CURVES)[keyof typeof CURVES]["schema"];

/** Every learning-rate curve, discriminated by `type` (CURVES lists each decay rule once). */
export const LR_SCHEDULE_SCHEMAS = Object.values(CURVES).map((c) => c.schema) as unknown as [
  CurveSchema,
  ...CurveSchema[],
];

/** The schedule section. */
export const ScheduleSchema = z
  .strictObject({
    epochs: posInt.optional().describe(
      "Run length in epochs (give exactly one of epochs and steps).",
    ),
    steps: posInt.optional().describe(
      "Run length in optimizer steps (give exactly one of epochs and steps).",
    ),
    lr: z
      .discriminatedUnion("type", LR_SCHEDULE_SCHEMAS)
      .prefault({ type: "constant" })
      .describe("The learning-rate curve, a multiplier on optimizer.lr."),
    warmup_steps: nonNegInt.default(0).describe(
      "Linear warm-up, always counted in steps: at step t < warmup_steps (from 0) the lr is multiplied by (t + 1)/warmup_steps, on top of the curve.",
    ),
    unit: z.enum(["epochs", "steps"]).default("epochs").describe(
      "What t counts in the lr curve (step_size, milestones, cosine period): completed epochs (lr changes at epoch boundaries, like calling PyTorch's scheduler.step() per epoch) or optimizer steps (lr changes every step).",
    ),
  })
  .superRefine((v, ctx) => {
    if (v.epochs === undefined && v.steps === undefined) {
      ctx.addIssue({ code: "custom", path: [], message: "give the run length: epochs or steps" });
    }
    if (v.epochs !== undefined && v.steps !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["steps"],
        message: "give either epochs or steps, not both",
      });
    }
    if (!clean(ctx)) return;
    if (v.steps !== undefined && v.warmup_steps > v.steps) {
      ctx.addIssue({
        code: "custom",
        path: ["warmup_steps"],
        message: `warm-up (${v.warmup_steps} steps) is longer than the run (${v.steps} steps)`,
      });
    }
    const length = v.unit === "epochs" ? v.epochs : v.steps;
    if (v.lr.type === "multistep" && length !== undefined) {
      const i = v.lr.milestones.findIndex((m) => m >= length);
      if (i >= 0) {
        ctx.addIssue({
          code: "custom",
          path: ["lr", "milestones", i],
          message: `milestone ${
            v.lr.milestones[i]
          } is not before the end of the run (${length} ${v.unit})`,
        });
      }
    }
  })
  .describe("Run length and learning-rate schedule.");

// Public types are aliases of these zod-derived ones (which `deno doc` cannot show).
/** @ignore */
type Schedule = z.output<typeof ScheduleSchema>;
/** @ignore */
type ScheduleSchemaInput = z.input<typeof ScheduleSchema>;

/** The schedule section as written (fields: docs/yaml-reference.md). */
export type ScheduleInput = ScheduleSchemaInput;
/** The lr curve as written. */
export type LrScheduleInput = NonNullable<ScheduleInput["lr"]>;

/**
 * Options of an lr-curve builder: curve `T`'s fields minus `type` and the positional `K`.
 * @ignore
 */
type CurveOptions<T extends LrScheduleInput["type"], K extends string = never> = Omit<
  Extract<LrScheduleInput, { type: T }>,
  "type" | K
>;

// ------------------------------------------------------------------ compile

/** Total optimizer steps of a run for `stepsPerEpoch`. */
export function totalSteps(s: Schedule, stepsPerEpoch: number): number {
  return s.steps ?? (s.epochs! * stepsPerEpoch);
}

/** The learning rate at each global step, for base rate `lr`. */
export function compileSchedule(
  s: Schedule,
  lr: number,
  stepsPerEpoch: number,
): (k: number) => number {
  const curve = CURVES[s.lr.type] as unknown as CurveKind<
    LrDecay["type"],
    z.ZodType<{ type: LrDecay["type"] }>
  >;
  const sched: LrScheduleSpec = {
    lr,
    decay: curve.compile(s.lr),
    unit: s.unit === "epochs" ? "epoch" : "step",
    warmupSteps: s.warmup_steps,
    stepsPerEpoch,
    totalSteps: totalSteps(s, stepsPerEpoch),
  };
  return (k) => lrAt(sched, k);
}

// ----------------------------------------------------------------- builders

/** The schedule section (exactly one of `epochs` and `steps`). */
export function schedule(opts: ScheduleInput): ScheduleInput {
  return defined(opts) as ScheduleInput;
}

/** Constant learning rate. */
export function constantLr(): LrScheduleInput {
  return { type: "constant" };
}

/** Step decay every `stepSize` units by `gamma`. */
export function stepLr(
  stepSize: number,
  opts?: CurveOptions<"step", "step_size">,
): LrScheduleInput {
  return { type: "step", step_size: stepSize, ...defined(opts) };
}

/** Decay by `gamma` at each milestone. */
export function multistepLr(
  milestones: number[],
  opts?: CurveOptions<"multistep", "milestones">,
): LrScheduleInput {
  return { type: "multistep", milestones, ...defined(opts) };
}

/** Cosine annealing to `min_lr` over the run. */
export function cosineLr(opts?: CurveOptions<"cosine">): LrScheduleInput {
  return { type: "cosine", ...defined(opts) };
}
