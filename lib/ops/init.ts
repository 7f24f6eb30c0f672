/**
 * Seeded parameter initialisation.
 *
 * Each parameter draws from its own counter stream, derived from the run seed
 * and the parameter's stable name, so adding a layer never changes the
 * initial values of the others.
 * @module
 */

import { mix32, Rng } from "../util/rng.ts";

/** How a parameter's initial values are drawn. */
export type InitRule =
  | { kind: "zeros" }
  | { kind: "ones" }
  | { kind: "constant"; value: number }
  /** PyTorch's default for Linear/Conv weights: U(−b, b), b = 1/√fan_in (kaiming_uniform, a = √5). */
  | { kind: "torch_default"; fanIn: number }
  /** He/Kaiming normal for ReLU nets: N(0, 2/fan_in). */
  | { kind: "kaiming_normal"; fanIn: number }
  /** He/Kaiming uniform: U(−b, b), b = √(6/fan_in). */
  | { kind: "kaiming_uniform"; fanIn: number }
  /** Glorot/Xavier uniform: U(−b, b), b = √(6/(fan_in + fan_out)). */
  | { kind: "xavier_uniform"; fanIn: number; fanOut: number };

/** Stable 32-bit stream id for a parameter name (FNV-1a, then mixed). */
export function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return mix32(h);
}

/** Draws `count` initial values for the parameter `name` under `seed`. */
export function initialValues(
  rule: InitRule,
  count: number,
  seed: number,
  name: string,
): Float32Array {
  const out = new Float32Array(count);
  const rng = new Rng(seed >>> 0, streamOf(name));
  const uniform = (b: number) => {
    for (let i = 0; i < count; i++) out[i] = (2 * rng.next() - 1) * b;
  };
  switch (rule.kind) {
    case "zeros":
      break;
    case "ones":
      out.fill(1);
      break;
    case "constant":
      out.fill(rule.value);
      break;
    case "torch_default":
      uniform(1 / Math.sqrt(rule.fanIn));
      break;
    case "kaiming_uniform":
      uniform(Math.sqrt(6 / rule.fanIn));
      break;
    case "xavier_uniform":
      uniform(Math.sqrt(6 / (rule.fanIn + rule.fanOut)));
      break;
    case "kaiming_normal": {
      const std = Math.sqrt(2 / rule.fanIn);
      for (let i = 0; i < count; i++) out[i] = rng.normal() * std;
      break;
    }
  }
  return out;
}
