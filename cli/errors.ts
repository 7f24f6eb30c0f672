/**
 * Which errors are the user's to fix (printed as one message, no stack
 * trace) and which are bugs (printed with their stack).
 * @module
 */

import { SpecError } from "../dsl/errors.ts";
import { ShapeError } from "../lib/ops/types.ts";
import {
  AllocationError,
  DeviceLostError,
  GpuOperationError,
  GpuUnavailableError,
} from "../lib/gpu/errors.ts";
import { DataError } from "../lib/data/errors.ts";
import { TrainingDivergedError } from "../lib/train/trainer.ts";
import { SafetensorsError } from "../lib/train/safetensors.ts";
import { ReportError } from "../lib/report/errors.ts";
import { RunDirError } from "../lib/train/run_dir.ts";

/** Errors whose message is the whole story. */
const USER_ERRORS = [
  SpecError,
  ShapeError,
  GpuUnavailableError,
  DeviceLostError,
  GpuOperationError,
  AllocationError,
  DataError,
  TrainingDivergedError,
  SafetensorsError,
  ReportError,
  RunDirError,
  RangeError,
];

/** Formats an error for the terminal: message alone for user errors. */
export function describeError(e: unknown): { text: string; user: boolean } {
  if (USER_ERRORS.some((cls) => e instanceof cls)) {
    return { text: (e as Error).message, user: true };
  }
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    return { text: `missing permission: ${(e as Error).message}`, user: true };
  }
  if (e instanceof Error) return { text: e.stack ?? e.message, user: false };
  return { text: String(e), user: false };
}
