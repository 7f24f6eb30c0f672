/**
 * Flatten: [H, W, C] → [H·W·C] (channels-last order, unlike PyTorch's NCHW
 * flatten). The plan aliases the storage, so it costs nothing.
 * @module
 */

import type { OpKind } from "./types.ts";

/** The Flatten op kind. */
export const flattenOp: OpKind<Record<string, never>> = {
  type: "flatten",
  arity: 1,
  alias: true,
  outputShape: (_cfg, [input]) => [input.reduce((a, b) => a * b, 1)],
  paramSpecs: () => [],
  flops: () => 0,
  build: () => ({ forward: [], evalForward: [], backward: [], state: [] }),
};
