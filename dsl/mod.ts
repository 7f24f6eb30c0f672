/**
 * The run-spec DSL: the zod schema (`RunSpec`), the YAML front end with
 * line-accurate errors, and the TypeScript builder. Both front ends produce
 * the same validated, defaults-filled RunSpec.
 *
 * ```ts
 * import { loadRunSpecFile } from "./mod.ts";
 * const spec = await loadRunSpecFile("examples/fashion_cnn.yaml");
 * ```
 * @module
 */
export * from "./errors.ts";
export * from "./schema.ts";
export * from "./yaml.ts";
export * from "./builder.ts";
