/**
 * The bridge from the DSL's optimizer vocabulary to the optimizer engine: an
 * optimizer written with the builder (`adamwBK({ lr: 1e-3 })`) or as a YAML
 * file's plain data becomes the factory that `Optimizer` (for your own WebGPU
 * code) and the plan accept, with the same defaults a run spec gets.
 * @module
 */

import type { OptimizerFactory } from "../lib/optim/types.ts";
import { compileOptimizer } from "./compile.ts";
import { formatPath, issuesFromZod, SpecError, type ZodIssueLike } from "./errors.ts";
import { type OptimizerInput, OptimizerSchema } from "./schema.ts";

/**
 * Validates an optimizer section (defaults filled in as in a run spec) and
 * returns its factory: `new Optimizer(device, optimizerFactory(adamwBK({ lr: 1e-3 })), params)`.
 * @throws {SpecError} listing every issue, with paths from `optimizer`; also
 * when `clip_grad_norm` is set, because clipping is a stage of the training
 * plan that an optimizer alone does not run.
 */
export function optimizerFactory(input: OptimizerInput): OptimizerFactory {
  const result = OptimizerSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const issues = issuesFromZod(result.error.issues as unknown as ZodIssueLike[]);
    throw new SpecError(
      issues.map((i) => ({ path: formatPath(["optimizer", ...i.segments]), message: i.message })),
    );
  }
  if (result.data.clip_grad_norm !== undefined) {
    throw new SpecError([{
      path: "optimizer.clip_grad_norm",
      message: "clipping is a stage of the training plan, not of the optimizer; " +
        "clip the gradients yourself before recording the optimizer",
    }]);
  }
  return compileOptimizer(result.data);
}
