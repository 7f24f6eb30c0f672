/**
 * The npm packages of the TensorFlow.js WebGPU peer that the benchmarks
 * compare with. They are imported at run time through these strings, not
 * through literal specifiers: a literal import would put TensorFlow.js (about
 * 300 MB with its dependencies) into the module graph, and the download, of
 * every script that shares the bench harness (profile, tests). Only
 * deno.full.lock pins them; scripts/lockfiles.ts adds them from this list.
 * @module
 */

/** TensorFlow.js (the union package: tfjs-core alone registers no gradients). */
export const TFJS = "npm:@tensorflow/tfjs@4.22.0";
/** Its WebGPU backend. */
export const TFJS_WEBGPU = "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
/** Both, for the lockfile generator. */
export const PEER_PACKAGES: readonly string[] = [TFJS, TFJS_WEBGPU];
