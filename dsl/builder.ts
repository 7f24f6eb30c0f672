/**
 * The TypeScript front end: small functions that build the same plain objects
 * a YAML file holds, so a spec written either way validates to the same
 * RunSpec. Field names stay snake_case (as in YAML) so options pass through
 * unchanged; nothing here holds a default (the schema does), and nothing is
 * validated until {@link runSpec}, which reports every issue with its path.
 *
 * ```ts
 * import { conv2d, flatten, linear, maxpool2d, relu, runSpec, sgdm } from "./mod.ts";
 * const spec = runSpec({
 *   model: { input: [28, 28, 1], layers: [conv2d(16, 3, { padding: 1 }), relu(), maxpool2d(2), flatten(), linear(10)] },
 *   data: { dataset: "fashion-mnist" },
 *   optimizer: sgdm({ lr: 0.05 }),
 *   schedule: { epochs: 5 },
 * });
 * ```
 * @module
 */
import { modelIssues } from "./compile.ts";
import { formatPath, SpecError } from "./errors.ts";
import {
  type LayerInput,
  type LrScheduleInput,
  type OptimizerInput,
  parseRunSpec,
  type ResidualLayerInput,
  type RunSpec,
  type RunSpecInput,
  type ScheduleInput,
  type SequentialLayerInput,
} from "./schema.ts";

/**
 * Options of a layer builder: the fields of the layer of type `T` minus
 * `type` and the positional ones `K` (docs/yaml-reference.md lists them).
 * @ignore
 */
type LayerOpts<T extends LayerInput["type"], K extends string = never> = Omit<
  Extract<LayerInput, { type: T }>,
  "type" | K
>;
/**
 * Options of an optimizer builder: the fields of optimizer `N` minus `name`.
 * @ignore
 */
type OptimizerOpts<N extends OptimizerInput["name"]> = Omit<
  Extract<OptimizerInput, { name: N }>,
  "name"
>;
/**
 * Options of an lr-curve builder: the fields of curve `T` minus `type` and the
 * positional ones `K`.
 * @ignore
 */
type LrOpts<T extends LrScheduleInput["type"], K extends string = never> = Omit<
  Extract<LrScheduleInput, { type: T }>,
  "type" | K
>;
/** The `name` option every layer accepts. */
export interface NameOpt {
  /** Layer name (identifier, unique among siblings). */
  name?: string;
}

/** Spreads `opts` without copying `undefined` members (keeps builder output deep-equal to YAML's). */
function defined<T extends object>(opts: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(opts ?? {})) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

// --------------------------------------------------------------------- whole

/**
 * Validates a complete spec and fills in every default, then checks that the
 * model's shapes fit (and that its last layer gives one output per class of
 * the data), as the YAML front end does.
 * @throws {SpecError} listing every issue with its path.
 */
export function runSpec(spec: RunSpecInput): RunSpec {
  const parsed = parseRunSpec(spec);
  const issues = modelIssues(parsed);
  if (issues.length) {
    throw new SpecError(
      issues.map((i) => ({ path: formatPath(i.segments), message: i.message })),
    );
  }
  return parsed;
}

/** The model section: `model([28, 28, 1], conv2d(8, 3), relu(), …)`. */
export function model(input: number[], ...layers: LayerInput[]): RunSpecInput["model"] {
  return { input, layers };
}

// -------------------------------------------------------------------- layers

/** Fully connected layer with `out` features. */
export function linear(out: number, opts?: LayerOpts<"linear", "out">): LayerInput {
  return { type: "linear", out, ...defined(opts) };
}

/** 2-D convolution with `out` channels and a `kernel` (k or [kh, kw]). */
export function conv2d(
  out: number,
  kernel: number | [number, number],
  opts?: LayerOpts<"conv2d", "out" | "kernel">,
): LayerInput {
  return { type: "conv2d", out, kernel, ...defined(opts) };
}

/** Batch normalisation over channels. */
export function batchnorm2d(opts?: LayerOpts<"batchnorm2d">): LayerInput {
  return { type: "batchnorm2d", ...defined(opts) };
}

/** ReLU. */
export function relu(opts?: NameOpt): LayerInput {
  return { type: "relu", ...defined(opts) };
}

/** GELU (exact erf form). */
export function gelu(opts?: NameOpt): LayerInput {
  return { type: "gelu", ...defined(opts) };
}

/** tanh. */
export function tanh(opts?: NameOpt): LayerInput {
  return { type: "tanh", ...defined(opts) };
}

/** Logistic sigmoid. */
export function sigmoid(opts?: NameOpt): LayerInput {
  return { type: "sigmoid", ...defined(opts) };
}

/** Max pooling with window `kernel` (stride defaults to the kernel). */
export function maxpool2d(
  kernel: number | [number, number],
  opts?: LayerOpts<"maxpool2d", "kernel">,
): LayerInput {
  return { type: "maxpool2d", kernel, ...defined(opts) };
}

/** Average pooling with window `kernel` (stride defaults to the kernel). */
export function avgpool2d(
  kernel: number | [number, number],
  opts?: LayerOpts<"avgpool2d", "kernel">,
): LayerInput {
  return { type: "avgpool2d", kernel, ...defined(opts) };
}

/** Mean over height and width. */
export function globalAvgPool(opts?: NameOpt): LayerInput {
  return { type: "global_avg_pool", ...defined(opts) };
}

/** Flatten [N, H, W, C] → [N, H·W·C]. */
export function flatten(opts?: NameOpt): LayerInput {
  return { type: "flatten", ...defined(opts) };
}

/** Dropout; `p` defaults (in the schema) to 0.5. */
export function dropout(p?: number, opts?: LayerOpts<"dropout", "p">): LayerInput {
  return { type: "dropout", ...defined({ p }), ...defined(opts) };
}

/** Residual block: `layers(x) + shortcut(x)`; identity shortcut when omitted. */
export function residual(
  layers: LayerInput[],
  shortcut?: LayerInput[],
  opts?: NameOpt,
): LayerInput {
  const block: ResidualLayerInput = { type: "residual", ...defined(opts), layers };
  if (shortcut !== undefined) block.shortcut = shortcut;
  return block;
}

/** Sequential container: `sequential(conv2d(8, 3), relu())`; name it with {@link named}. */
export function sequential(...layers: LayerInput[]): LayerInput {
  const seq: SequentialLayerInput = { type: "sequential", layers };
  return seq;
}

/** Returns `layer` with its `name` set: `named("block1", residual([...]))`. */
export function named<L extends LayerInput>(name: string, layer: L): L {
  return { ...layer, name };
}

// ----------------------------------------------------------------- optimizer

/** Plain SGD. */
export function sgd(opts: OptimizerOpts<"sgd">): RunSpecInput["optimizer"] {
  return { name: "sgd", ...defined(opts) } as RunSpecInput["optimizer"];
}

/** SGD with momentum (PyTorch semantics). */
export function sgdm(opts: OptimizerOpts<"sgdm">): RunSpecInput["optimizer"] {
  return { name: "sgdm", ...defined(opts) } as RunSpecInput["optimizer"];
}

/** Adam with L2-coupled weight decay. */
export function adam(opts: OptimizerOpts<"adam"> = {}): RunSpecInput["optimizer"] {
  return { name: "adam", ...defined(opts) };
}

/** AdamW with decoupled weight decay. */
export function adamw(opts: OptimizerOpts<"adamw"> = {}): RunSpecInput["optimizer"] {
  return { name: "adamw", ...defined(opts) };
}

/** Adagrad (PyTorch semantics). */
export function adagrad(
  opts: OptimizerOpts<"adagrad"> = {},
): RunSpecInput["optimizer"] {
  return { name: "adagrad", ...defined(opts) };
}

/** RAdam (PyTorch semantics). */
export function radam(opts: OptimizerOpts<"radam"> = {}): RunSpecInput["optimizer"] {
  return { name: "radam", ...defined(opts) };
}

/** AdaBelief (decoupled decay, no rectification). */
export function adabelief(
  opts: OptimizerOpts<"adabelief"> = {},
): RunSpecInput["optimizer"] {
  return { name: "adabelief", ...defined(opts) };
}

/** SGDM_BK: AdaBK with SGD momentum (the authors' code semantics). */
export function sgdmBK(opts: OptimizerOpts<"sgdm_bk"> = {}): RunSpecInput["optimizer"] {
  return { name: "sgdm_bk", ...defined(opts) };
}

/** AdamW_BK: AdaBK with AdamW (the authors' code semantics). */
export function adamwBK(
  opts: OptimizerOpts<"adamw_bk"> = {},
): RunSpecInput["optimizer"] {
  return { name: "adamw_bk", ...defined(opts) };
}

/** WSGDM: input-side whitened SGDM. */
export function wsgdm(opts: OptimizerOpts<"wsgdm"> = {}): RunSpecInput["optimizer"] {
  return { name: "wsgdm", ...defined(opts) };
}

/** WAdam: input-side whitened Adam. */
export function wadam(opts: OptimizerOpts<"wadam"> = {}): RunSpecInput["optimizer"] {
  return { name: "wadam", ...defined(opts) };
}

/** Shampoo with SGD momentum. */
export function shampoo(
  opts: OptimizerOpts<"shampoo"> = {},
): RunSpecInput["optimizer"] {
  return { name: "shampoo", ...defined(opts) };
}

/** K-FAC with SGD momentum. */
export function kfac(opts: OptimizerOpts<"kfac"> = {}): RunSpecInput["optimizer"] {
  return { name: "kfac", ...defined(opts) };
}

// ------------------------------------------------------------------ schedule

/** The schedule section (exactly one of `epochs` and `steps`). */
export function schedule(opts: ScheduleInput): ScheduleInput {
  return defined(opts) as ScheduleInput;
}

/** Constant learning rate. */
export function constantLr(): NonNullable<ScheduleInput["lr"]> {
  return { type: "constant" };
}

/** Step decay every `stepSize` units by `gamma`. */
export function stepLr(
  stepSize: number,
  opts?: LrOpts<"step", "step_size">,
): NonNullable<ScheduleInput["lr"]> {
  return { type: "step", step_size: stepSize, ...defined(opts) };
}

/** Decay by `gamma` at each milestone. */
export function multistepLr(
  milestones: number[],
  opts?: LrOpts<"multistep", "milestones">,
): NonNullable<ScheduleInput["lr"]> {
  return { type: "multistep", milestones, ...defined(opts) };
}

/** Cosine annealing to `min_lr` over the run. */
export function cosineLr(opts?: LrOpts<"cosine">): NonNullable<ScheduleInput["lr"]> {
  return { type: "cosine", ...defined(opts) };
}
