/**
 * The GPU layer: devices, tensors, textures, recorded commands, timing.
 * @module
 */
export * from "./device.ts";
export * from "./errors.ts";
export * from "./pipelines.ts";
export * from "./tensor.ts";
export * from "./transfer.ts";
export * from "./texture.ts";
export * from "./commands.ts";
export * from "./uniforms.ts";
export * from "./timing.ts";
export * from "./gpu_clock.ts";
export * from "./stage.ts";
