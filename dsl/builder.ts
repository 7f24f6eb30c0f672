/**
 * The TypeScript front end: small functions that build the same plain objects
 * a YAML file holds, so a spec written either way validates to the same
 * RunSpec. Field names stay snake_case (as in YAML) so options pass through
 * unchanged; nothing here holds a default (the schema does), and nothing is
 * validated until {@link runSpec}, which reports every issue with its path.
 *
 * Each layer kind's and optimizer's builder is declared with its schema in
 * dsl/schema/ and re-exported here, so this module is the whole builder
 * vocabulary (mod.ts re-exports it).
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
import { parseRunSpec, type RunSpec, type RunSpecInput } from "./schema/run.ts";

export * from "./schema/layers_weighted.ts";
export * from "./schema/layers_parameter_free.ts";
export * from "./schema/optimizers_first_order.ts";
export * from "./schema/optimizers_kronecker.ts";
export { model, named, residual, sequential } from "./schema/layers.ts";
export { constantLr, cosineLr, multistepLr, schedule, stepLr } from "./schema/schedule.ts";
export type { NameOpt } from "./schema/layer_kind.ts";

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
