/**
 * What a plan asks of memory, checked before it is asked: every tensor of
 * the graph against the device's per-buffer limits, and the host arrays of
 * initial values, so that an absurd layer (a linear layer with 2³¹ outputs)
 * is refused with its name and the bytes it needs instead of failing inside
 * WebGPU or the JavaScript engine.
 * @module
 */

import { AllocationError, formatBytes } from "../gpu/errors.ts";
import { maxTensorBytes, shapeStr, tensorBytes, tensorLimitText } from "../gpu/tensor.ts";
import type { Graph, GraphNode } from "../graph/graph.ts";
import { initialValues } from "../ops/init.ts";
import type { ParamSpec } from "../ops/types.ts";

/** How a layer is named in messages: `layer "fc" (linear)`. */
function layerLabel(node: GraphNode): string {
  return `layer "${node.name}" (${node.kind.type})`;
}

/**
 * Throws {@link AllocationError} naming the layer, the tensor and its bytes
 * when the input batch, a layer's output batch or a parameter is larger than
 * the device allows in one buffer.
 */
export function checkPlanSizes(graph: Graph, batch: number, limits: GPUSupportedLimits): void {
  const max = maxTensorBytes(limits);
  const check = (owner: string, what: string, name: string, shape: number[], fix: string) => {
    const bytes = tensorBytes(shape);
    if (bytes > max) {
      throw new AllocationError(
        name,
        bytes,
        `${owner}: ${what} ${shapeStr(shape)} needs ${formatBytes(bytes)}; ${
          tensorLimitText(limits)
        }: ${fix}`,
      );
    }
  };
  check("the model input", "a batch", "input", [batch, ...graph.input], "lower data.batch_size");
  for (const n of graph.nodes) {
    const owner = layerLabel(n);
    const fix = "make the layer smaller";
    check(
      owner,
      "its output for a batch",
      `${n.name}.out`,
      [batch, ...n.shape],
      `${fix} or lower data.batch_size`,
    );
    for (const p of n.params) check(owner, `its ${p.local}`, p.name, p.shape, fix);
  }
}

/**
 * The initial values of a parameter of `node`; a host allocation that fails
 * becomes an {@link AllocationError} naming the layer, parameter and bytes.
 */
export function initialParamValues(
  node: GraphNode,
  spec: ParamSpec & { name: string },
  size: number,
  seed: number,
): Float32Array {
  try {
    return initialValues(spec.init, size, seed, spec.name);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new AllocationError(
      spec.name,
      size * 4,
      `${layerLabel(node)}: cannot allocate ${
        formatBytes(size * 4)
      } of host memory for the initial values of "${spec.name}" (${e.message})`,
    );
  }
}
