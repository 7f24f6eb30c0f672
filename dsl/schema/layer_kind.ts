/**
 * What declaring a layer kind of the model file takes: one {@link LayerKind}
 * holding its schema (fields, defaults and `.describe()` texts, from which
 * docs/yaml-reference.md is generated) and its compile step to the op of the
 * same name in lib/ops. The compile step's result is typed by the op's own
 * config type, and dsl/schema/layers.ts requires one declaration per op, so
 * a missing or mistyped case fails `deno task check` instead of silently
 * dropping a layer's config.
 * @module
 */
import { z } from "zod";
import type { OpConfig, OpType } from "../../lib/ops/mod.ts";
import { layerNameString } from "../strings.ts";

/** Op kinds a model file names directly (`add` is the sum inside a residual block). */
export type LeafLayerType = Exclude<OpType, "add">;

/** The fields every layer has. */
interface LayerBase<T extends string> {
  type: T;
  name?: string | undefined;
}

/** A schema whose output and input are layers of type `T`. */
export type LayerSchemaOf<T extends string> = z.ZodType<LayerBase<T>, LayerBase<T>>;

/** One layer kind of the model file: its schema and its compile step. */
export interface LayerKind<
  T extends LeafLayerType = LeafLayerType,
  S extends LayerSchemaOf<T> = LayerSchemaOf<T>,
> {
  /** The discriminator value. */
  readonly type: T;
  /** Its fields, defaults and documentation. */
  readonly schema: S;
  /**
   * The validated layer as the config of op `T`; `name` is the layer's full
   * name, for a `ShapeError` the fields alone already show (lib/ops/types.ts).
   */
  compile(layer: z.output<S>, name: string): OpConfig<T>;
}

/** Declares a layer kind (see {@link LayerKind}). */
export function layerKind<T extends LeafLayerType, S extends LayerSchemaOf<T>>(
  type: T,
  schema: S,
  compile: (layer: z.output<S>, name: string) => OpConfig<T>,
): LayerKind<T, S> {
  return { type, schema, compile };
}

/** Layer names become parameter-name segments (`block1.conv.weight`): identifiers only. */
export const layerName = layerNameString
  .optional()
  .describe(
    "Name used in parameter and checkpoint keys (`block1.conv.weight`); unique among siblings. " +
      "Unnamed layers are named by their index among their siblings (`0`, `1`, …).",
  );

/** A layer without sub-layers: a strict object `{type, name?, ...fields}`. */
export function leafLayer<T extends string, S extends z.core.$ZodLooseShape>(
  type: T,
  shape: S,
  description: string,
) {
  return z.strictObject({ type: z.literal(type), name: layerName, ...shape }).describe(description);
}

/** A layer of kind `K` as written (fields: docs/yaml-reference.md). */
export type WrittenLayer<K extends { schema: z.ZodType }> = z.input<K["schema"]>;

/**
 * Options of a layer builder: the fields of kind `K` minus `type` and the
 * positional ones `P`.
 */
export type BuilderOptions<K extends { schema: z.ZodType }, P extends string = never> = Omit<
  WrittenLayer<K>,
  "type" | P
>;

/** The `name` option every layer accepts. */
export interface NameOpt {
  /** Layer name (identifier, unique among siblings). */
  name?: string;
}
