/**
 * The CUDA driver API (libcuda.so.1) through koffi, loaded at run time: only the calls the
 * backend makes, each checked. Handles (contexts, modules, functions, streams, graphs) are
 * koffi pointers (bigint); device pointers are CUdeviceptr (uint64, bigint here).
 *
 * Symbols are the versioned ones the toolkit's headers map to (cuMemAlloc_v2, ...), so that
 * the calls bind to the same ABI as a program built against cuda.h. The context is the
 * device's primary context (cuDevicePrimaryCtxRetain), whose signature has not changed since
 * CUDA 7, unlike cuCtxCreate (changed again in CUDA 13).
 */
import { BackendUnavailableError } from '../webgpu/backend.js';
import { driverLibraries } from './find.js';

type Koffi = typeof import('koffi').default;
type Fn = (...args: unknown[]) => unknown;

/** A handle: an opaque pointer as koffi hands it over. */
export type Handle = bigint;

/** CUresult values the backend tells apart. */
export const CU = {
  SUCCESS: 0,
  ERROR_INVALID_VALUE: 1,
  ERROR_OUT_OF_MEMORY: 2,
  ERROR_NOT_INITIALIZED: 3,
  ERROR_STUB_LIBRARY: 34,
  ERROR_INSUFFICIENT_DRIVER: 35,
  ERROR_DEVICE_UNAVAILABLE: 46,
  ERROR_NO_DEVICE: 100,
  ERROR_INVALID_DEVICE: 101,
  ERROR_NO_BINARY_FOR_GPU: 209,
  ERROR_UNSUPPORTED_PTX_VERSION: 222,
  ERROR_INVALID_IMAGE: 200,
  ERROR_INVALID_PTX: 218,
  ERROR_JIT_COMPILER_NOT_FOUND: 221,
  ERROR_NOT_SUPPORTED: 801,
  ERROR_SYSTEM_DRIVER_MISMATCH: 803,
  ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE: 804,
} as const;

/** CUdevice_attribute values used here. */
const ATTRIBUTE = {
  COMPUTE_CAPABILITY_MAJOR: 75,
  COMPUTE_CAPABILITY_MINOR: 76,
  MULTIPROCESSOR_COUNT: 16,
} as const;

/** CUstreamCaptureMode: only this thread's calls are checked during a capture. */
const CAPTURE_MODE_THREAD_LOCAL = 1;

/** A failed driver call: the call, the CUresult and its name. */
export class CudaError extends Error {
  override readonly name = 'CudaError';
  constructor(
    readonly call: string,
    readonly code: number,
    readonly errorName: string,
  ) {
    super(`${call} failed: ${errorName} (${code})`);
  }
}

/** koffi, loaded on first use: its native module is only needed by the CUDA backend. */
export async function loadKoffi(): Promise<Koffi> {
  try {
    return (await import('koffi')).default;
  } catch (error) {
    throw new BackendUnavailableError(
      `CUDA backend unavailable: the koffi FFI module cannot be loaded (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/** What `openDriver` found: the device and its compute capability. */
export interface DeviceInfo {
  readonly ordinal: number;
  readonly device: number;
  readonly name: string;
  /** Compute capability as a number: 9.0 -> 90. */
  readonly arch: number;
  readonly multiprocessors: number;
  readonly totalMemory: number;
  /** The driver's CUDA version, 13000 for 13.0. */
  readonly driverVersion: number;
}

/** The driver library with the calls the backend makes. */
export class CudaDriver {
  private readonly fns = new Map<string, Fn>();
  /** False when the driver lacks the graph calls (CUDA < 11.4): the backend launches directly. */
  readonly hasGraphs: boolean;

  private constructor(
    readonly koffi: Koffi,
    lib: ReturnType<Koffi['load']>,
  ) {
    for (const prototype of REQUIRED) this.fns.set(nameOf(prototype), lib.func(prototype) as Fn);
    let graphs = true;
    for (const prototype of GRAPH_CALLS) {
      try {
        this.fns.set(nameOf(prototype), lib.func(prototype) as Fn);
      } catch {
        graphs = false;
      }
    }
    this.hasGraphs = graphs;
    try {
      this.fns.set(
        'cuGetErrorName',
        lib.func('int cuGetErrorName(int error, _Out_ const char **pStr)') as Fn,
      );
    } catch {
      // Names are then printed as numbers.
    }
  }

  /**
   * Loads libcuda.so.1 through the dynamic loader and binds the calls. Throws
   * BackendUnavailableError when the library is not there (no NVIDIA driver).
   */
  static load(koffi: Koffi, env: NodeJS.ProcessEnv = process.env): CudaDriver {
    const names = driverLibraries(env);
    for (const name of names) {
      let lib: ReturnType<Koffi['load']>;
      try {
        lib = koffi.load(name);
      } catch {
        continue;
      }
      try {
        return new CudaDriver(koffi, lib);
      } catch (error) {
        throw new BackendUnavailableError(
          `CUDA backend unavailable: ${name} lacks a driver API call (${error instanceof Error ? error.message : String(error)}); the NVIDIA driver is too old`,
        );
      }
    }
    throw new BackendUnavailableError(
      names[0] === 'libcuda.so.1'
        ? 'CUDA backend unavailable: libcuda.so.1 not found (no NVIDIA driver)'
        : `CUDA backend unavailable: ${names[0]} (SPIKEFORGE_LIBCUDA) cannot be loaded`,
    );
  }

  /** The name of a CUresult, e.g. CUDA_ERROR_NO_DEVICE. */
  errorName(code: number): string {
    const f = this.fns.get('cuGetErrorName');
    if (f !== undefined) {
      const out: (string | null)[] = [null];
      if (f(code, out) === CU.SUCCESS && typeof out[0] === 'string') return out[0];
    }
    return `CUresult ${code}`;
  }

  private call(name: string, ...args: unknown[]): number {
    const f = this.fns.get(name);
    if (f === undefined) throw new CudaError(name, CU.ERROR_NOT_SUPPORTED, 'not in this driver');
    return f(...args) as number;
  }

  /** Calls and throws a CudaError unless it returned CUDA_SUCCESS. */
  check(name: string, ...args: unknown[]): void {
    const code = this.call(name, ...args);
    if (code !== CU.SUCCESS) throw new CudaError(name, code, this.errorName(code));
  }

  /**
   * cuInit and the device: throws BackendUnavailableError, with one sentence, when there is no
   * usable device (no device, a stub library, a driver too old for the library).
   */
  openDevice(ordinal: number): DeviceInfo {
    const init = this.call('cuInit', 0);
    if (init !== CU.SUCCESS)
      throw new BackendUnavailableError(
        `CUDA backend unavailable: ${initFailure(init, this.errorName(init))}`,
      );
    const count = [0];
    this.check('cuDeviceGetCount', count);
    if ((count[0] ?? 0) === 0)
      throw new BackendUnavailableError('CUDA backend unavailable: no CUDA device');
    if (ordinal >= count[0]!)
      throw new BackendUnavailableError(
        `CUDA backend unavailable: no CUDA device ${ordinal} (${count[0]} found)`,
      );
    const device = [0];
    this.check('cuDeviceGet', device, ordinal);
    const dev = device[0]!;
    const name = Buffer.alloc(256);
    this.check('cuDeviceGetName', name, name.length, dev);
    const attribute = (a: number): number => {
      const out = [0];
      this.check('cuDeviceGetAttribute', out, a, dev);
      return out[0]!;
    };
    const memory = [0];
    this.check('cuDeviceTotalMem_v2', memory, dev);
    const version = [0];
    this.check('cuDriverGetVersion', version);
    return {
      ordinal,
      device: dev,
      name: name.toString('utf8', 0, Math.max(0, name.indexOf(0))),
      arch:
        attribute(ATTRIBUTE.COMPUTE_CAPABILITY_MAJOR) * 10 +
        attribute(ATTRIBUTE.COMPUTE_CAPABILITY_MINOR),
      multiprocessors: attribute(ATTRIBUTE.MULTIPROCESSOR_COUNT),
      totalMemory: Number(memory[0]),
      driverVersion: version[0]!,
    };
  }

  /** Retains the device's primary context and makes it current. */
  retainPrimaryContext(device: number): Handle {
    const ctx: (Handle | null)[] = [null];
    const code = this.call('cuDevicePrimaryCtxRetain', ctx, device);
    if (code !== CU.SUCCESS)
      throw new BackendUnavailableError(
        `CUDA backend unavailable: the GPU cannot be used (${this.errorName(code)})`,
      );
    this.check('cuCtxSetCurrent', ctx[0]);
    return ctx[0]!;
  }

  releasePrimaryContext(device: number): void {
    this.call('cuDevicePrimaryCtxRelease_v2', device);
  }

  setCurrent(ctx: Handle): void {
    this.check('cuCtxSetCurrent', ctx);
  }

  /** cuModuleLoadData; returns the CUresult instead of throwing, so that the caller can try another image. */
  loadModule(image: Buffer): { module?: Handle; code: number } {
    const out: (Handle | null)[] = [null];
    const code = this.call('cuModuleLoadData', out, image);
    return code === CU.SUCCESS ? { module: out[0]!, code } : { code };
  }

  unloadModule(module: Handle): void {
    this.call('cuModuleUnload', module);
  }

  getFunction(module: Handle, name: string): Handle {
    const out: (Handle | null)[] = [null];
    this.check('cuModuleGetFunction', out, module, name);
    return out[0]!;
  }

  /** cuMemAlloc; an out-of-memory is a BackendUnavailableError (auto then tries the next backend). */
  alloc(bytes: number): bigint {
    const out: (number | bigint)[] = [0];
    const code = this.call('cuMemAlloc_v2', out, Math.max(4, bytes));
    if (code === CU.ERROR_OUT_OF_MEMORY)
      throw new BackendUnavailableError(
        `CUDA backend unavailable: not enough GPU memory for a buffer of ${bytes} bytes`,
      );
    if (code !== CU.SUCCESS) throw new CudaError('cuMemAlloc_v2', code, this.errorName(code));
    return BigInt(out[0]!);
  }

  free(pointer: bigint): void {
    this.call('cuMemFree_v2', pointer);
  }

  copyToDevice(dst: bigint, src: ArrayBufferView): void {
    if (src.byteLength > 0) this.check('cuMemcpyHtoD_v2', dst, src, src.byteLength);
  }

  copyToHost(dst: ArrayBufferView, src: bigint): void {
    if (dst.byteLength > 0) this.check('cuMemcpyDtoH_v2', dst, src, dst.byteLength);
  }

  fill32(dst: bigint, value: number, count: number): void {
    if (count > 0) this.check('cuMemsetD32_v2', dst, value >>> 0, count);
  }

  fill32Async(dst: bigint, value: number, count: number, stream: Handle): void {
    this.check('cuMemsetD32Async', dst, value >>> 0, count, stream);
  }

  /** Queues a copy of `bytes` between two device buffers on `stream`. */
  copyOnDeviceAsync(dst: bigint, src: bigint, bytes: number, stream: Handle): void {
    this.check('cuMemcpyDtoDAsync_v2', dst, src, bytes, stream);
  }

  createEvent(): Handle {
    const out: (Handle | null)[] = [null];
    this.check('cuEventCreate', out, 0);
    return out[0]!;
  }

  recordEvent(event: Handle, stream: Handle): void {
    this.check('cuEventRecord', event, stream);
  }

  /** Seconds of GPU time between two recorded events (waits for `end`). */
  elapsedSeconds(start: Handle, end: Handle): number {
    this.check('cuEventSynchronize', end);
    const ms: number[] = [0];
    this.check('cuEventElapsedTime', ms, start, end);
    return ms[0]! / 1000;
  }

  destroyEvent(event: Handle): void {
    this.call('cuEventDestroy_v2', event);
  }

  /** Free and total device memory in bytes. */
  memoryInfo(): { free: number; total: number } {
    const free: (number | bigint)[] = [0];
    const total: (number | bigint)[] = [0];
    this.check('cuMemGetInfo_v2', free, total);
    return { free: Number(free[0]), total: Number(total[0]) };
  }

  createStream(): Handle {
    const out: (Handle | null)[] = [null];
    this.check('cuStreamCreate', out, 0);
    return out[0]!;
  }

  destroyStream(stream: Handle): void {
    this.call('cuStreamDestroy_v2', stream);
  }

  synchronize(stream: Handle): void {
    this.check('cuStreamSynchronize', stream);
  }

  /** cuLaunchKernel with a 1-D grid; `params` points at the array of pointers to the arguments. */
  launch(fn: Handle, blocks: number, threads: number, stream: Handle, params: bigint): void {
    const code = this.call(
      'cuLaunchKernel',
      fn,
      blocks,
      1,
      1,
      threads,
      1,
      1,
      0,
      stream,
      params,
      null,
    ) as number;
    if (code !== CU.SUCCESS) throw new CudaError('cuLaunchKernel', code, this.errorName(code));
  }

  beginCapture(stream: Handle): void {
    this.check('cuStreamBeginCapture_v2', stream, CAPTURE_MODE_THREAD_LOCAL);
  }

  endCapture(stream: Handle): Handle {
    const out: (Handle | null)[] = [null];
    this.check('cuStreamEndCapture', stream, out);
    return out[0]!;
  }

  instantiate(graph: Handle): Handle {
    const out: (Handle | null)[] = [null];
    this.check('cuGraphInstantiateWithFlags', out, graph, 0);
    return out[0]!;
  }

  launchGraph(exec: Handle, stream: Handle): void {
    this.check('cuGraphLaunch', exec, stream);
  }

  destroyGraph(graph: Handle, exec: Handle | undefined): void {
    if (exec !== undefined) this.call('cuGraphExecDestroy', exec);
    this.call('cuGraphDestroy', graph);
  }
}

/** The sentence for a failed cuInit. */
function initFailure(code: number, name: string): string {
  switch (code) {
    case CU.ERROR_NO_DEVICE:
      return 'no CUDA device';
    case CU.ERROR_STUB_LIBRARY:
      return 'libcuda.so.1 is the toolkit stub, not a driver (no NVIDIA driver)';
    case CU.ERROR_INSUFFICIENT_DRIVER:
    case CU.ERROR_SYSTEM_DRIVER_MISMATCH:
    case CU.ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE:
      return `the NVIDIA driver does not match (${name})`;
    default:
      return `cuInit failed (${name})`;
  }
}

function nameOf(prototype: string): string {
  const match = /(\w+)\s*\(/.exec(prototype);
  if (match === null) throw new Error(`bad prototype ${prototype}`);
  return match[1]!;
}

/** Every call the backend needs; a driver without one of them is too old (CUDA < 11). */
const REQUIRED: readonly string[] = [
  'int cuInit(unsigned int flags)',
  'int cuDriverGetVersion(_Out_ int *version)',
  'int cuDeviceGetCount(_Out_ int *count)',
  'int cuDeviceGet(_Out_ int *device, int ordinal)',
  'int cuDeviceGetName(void *name, int len, int dev)',
  'int cuDeviceGetAttribute(_Out_ int *value, int attribute, int dev)',
  'int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int dev)',
  'int cuDevicePrimaryCtxRetain(_Out_ void **ctx, int dev)',
  'int cuDevicePrimaryCtxRelease_v2(int dev)',
  'int cuCtxSetCurrent(void *ctx)',
  'int cuModuleLoadData(_Out_ void **module, const void *image)',
  'int cuModuleUnload(void *module)',
  'int cuModuleGetFunction(_Out_ void **fn, void *module, const char *name)',
  'int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)',
  'int cuMemFree_v2(uint64_t dptr)',
  'int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes)',
  'int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes)',
  'int cuMemsetD32_v2(uint64_t dst, unsigned int value, size_t count)',
  'int cuMemsetD32Async(uint64_t dst, unsigned int value, size_t count, void *stream)',
  'int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *stream)',
  'int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)',
  'int cuStreamCreate(_Out_ void **stream, unsigned int flags)',
  'int cuStreamDestroy_v2(void *stream)',
  'int cuStreamSynchronize(void *stream)',
  'int cuEventCreate(_Out_ void **event, unsigned int flags)',
  'int cuEventRecord(void *event, void *stream)',
  'int cuEventSynchronize(void *event)',
  'int cuEventElapsedTime(_Out_ float *ms, void *start, void *end)',
  'int cuEventDestroy_v2(void *event)',
  'int cuLaunchKernel(void *fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared, void *stream, void *params, void *extra)',
];

/** CUDA graphs (stream capture, CUDA 11.4+). */
const GRAPH_CALLS: readonly string[] = [
  'int cuStreamBeginCapture_v2(void *stream, int mode)',
  'int cuStreamEndCapture(void *stream, _Out_ void **graph)',
  'int cuGraphInstantiateWithFlags(_Out_ void **exec, void *graph, unsigned long long flags)',
  'int cuGraphLaunch(void *exec, void *stream)',
  'int cuGraphExecDestroy(void *exec)',
  'int cuGraphDestroy(void *graph)',
];
