/**
 * Float64 forward pass of a whole compiled graph, composed from the
 * per-op references, ending in the mean softmax cross-entropy. Used to
 * check the plan's backward pass by finite differences end to end.
 * @module
 */

import type { Graph } from "../../lib/graph/graph.ts";
import { GRAPH_INPUT } from "../../lib/graph/graph.ts";
import type { Conv2dConfig } from "../../lib/ops/conv2d.ts";
import { conv2dGeometry } from "../../lib/ops/conv2d.ts";
import { type Pool2dConfig, pool2dGeometry } from "../../lib/ops/pool.ts";
import { streamOf } from "../../lib/ops/init.ts";
import { conv2dRef } from "./conv.ts";
import { batchNormTrainRef } from "./batchnorm.ts";
import { unaryRef } from "./elementwise.ts";
import { avgPoolRef, globalAvgPoolRef, maxPoolRef } from "./pool.ts";
import { dropoutApplyRef, dropoutMaskRef } from "./dropout.ts";
import { softmaxCrossEntropyRef } from "./loss.ts";

/** Mean loss of `graph` on (x, labels) with parameters by full name. */
export function netLoss(
  graph: Graph,
  params: Map<string, Float64Array>,
  x: Float64Array,
  labels: ArrayLike<number>,
  batch: number,
  dropoutSeed: number,
): number {
  const values: Float64Array[] = [];
  const valueOf = (id: number) => (id === GRAPH_INPUT ? x : values[id]);
  const shapeOf = (id: number) => (id === GRAPH_INPUT ? graph.input : graph.nodes[id].shape);
  for (const n of graph.nodes) {
    const xin = valueOf(n.inputs[0]);
    const inShape = shapeOf(n.inputs[0]);
    const p = (local: string) => params.get(`${n.name}.${local}`)!;
    let y: Float64Array;
    switch (n.kind.type) {
      case "linear": {
        const out = n.shape[0], inF = inShape[0];
        const w = p("weight"), b = params.get(`${n.name}.bias`);
        y = new Float64Array(batch * out);
        for (let r = 0; r < batch; r++) {
          for (let o = 0; o < out; o++) {
            let s = b ? b[o] : 0;
            for (let i = 0; i < inF; i++) s += xin[r * inF + i] * w[o * inF + i];
            y[r * out + o] = s;
          }
        }
        break;
      }
      case "conv2d": {
        const g = conv2dGeometry(n.config as Conv2dConfig, inShape, batch);
        y = conv2dRef(g, xin, p("weight"), params.get(`${n.name}.bias`));
        break;
      }
      case "batchnorm2d": {
        const C = inShape[inShape.length - 1];
        const rows = xin.length / C;
        const cfg = n.config as { eps: number; momentum: number };
        const zeros = new Float64Array(C), ones = new Float64Array(C).fill(1);
        y = batchNormTrainRef(
          xin,
          rows,
          C,
          p("weight"),
          p("bias"),
          cfg.eps,
          cfg.momentum,
          zeros,
          ones,
        ).y;
        break;
      }
      case "relu":
      case "gelu":
      case "tanh":
      case "sigmoid":
        y = unaryRef(n.kind.type, xin);
        break;
      case "maxpool2d":
      case "avgpool2d": {
        const g = pool2dGeometry(n.config as Pool2dConfig, inShape, batch);
        y = n.kind.type === "maxpool2d" ? maxPoolRef(g, xin).y : avgPoolRef(g, xin);
        break;
      }
      case "global_avg_pool":
        y = globalAvgPoolRef(batch, inShape[0], inShape[1], inShape[2], xin);
        break;
      case "flatten":
        y = xin;
        break;
      case "dropout": {
        const pr = (n.config as { p: number }).p;
        y = dropoutApplyRef(xin, dropoutMaskRef(dropoutSeed, streamOf(n.name), xin.length, pr), pr);
        break;
      }
      case "add": {
        const other = valueOf(n.inputs[1]);
        y = xin.map((v, i) => v + other[i]);
        break;
      }
      default:
        throw new Error(`netLoss: no reference for ${n.kind.type}`);
    }
    values[n.id] = y;
  }
  const logits = values[graph.output];
  const classes = graph.nodes[graph.output].shape[0];
  return softmaxCrossEntropyRef(logits, labels, batch, classes).meanLoss;
}
