/**
 * Elementwise kernels (activations and their gradients, add, axpy, scale,
 * fill, per-column bias) and the map-kernel machinery they share with batch
 * norm and dropout; one module per concern, re-exported here.
 *
 * One invocation handles one element, or one `vec4` of elements when every
 * operand's length is a multiple of 4: on llvmpipe a vec4 store costs about as
 * much as a scalar one (measured 0.87 vs 0.26 G floats/s for store-only
 * kernels), and real GPUs like wide accesses too. Loads cost the same per
 * float either way there, so these kernels stay memory-bound at roughly
 * 0.2 G elements/s on llvmpipe.
 *
 * Operands that share storage are bound once: `out` may be `x` for every
 * builder here (each invocation reads its own elements before writing them),
 * and partially overlapping operands are rejected with a RangeError.
 * @module
 */

export * from "./operands.ts";
export * from "./map.ts";
export * from "./activation.ts";
export * from "./arithmetic.ts";
