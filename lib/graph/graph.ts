/**
 * The graph: a model's layers flattened into ops in execution order, with
 * per-sample shapes inferred and stable names assigned.
 *
 * Shape errors surface here, before any GPU work, naming the layer and the
 * shapes involved.
 * @module
 */

import { OP_KINDS, opKind } from "../ops/mod.ts";
import { fmtShape, type OpKind, type ParamSpec, ShapeError } from "../ops/types.ts";

/** A layer as the compiler receives it (configs already resolved). */
export type LayerSpec =
  | { type: "sequential"; name?: string; layers: LayerSpec[] }
  | { type: "residual"; name?: string; layers: LayerSpec[]; shortcut?: LayerSpec[] }
  | { type: string; name?: string; config?: unknown };

/** One op in the graph. */
export interface GraphNode {
  /** Index in `Graph.nodes`. */
  id: number;
  /** Stable dotted name, e.g. "block1.conv2d0". */
  name: string;
  /** The op kind. */
  kind: OpKind<unknown>;
  /** Its resolved configuration. */
  config: unknown;
  /** Ids of input nodes; -1 is the graph input. */
  inputs: number[];
  /** Per-sample input shapes, one per input. */
  inputShapes: number[][];
  /** Per-sample output shape. */
  shape: number[];
  /** Parameters the op needs, with full names. */
  params: (ParamSpec & { name: string })[];
}

/** A model compiled to ops. */
export interface Graph {
  /** Per-sample input shape. */
  input: number[];
  /** Ops in execution order. */
  nodes: GraphNode[];
  /** The node producing the logits. */
  output: number;
}

/** The id the graph input has in `GraphNode.inputs`. */
export const GRAPH_INPUT = -1;

/** Options of {@link buildGraph}. */
export interface GraphOptions {
  /**
   * Run a ReLU that is followed by max pooling after the pooling instead:
   * maxpool(relu(x)) = relu(maxpool(x)) exactly (ReLU is monotone, padding
   * never wins), and the ReLU then touches a quarter of the values. Default
   * true; the layers keep their names.
   */
  reorderReluPool?: boolean;
}

/** Swaps every ReLU directly followed by a max pooling (see {@link GraphOptions}). */
function reorderReluPool<T extends { layer: LayerSpec }>(list: readonly T[]): T[] {
  const out = [...list];
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i].layer.type === "relu" && out[i + 1].layer.type === "maxpool2d") {
      [out[i], out[i + 1]] = [out[i + 1], out[i]];
      i++;
    }
  }
  return out;
}

/** Builds the graph of a layer list on a per-sample input shape. */
export function buildGraph(
  input: readonly number[],
  layers: readonly LayerSpec[],
  options: GraphOptions = {},
): Graph {
  const reorder = options.reorderReluPool ?? true;
  const nodes: GraphNode[] = [];
  const shapeOf = (id: number) => (id === GRAPH_INPUT ? [...input] : nodes[id].shape);

  const addOp = (type: string, name: string, config: unknown, inputs: number[]): number => {
    const kind = opKind(type);
    if (!kind) {
      throw new ShapeError(
        name,
        type,
        `unknown layer type; known: ${Object.keys(OP_KINDS).join(", ")}`,
      );
    }
    const inputShapes = inputs.map(shapeOf);
    const cfg = config ?? {};
    const shape = kind.outputShape(cfg, inputShapes, name);
    const params = kind.paramSpecs(cfg, inputShapes).map((p) => ({
      ...p,
      name: `${name}.${p.local}`,
    }));
    nodes.push({ id: nodes.length, name, kind, config: cfg, inputs, inputShapes, shape, params });
    return nodes.length - 1;
  };

  const addList = (given: readonly LayerSpec[], prefix: string, from: number): number => {
    const seen = new Set<string>();
    let current = from;
    // Names come from the positions as written, before any reordering.
    const named = given.map((layer, i) => ({ layer, local: layer.name ?? `${layer.type}${i}` }));
    (reorder ? reorderReluPool(named) : named).forEach(({ layer, local }) => {
      if (seen.has(local)) {
        throw new ShapeError(`${prefix}${local}`, layer.type, "duplicate layer name in this list");
      }
      seen.add(local);
      current = addLayer(layer, `${prefix}${local}`, current);
    });
    return current;
  };

  const addLayer = (layer: LayerSpec, name: string, from: number): number => {
    if (layer.type === "sequential" && "layers" in layer) {
      return addList(layer.layers, `${name}.`, from);
    }
    if (layer.type === "residual" && "layers" in layer) {
      const branch = addList(layer.layers, `${name}.`, from);
      const shortcut = layer.shortcut?.length
        ? addList(layer.shortcut, `${name}.shortcut.`, from)
        : from;
      return addOp("add", `${name}.add`, {}, [branch, shortcut]);
    }
    return addOp(layer.type, name, (layer as { config?: unknown }).config, [from]);
  };

  const output = addList(layers, "", GRAPH_INPUT);
  if (output === GRAPH_INPUT) throw new ShapeError("model", "model", "the model has no layers");
  const out = nodes[output].shape;
  if (out.length !== 1) {
    throw new ShapeError(
      nodes[output].name,
      nodes[output].kind.type,
      `the last layer must give flat logits [classes], got ${
        fmtShape(out)
      }; end with flatten + linear`,
    );
  }
  return { input: [...input], nodes, output };
}

/** Total number of trainable values. */
export function parameterCount(graph: Graph): number {
  let n = 0;
  for (const node of graph.nodes) {
    for (const p of node.params) n += p.shape.reduce((a, b) => a * b, 1);
  }
  return n;
}

/**
 * FLOPs of one training step of `node` alone at `batch`: its kind's own
 * count ({@link OpKind.flops}); an input gradient is computed for every input
 * but the graph input.
 */
export function nodeFlops(node: GraphNode, batch: number): number {
  return node.kind.flops(node.config, {
    batch,
    inputs: node.inputShapes,
    output: node.shape,
    inputGrads: node.inputs.map((src) => src !== GRAPH_INPUT),
  });
}

/**
 * FLOPs of one training step of every node of `graph` at `batch` (layers
 * only, not the loss). Fusion moves work between kernels but not the
 * mathematics, so this is the count of a fused plan and of an unfused one.
 */
export function stepFlops(graph: Graph, batch: number): number {
  return graph.nodes.reduce((sum, n) => sum + nodeFlops(n, batch), 0);
}
