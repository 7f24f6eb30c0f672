/**
 * The gradient tensors of a plan: one per node output, allocated from the
 * last node backwards. A value read by several consumers gets one part per
 * consumer (each consumer's backward writes its own), summed into the value's
 * gradient before its producer's backward runs; a single alias consumer
 * (flatten) shares its gradient's storage.
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Command } from "../gpu/commands.ts";
import { type BufferArena, reshape, type Tensor } from "../gpu/tensor.ts";
import { add } from "../kernels/elementwise/elementwise.ts";
import type { GraphNode } from "../graph/graph.ts";
import type { Consumer } from "./fusion.ts";

/** What {@link planGradients} needs to know of the graph. */
export interface GradientGraph {
  /** The nodes, in order. */
  nodes: readonly GraphNode[];
  /** The readers of each node's output. */
  consumers: readonly Consumer[][];
  /** Nodes whose output (and so gradient) no buffer holds (fusion). */
  hidden: ReadonlySet<number>;
  /** Whether a node's output is a view of its input (flatten, a fused ReLU). */
  isAlias: (n: GraphNode) => boolean;
  /** The batch size. */
  batch: number;
}

/** The gradients of a plan. */
export interface PlanGradients {
  /** Per node: the gradient of its output (undefined for hidden nodes). */
  grad: Tensor[];
  /** Per node and input slot: the tensor its backward writes that input's gradient to. */
  parts: (Tensor | undefined)[][];
  /** Per node: the commands summing its gradient's parts (run before its backward). */
  sums: Command[][];
}

/** Allocates every gradient tensor and part of `g` from `arena`. */
export function planGradients(gpu: Gpu, arena: BufferArena, g: GradientGraph): PlanGradients {
  const { nodes, consumers, hidden, isAlias, batch } = g;
  const grad: Tensor[] = [];
  const parts: (Tensor | undefined)[][] = nodes.map(() => []);
  const sums: Command[][] = nodes.map(() => []);
  for (let id = nodes.length - 1; id >= 0; id--) {
    const n = nodes[id];
    const users = consumers[id];
    if (hidden.has(id)) continue;
    const shape = [batch, ...n.shape];
    if (users.length <= 1) {
      const user = users[0] && nodes[users[0].node];
      grad[id] = user && isAlias(user)
        ? reshape(grad[user.id], shape, `${n.name}.grad`)
        : arena.tensor(`${n.name}.grad`, shape);
      if (users[0]) parts[users[0].node][users[0].slot] = grad[id];
    } else {
      grad[id] = arena.tensor(`${n.name}.grad`, shape);
      const pieces = users.map((u, i) => {
        const t = arena.tensor(`${n.name}.grad.part${i}`, shape);
        parts[u.node][u.slot] = t;
        return t;
      });
      sums[id].push(...add(gpu, { x: pieces[0], y: pieces[1], out: grad[id] }));
      for (const extra of pieces.slice(2)) {
        sums[id].push(...add(gpu, { x: grad[id], y: extra, out: grad[id] }));
      }
    }
  }
  return { grad, parts, sums };
}
