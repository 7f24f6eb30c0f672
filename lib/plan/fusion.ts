/**
 * Fusion across ops: which nodes of a graph the plan runs inside others.
 * Each rule is a capability an op kind declares, never a pair of kinds
 * named here:
 * - `OpKind.fusesRelu`: a ReLU that alone reads an op's output runs inside
 *   that op (built with `relu: true`); the ReLU records nothing and its
 *   output is a view of the op's.
 * - `OpKind.absorbs`: an op runs the consumer that alone reads its output
 *   (directly, or through a ReLU fused into it) inside its own kernels (built
 *   with `io.absorbed`); the consumer records nothing, and neither the op's
 *   own output nor its gradient (nor the fused ReLU's) exists in a buffer.
 *   A consumer with a second input (the residual add) is offered only when
 *   it reads the op's output directly and its other input is ready when the
 *   op runs (the graph input or an earlier node: of two batch norms feeding
 *   an add, the later one absorbs it); the op then writes the consumer's
 *   gradient for that input into the plan's tensor for it.
 * Every fusion gives the results of the separate ops (rounding aside).
 * @module
 */

import { GRAPH_INPUT, type GraphNode } from "../graph/graph.ts";
import type { AbsorbableConsumer } from "../ops/types.ts";

/** A reader of a value: the node and which of its inputs the value is. */
export interface Consumer {
  /** Reading node. */
  node: number;
  /** Its input slot. */
  slot: number;
}

/** A consumer that an op runs, as offered to it, with its name and node id. */
export interface Absorption extends AbsorbableConsumer {
  /** The consumer's full layer name. */
  name: string;
  /** Its node id. */
  id: number;
}

/** The fusion decisions of a plan. */
export interface Fusion {
  /** ReLU nodes run by their producer. */
  relus: Set<number>;
  /** Absorbing node → the consumer it runs. */
  absorbed: Map<number, Absorption>;
  /** Absorbed consumer nodes (they record nothing). */
  absorbedNodes: Set<number>;
  /** Nodes whose output (and gradient) no buffer holds. */
  hidden: Set<number>;
  /**
   * Per node: the node whose kernels run it (a fused ReLU's producer, an
   * absorbed consumer's absorber, followed to the end), or undefined.
   */
  hosts: (number | undefined)[];
  /** The configuration a node is built with (its own, plus `relu` when it runs its ReLU). */
  configOf(n: GraphNode): unknown;
}

/** The fusions of `nodes` (none when `enabled` is false). */
export function planFusion(
  nodes: readonly GraphNode[],
  consumers: readonly Consumer[][],
  enabled: boolean,
): Fusion {
  const relus = enabled ? fusedRelus(nodes, consumers) : new Set<number>();
  const configOf = (n: GraphNode) =>
    consumers[n.id].length === 1 && relus.has(consumers[n.id][0].node)
      ? { ...(n.config as object), relu: true }
      : n.config;
  const absorbed = new Map<number, Absorption>();
  const absorbedNodes = new Set<number>();
  const hidden = new Set<number>();
  for (const n of enabled ? nodes : []) {
    // An absorbed node runs inside another op: it cannot run a third.
    if (!n.kind.absorbs || absorbedNodes.has(n.id)) continue;
    const path = [n.id];
    let readers = consumers[n.id];
    if (readers.length === 1 && relus.has(readers[0].node)) {
      path.push(readers[0].node);
      readers = consumers[readers[0].node];
    }
    if (readers.length !== 1 || absorbedNodes.has(readers[0].node)) continue;
    const q = nodes[readers[0].node];
    const { slot } = readers[0];
    // Another input must be ready when this op runs; a ReLU between would
    // need its own mask in the absorbing kernels (not offered).
    const othersReady = q.inputs.every((src, i) => i === slot || src === GRAPH_INPUT || src < n.id);
    if (q.kind.arity !== 1 && (path.length > 1 || !othersReady)) continue;
    const offer = {
      type: q.kind.type,
      config: configOf(q),
      inputShape: n.shape,
      slot,
    };
    if (!n.kind.absorbs(offer)) continue;
    absorbed.set(n.id, { ...offer, name: q.name, id: q.id });
    absorbedNodes.add(q.id);
    for (const id of path) hidden.add(id);
  }
  const runBy = new Map<number, number>();
  for (const r of relus) runBy.set(r, nodes[r].inputs[0]);
  for (const [absorber, q] of absorbed) runBy.set(q.id, absorber);
  const hosts = nodes.map((n) => {
    let host = runBy.get(n.id);
    while (host !== undefined && runBy.has(host)) host = runBy.get(host);
    return host;
  });
  return { relus, absorbed, absorbedNodes, hidden, hosts, configOf };
}

/**
 * Ids of the ReLU nodes the op before them can run: the producer supports it
 * (`OpKind.fusesRelu`) and the ReLU is its only reader.
 */
function fusedRelus(nodes: readonly GraphNode[], consumers: readonly Consumer[][]): Set<number> {
  const out = new Set<number>();
  for (const n of nodes) {
    const src = n.inputs[0];
    if (n.kind.type !== "relu" || src === GRAPH_INPUT) continue;
    const producer = nodes[src];
    if (producer.kind.fusesRelu && consumers[src].length === 1) out.add(n.id);
  }
  return out;
}
