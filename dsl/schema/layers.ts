/**
 * The model section: the registry of layer kinds, the two containers
 * (`residual`, `sequential`) that nest them, and the compile step from the
 * validated layers to the graph's layer specs.
 *
 * A leaf layer kind is declared once, in layers_weighted.ts or
 * layers_parameter_free.ts; {@link LEAF_LAYERS} must hold one declaration
 * per op of lib/ops (checked by the type system), and everything else here
 * (the `LayerSchema` union, the `Layer` types, compiling) follows from it.
 * @module
 */
import { z } from "zod";
import type { LayerSpec } from "../../lib/graph/graph.ts";
import { defined, posInt } from "./primitives.ts";
import { type LayerKind, layerName, type LeafLayerType, type NameOpt } from "./layer_kind.ts";
import WEIGHTED from "./layers_weighted.ts";
import PARAMETER_FREE from "./layers_parameter_free.ts";

/**
 * Every leaf layer kind by type, in the order the reference lists them. The
 * mapped type fails `deno task check` when an op of lib/ops has no
 * declaration.
 */
export const LEAF_LAYERS = { ...WEIGHTED, ...PARAMETER_FREE } satisfies {
  readonly [T in LeafLayerType]: LayerKind<T>;
};

/** @ignore */
type LeafKinds = typeof LEAF_LAYERS;

/**
 * The leaf layers as written (zod's input types, which `deno doc` cannot
 * show; fields: docs/yaml-reference.md).
 * @ignore
 */
type LeafLayerInput = { [T in LeafLayerType]: z.input<LeafKinds[T]["schema"]> }[LeafLayerType];
/**
 * A validated leaf layer.
 * @ignore
 */
type LeafLayer = { [T in LeafLayerType]: z.output<LeafKinds[T]["schema"]> }[LeafLayerType];

/** What a layer holds before validation (the YAML/builder side; fields: docs/yaml-reference.md). */
export type LayerInput = LeafLayerInput | ResidualLayerInput | SequentialLayerInput;

/** A validated layer with every default filled in. */
export type Layer = LeafLayer | ResidualLayer | SequentialLayer;

/** Residual block input. Written out by hand because layers nest recursively. */
export interface ResidualLayerInput {
  /** Discriminator. */
  type: "residual";
  /** Optional name (see {@link Layer}). */
  name?: string | undefined;
  /** The main branch. */
  layers: LayerInput[];
  /** The projection branch; identity when absent. */
  shortcut?: LayerInput[] | undefined;
}
/** Validated residual block. */
export interface ResidualLayer {
  /** Discriminator. */
  type: "residual";
  /** Optional name. */
  name?: string | undefined;
  /** The main branch. */
  layers: Layer[];
  /** The projection branch; identity when absent. */
  shortcut?: Layer[] | undefined;
}
/** Sequential container input. */
export interface SequentialLayerInput {
  /** Discriminator. */
  type: "sequential";
  /** Optional name; its sub-layers' parameters are prefixed by it. */
  name?: string | undefined;
  /** The sub-layers, applied in order. */
  layers: LayerInput[];
}
/** Validated sequential container. */
export interface SequentialLayer {
  /** Discriminator. */
  type: "sequential";
  /** Optional name. */
  name?: string | undefined;
  /** The sub-layers, applied in order. */
  layers: Layer[];
}

/** Most layers in one list (a YAML file cannot hold more entries in any list either). */
const MAX_LAYERS_PER_LIST = 1000;

/** A list of layers whose names are unique among the siblings. */
function layerList(what: string): z.ZodType<Layer[], LayerInput[]> {
  return z
    .array(z.lazy(() => LayerSchema))
    .min(1)
    .max(MAX_LAYERS_PER_LIST)
    .superRefine((layers, ctx) => {
      const seen = new Map<string, number>();
      layers.forEach((l, i) => {
        const name = (l as { name?: unknown } | null)?.name;
        if (typeof name !== "string") return;
        const first = seen.get(name);
        if (first !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [i, "name"],
            message: `duplicate layer name "${name}" (also used by ${what}[${first}])`,
          });
        } else seen.set(name, i);
      });
    });
}

/** Residual block: out = layers(x) + shortcut(x). */
const ResidualLayerSchema: z.ZodType<ResidualLayer, ResidualLayerInput> = z
  .strictObject({
    type: z.literal("residual"),
    name: layerName,
    get layers() {
      return layerList("layers").describe("The main branch, applied in order.");
    },
    get shortcut() {
      return layerList("shortcut")
        .optional()
        .describe(
          "Projection branch (e.g. a 1×1 strided conv + batchnorm) when shapes change; identity when absent.",
        );
    },
  })
  .describe(
    "out = layers(x) + shortcut(x). Nothing follows the addition: add a `relu` after the block for a ResNet block.",
  );

/** Sequential container: groups layers under one name. */
const SequentialLayerSchema: z.ZodType<SequentialLayer, SequentialLayerInput> = z
  .strictObject({
    type: z.literal("sequential"),
    name: layerName,
    get layers() {
      return layerList("layers").describe("The sub-layers, applied in order.");
    },
  })
  .describe("Applies its layers in order; its name prefixes its sub-layers' parameter names.");

/** Every layer schema, discriminated by `type`: the leaf kinds, then the containers. */
export const LAYER_SCHEMAS: readonly z.ZodType[] = [
  ...Object.values(LEAF_LAYERS).map((k) => k.schema),
  ResidualLayerSchema,
  SequentialLayerSchema,
];

/** Any layer. */
export const LayerSchema: z.ZodType<Layer, LayerInput> = z.discriminatedUnion(
  "type",
  // The two recursive schemas are typed as plain ZodType (their inferred type
  // would be circular); at run time every option is a strict object with a
  // literal `type`, which is what the discriminated union needs.
  LAYER_SCHEMAS as unknown as [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]],
) as unknown as z.ZodType<Layer, LayerInput>;

/** The model: input shape and layers. */
export const ModelSchema = z
  .strictObject({
    input: z
      .array(posInt)
      .refine((s) => s.length === 1 || s.length === 3, {
        error: "expected [features] or [height, width, channels]",
      })
      .describe(
        "Shape of one sample without the batch axis: [height, width, channels] (HWC) or [features].",
      ),
    layers: layerList("model.layers").describe("The layers, applied in order."),
  })
  .describe("The network: a sample shape and a list of layers.");

// ------------------------------------------------------------------ compile

/** A layer's place in the spec: `["model", "layers", 2, "layers", 0]`. */
export type SpecPath = (string | number)[];

/**
 * Where each graph layer came from: full layer name (`block1.conv`, and
 * `block1.add` for a residual's sum) → its path in the spec, so a shape error
 * can point at the layer's line in a model file.
 */
export type LayerSources = Map<string, SpecPath>;

/** The config of a leaf layer, by its kind's compile step. */
function compileLeaf(layer: LeafLayer, name: string): unknown {
  // Each kind's compile step takes its own layer type; the union of kinds is
  // called through the widest one.
  const kind = LEAF_LAYERS[layer.type] as unknown as LayerKind;
  return kind.compile(layer, name);
}

/** Resolves one validated layer (and its children) to graph layer specs. */
export function compileLayer(
  layer: Layer,
  index: number,
  path: string,
  sources: LayerSources = new Map(),
  at: SpecPath = ["model", "layers", index],
): LayerSpec {
  const name = layer.name ?? String(index);
  sources.set(`${path}${name}`, at);
  switch (layer.type) {
    case "sequential":
      return {
        type: "sequential",
        name,
        layers: compileLayers(layer.layers, `${path}${name}.`, sources, [...at, "layers"]),
      };
    case "residual":
      sources.set(`${path}${name}.add`, at);
      return {
        type: "residual",
        name,
        layers: compileLayers(layer.layers, `${path}${name}.`, sources, [...at, "layers"]),
        shortcut: layer.shortcut
          ? compileLayers(layer.shortcut, `${path}${name}.shortcut.`, sources, [...at, "shortcut"])
          : undefined,
      };
    default:
      return { type: layer.type, name, config: compileLeaf(layer, `${path}${name}`) };
  }
}

/** Resolves a layer list (`at`: the list's path in the spec). */
export function compileLayers(
  layers: readonly Layer[],
  path = "",
  sources: LayerSources = new Map(),
  at: SpecPath = ["model", "layers"],
): LayerSpec[] {
  return layers.map((l, i) => compileLayer(l, i, path, sources, [...at, i]));
}

// ----------------------------------------------------------------- builders

/** The model section: `model([28, 28, 1], conv2d(8, 3), relu(), …)`. */
export function model(
  input: number[],
  ...layers: LayerInput[]
): { input: number[]; layers: LayerInput[] } {
  return { input, layers };
}

/** Residual block: `layers(x) + shortcut(x)`; identity shortcut when omitted. */
export function residual(
  layers: LayerInput[],
  shortcut?: LayerInput[],
  opts?: NameOpt,
): ResidualLayerInput {
  const block: ResidualLayerInput = { type: "residual", ...defined(opts), layers };
  if (shortcut !== undefined) block.shortcut = shortcut;
  return block;
}

/** Sequential container: `sequential(conv2d(8, 3), relu())`; name it with {@link named}. */
export function sequential(...layers: LayerInput[]): SequentialLayerInput {
  return { type: "sequential", layers };
}

/** Returns `layer` with its `name` set: `named("block1", residual([...]))`. */
export function named<L extends LayerInput>(name: string, layer: L): L {
  return { ...layer, name };
}
