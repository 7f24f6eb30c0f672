/**
 * Global average pooling over NHWC activations: y[n, c] = mean over h, w,
 * forward and backward (one invocation per output or input element).
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import type { Command } from "../../gpu/commands.ts";
import { prologue, run } from "./common.ts";
import { expectShape } from "../conv/geometry.ts";

/** Sizes of a global average pool. */
export interface GlobalPoolSizes {
  /** Images. */
  batch: number;
  /** Height. */
  h: number;
  /** Width. */
  w: number;
  /** Channels. */
  channels: number;
}

function checkGlobal(what: string, a: GlobalPoolSizes): void {
  for (const k of ["batch", "h", "w", "channels"] as const) {
    if (!Number.isInteger(a[k]) || a[k] < 1) {
      throw new RangeError(`${what}: ${k} must be a positive integer, got ${a[k]}`);
    }
  }
}

/** WGSL of the global average pool forward (one invocation per (n, c)). */
export function globalAvgPoolForwardWgsl(a: GlobalPoolSizes): string {
  return `// global avg pool forward
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
${prologue(a.batch * a.channels)}
  let c = t % ${a.channels}u;
  let base = (t / ${a.channels}u) * ${a.h * a.w * a.channels}u + c;
  var s = 0.0;
  for (var p = 0u; p < ${a.h * a.w}u; p++) {
    s += x[base + p * ${a.channels}u];
  }
  y[t] = s / ${a.h * a.w}.0;
}
`;
}

/** WGSL of the global average pool backward (one invocation per input element). */
export function globalAvgPoolBackwardWgsl(a: GlobalPoolSizes): string {
  return `// global avg pool backward
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
${prologue(a.batch * a.h * a.w * a.channels)}
  let c = t % ${a.channels}u;
  let n = t / ${a.h * a.w * a.channels}u;
  dx[t] = dy[n * ${a.channels}u + c] / ${a.h * a.w}.0;
}
`;
}

/** Global average pool: y[n, c] = mean over h, w of x[n, ·, ·, c]; y is [N, C]. */
export function globalAvgPoolForward(
  gpu: Gpu,
  a: GlobalPoolSizes & { x: Tensor; y: Tensor },
): Command[] {
  checkGlobal("globalAvgPoolForward", a);
  expectShape("globalAvgPoolForward", "x", a.x, [a.batch, a.h, a.w, a.channels]);
  expectShape("globalAvgPoolForward", "y", a.y, [a.batch, a.channels]);
  return run(gpu, "gap_fwd", globalAvgPoolForwardWgsl(a), [a.x, a.y], a.y.size);
}

/** Global average pool gradient: dx[n, h, w, c] = dy[n, c] / (h·w); overwrites dx. */
export function globalAvgPoolBackward(
  gpu: Gpu,
  a: GlobalPoolSizes & { dy: Tensor; dx: Tensor },
): Command[] {
  checkGlobal("globalAvgPoolBackward", a);
  expectShape("globalAvgPoolBackward", "dy", a.dy, [a.batch, a.channels]);
  expectShape("globalAvgPoolBackward", "dx", a.dx, [a.batch, a.h, a.w, a.channels]);
  return run(gpu, "gap_bwd", globalAvgPoolBackwardWgsl(a), [a.dy, a.dx], a.dx.size);
}
