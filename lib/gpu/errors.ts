/**
 * Errors the GPU layer raises for conditions a user can act on.
 *
 * Each carries a short message that says what happened and what to do; the
 * CLI prints `message` alone, without a stack trace.
 * @module
 */

/** No WebGPU adapter could be obtained (or the switch `ADABK_NO_WEBGPU` is set). */
export class GpuUnavailableError extends Error {
  /** Creates the error; `detail` says what was tried. */
  constructor(detail: string) {
    super(
      `WebGPU is not available: ${detail}. ` +
        "On Linux install Mesa's drivers (apt-get install mesa-vulkan-drivers libvulkan1) " +
        "or run on a machine with a GPU; Deno's WebGPU needs no flag.",
    );
    this.name = "GpuUnavailableError";
  }
}

/** The device was lost (driver reset, out of memory, destroyed) while in use. */
export class DeviceLostError extends Error {
  /** Creates the error from the reason WebGPU reported. */
  constructor(reason: string, message: string) {
    super(
      `the GPU device was lost (${reason}${message ? `: ${message}` : ""}); ` +
        "results since the last checkpoint are gone: restart the run (use --resume to continue).",
    );
    this.name = "DeviceLostError";
  }
}

/** A WebGPU validation or out-of-memory error caught around an operation. */
export class GpuOperationError extends Error {
  /** Creates the error naming the operation that failed. */
  constructor(what: string, message: string) {
    super(`${what} failed on the GPU: ${message}`);
    this.name = "GpuOperationError";
  }
}

/** Bytes for messages: `1.50 GiB (1,610,612,736 bytes)`. */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let k = 0;
  while (k + 1 < units.length && bytes >= 1024 ** (k + 1)) k++;
  const exact = `${bytes.toLocaleString("en")} bytes`;
  return k === 0 ? exact : `${(bytes / 1024 ** k).toFixed(2)} ${units[k]} (${exact})`;
}

/**
 * Memory a plan asks for cannot be had: a tensor larger than the adapter
 * allows in one buffer, or more than the device or host can allocate. The
 * message names the tensor (and the layer, where one owns it) and the bytes.
 */
export class AllocationError extends Error {
  /** Creates the error; `tensor` and `bytes` are what was asked for. */
  constructor(readonly tensor: string, readonly bytes: number, message: string) {
    super(message);
    this.name = "AllocationError";
  }
}
