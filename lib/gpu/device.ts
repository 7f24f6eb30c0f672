/**
 * Adapter and device acquisition.
 *
 * {@link acquireGpu} asks for the adapter's own limits (WebGPU's defaults are
 * far below what adapters offer), turns "no adapter" into a short actionable
 * error, and watches for device loss so later operations fail clearly.
 * @module
 */

import { envFlag } from "../util/env.ts";
import { DeviceLostError, GpuOperationError, GpuUnavailableError } from "./errors.ts";
import { PipelineCache } from "./pipelines.ts";
import { ensureRuntimeDir } from "./runtime_dir.ts";
import { preferVulkan } from "./backend_choice.ts";

/** What we know about the adapter, recorded with benchmarks and tuning caches. */
export interface AdapterIdentity {
  /** Human description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** Vendor id or name as reported. */
  vendor: string;
  /** Architecture string, often empty. */
  architecture: string;
  /** True for software or otherwise "fallback" adapters (llvmpipe, SwiftShader). */
  isFallbackAdapter: boolean;
  /** The native API under WebGPU, e.g. "Vulkan" or "GL" (see {@link inferBackend}); absent for devices passed in by users. */
  backend?: string;
  /** Stable key for caches: vendor, description, architecture and backend joined. */
  key: string;
}

/** Options for {@link acquireGpu}. */
export interface AcquireOptions {
  /** Prefer the high-performance or low-power adapter. Default high-performance. */
  powerPreference?: GPUPowerPreference;
  /** Ask for timestamp queries when the adapter has them. Default true. */
  timestamps?: boolean;
  /**
   * Behave as if WebGPU were missing. Default: the `ADABK_NO_WEBGPU`
   * switch. (Tests pass it explicitly: the environment is process-wide.)
   */
  simulateUnavailable?: boolean;
}

/** A device with its adapter facts, pipeline cache and loss tracking. */
export class Gpu {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter identity (for tuning caches and benchmark records). */
  readonly adapter: AdapterIdentity;
  /** The limits granted to the device (the adapter's own). */
  readonly limits: GPUSupportedLimits;
  /** True when `timestamp-query` was enabled on the device. */
  readonly hasTimestamps: boolean;
  /**
   * Compiled pipelines keyed by generated WGSL (the kernels' cache, not an API).
   * @ignore
   */
  readonly pipelines: PipelineCache;
  #lost: DeviceLostError | undefined;
  #uncaptured: string | undefined;
  #failure: Error | undefined;

  /** Wraps an existing device (e.g. one a user created for their own code). */
  constructor(device: GPUDevice, adapter: AdapterIdentity) {
    this.device = device;
    this.adapter = adapter;
    this.limits = device.limits;
    this.hasTimestamps = device.features.has("timestamp-query");
    this.pipelines = new PipelineCache(device);
    // WebGPU reports shader and validation errors asynchronously and skips
    // the offending work: remember the first one so the next check fails
    // loudly instead of training on stale buffers.
    device.addEventListener("uncapturederror", (ev) => {
      this.#uncaptured ??= (ev as GPUUncapturedErrorEvent).error.message;
    });
    device.lost.then((info) => {
      // "destroyed" is our own doing (dispose), not a failure to report.
      if (info.reason !== "destroyed") this.#lost = new DeviceLostError(info.reason, info.message);
      else this.#lost = new DeviceLostError("destroyed", "the device was disposed");
    });
  }

  /**
   * Throws {@link DeviceLostError} if the device has been lost, the failure
   * given to {@link reportFailure}, or {@link GpuOperationError} if WebGPU
   * reported an uncaptured error (an invalid shader or binding) since the
   * device was created.
   */
  checkAlive(): void {
    if (this.#lost) throw this.#lost;
    if (this.#failure) throw this.#failure;
    if (this.#uncaptured) throw new GpuOperationError("a GPU command", this.#uncaptured);
  }

  /**
   * Records a failure WebGPU reported to an error scope rather than as an
   * uncaptured error (e.g. a buffer that could not be allocated), so the next
   * {@link checkAlive} throws it; the first one recorded wins.
   */
  reportFailure(error: Error): void {
    this.#failure ??= error;
  }

  /** True once the device is lost or disposed. */
  get isLost(): boolean {
    return this.#lost !== undefined;
  }

  /**
   * Runs `fn` inside validation and out-of-memory error scopes and throws a
   * {@link GpuOperationError} naming `what` if WebGPU reports an error.
   */
  async guard<T>(what: string, fn: () => T): Promise<T> {
    this.checkAlive();
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    let result: T | undefined;
    let thrown: unknown;
    try {
      result = fn();
    } catch (e) {
      thrown = e;
    }
    // Both scopes are popped whatever happened, so they never leak.
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    if (thrown !== undefined) throw thrown;
    const err = validation ?? oom;
    if (err) throw new GpuOperationError(what, err.message);
    return result as T;
  }

  #release?: () => void;

  /**
   * Destroys the device when this program or worker unloads, unless it is
   * disposed first (devices left to native teardown at process exit crashed
   * it now and then). {@link acquireGpu} asks this of every device it makes.
   */
  releaseOnUnload(): void {
    if (this.#release) return;
    this.#release = () => this.device.destroy();
    globalThis.addEventListener("unload", this.#release, { once: true });
  }

  /** Destroys the device; every buffer made from it becomes invalid. */
  dispose(): void {
    if (this.#release) globalThis.removeEventListener("unload", this.#release);
    this.device.destroy();
  }
}

/**
 * The native API under WebGPU, as far as the adapter shows it (Deno does not
 * report it). wgpu's GL backend has no subgroups and reports the whole range
 * the WebGPU spec allows, 4 to 128; Vulkan, Metal and D3D12 report the
 * hardware's sizes (8 on llvmpipe, 32 on NVIDIA). Which of those three runs
 * follows from the operating system.
 */
export function inferBackend(
  info: { subgroupMinSize?: number; subgroupMaxSize?: number },
  os: string = Deno.build.os,
): string {
  if (info.subgroupMinSize === undefined || info.subgroupMaxSize === undefined) return "unknown";
  if (info.subgroupMinSize === 4 && info.subgroupMaxSize === 128) return "GL";
  if (os === "darwin" || os === "ios") return "Metal";
  if (os === "windows") return "Vulkan or D3D12";
  return "Vulkan";
}

/** One line for headers: "NVIDIA H200 via Vulkan", "llvmpipe (…) via GL (software adapter)". */
export function describeAdapter(a: AdapterIdentity): string {
  const via = a.backend ? ` via ${a.backend}` : "";
  return `${a.description}${via}${a.isFallbackAdapter ? " (software adapter)" : ""}`;
}

/** Reads the adapter's identity into a plain record. */
export function identify(adapter: GPUAdapter): AdapterIdentity {
  const info = adapter.info;
  const description = info.description || info.device || "unknown adapter";
  const vendor = info.vendor || "unknown";
  const architecture = info.architecture || "";
  // isFallbackAdapter moved from GPUAdapter to GPUAdapterInfo in newer specs.
  const fallback = Boolean(
    (info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
      (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  );
  const backend = inferBackend(info);
  return {
    description,
    vendor,
    architecture,
    isFallbackAdapter: fallback,
    backend,
    // The backend is part of the key: one adapter over GL and over Vulkan favours other variants.
    key: `${vendor}|${description}|${architecture}|${backend}`,
  };
}

/** Copies every numeric limit of the adapter, to be requested for the device. */
function adapterLimits(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  const limits = adapter.limits as unknown as Record<string, unknown>;
  // GPUSupportedLimits exposes getters on its prototype, not own properties.
  const proto = Object.getPrototypeOf(limits);
  for (const name of Object.getOwnPropertyNames(proto)) {
    const v = limits[name];
    if (typeof v === "number") out[name] = v;
  }
  return out;
}

/**
 * Obtains a device with the adapter's full limits.
 *
 * Throws {@link GpuUnavailableError} when WebGPU or an adapter is missing, or
 * when `ADABK_NO_WEBGPU=1` simulates that situation.
 */
export async function acquireGpu(options: AcquireOptions = {}): Promise<Gpu> {
  if (options.simulateUnavailable ?? envFlag("ADABK_NO_WEBGPU")) {
    throw new GpuUnavailableError("disabled by ADABK_NO_WEBGPU");
  }
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new GpuUnavailableError("navigator.gpu is missing in this runtime");
  // Before the first adapter request, which creates the WebGPU instance.
  await ensureRuntimeDir();
  const vulkanOnly = preferVulkan() !== undefined;
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({
      powerPreference: options.powerPreference ?? "high-performance",
    });
  } catch (e) {
    throw new GpuUnavailableError(`requestAdapter failed (${(e as Error).message})`);
  }
  if (!adapter) {
    throw new GpuUnavailableError(
      vulkanOnly
        ? "no GPU adapter was found through the installed Vulkan driver " +
          "(DENO_WEBGPU_BACKEND=gl tries OpenGL instead)"
        : "no GPU adapter was found",
    );
  }
  const wantTimestamps = options.timestamps ?? true;
  const requiredFeatures: GPUFeatureName[] = [];
  if (wantTimestamps && adapter.features.has("timestamp-query")) {
    requiredFeatures.push("timestamp-query");
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: adapterLimits(adapter),
    });
  } catch (e) {
    throw new GpuUnavailableError(`requestDevice failed (${(e as Error).message})`);
  }
  const acquired = new Gpu(device, identify(adapter));
  // Heap corruption at exit after `deno test --parallel` had passed every
  // test: 3 in 4 runs without this, 2 in 6 with it; serially, 3 in 29 still
  // did until Vulkan alone was initialised (preferVulkan above).
  acquired.releaseOnUnload();
  return acquired;
}
