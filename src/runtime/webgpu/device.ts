/**
 * Opening a WebGPU device through Dawn: a hardware adapter (Vulkan, Metal,
 * D3D12) when there is one, else Mesa's software OpenGL ES adapter in
 * compatibility mode (docs/webgpu-on-cpu.md), with a notice.
 */
import { create, globals } from 'webgpu';

/** An open WebGPU device. Call `close()` when done. */
export interface WebGpu {
  readonly device: GPUDevice;
  /**
   * Adapter description, e.g. "llvmpipe-llvm-15-0-6-256-bits- / OpenGL version OpenGL ES 3.2
   * Mesa 22.3.6 (software, OpenGL ES)".
   */
  readonly description: string;
  /** True when running on the software (llvmpipe) fallback adapter. */
  readonly software: boolean;
  /** Destroys the device (the process-wide instance stays). Idempotent. */
  close(): void;
}

/** Result of `openWebGpu`: a device, or the reason none could be had (to print on skip). */
export type OpenWebGpuResult = { ok: true; gpu: WebGpu } | { ok: false; reason: string };

function describeAdapter(adapter: GPUAdapter): string {
  const { vendor, architecture, device, description } = adapter.info;
  return [vendor, architecture, device, description].filter((s) => s !== '').join(' / ');
}

/**
 * One dawn.node instance per kind of adapter for the whole process. Creating and
 * dropping instances is what crashes: an instance garbage-collected while
 * Dawn's (or llvmpipe's) threads still run takes the process down, and a new
 * instance racing an old one's teardown can deadlock. So instances live as
 * long as the process; a device is destroyed when its run ends. A live
 * instance keeps node's event loop alive, which is why the CLI ends with
 * process.exit (bin/spikeforge.js).
 */
const instances = new Map<string, GPU>();

function instance(flags: readonly string[]): GPU {
  const key = flags.join(' ');
  let gpu = instances.get(key);
  if (gpu === undefined) {
    gpu = create([...flags]);
    instances.set(key, gpu);
  }
  return gpu;
}

class OpenWebGpu implements WebGpu {
  #open = true;

  constructor(
    readonly device: GPUDevice,
    readonly description: string,
    readonly software: boolean,
  ) {}

  close(): void {
    if (!this.#open) return;
    this.device.destroy();
    this.#open = false;
  }
}

async function openDevice(adapter: GPUAdapter, software: boolean): Promise<WebGpu> {
  // Ask for the adapter's largest buffers: the default limits (128 MiB per binding) are lower than many GPUs allow.
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  const kind = software ? 'software, OpenGL ES' : 'hardware';
  return new OpenWebGpu(device, `${describeAdapter(adapter)} (${kind})`, software);
}

/**
 * Why Dawn cannot find a GPU here, when that can be told without asking it: on Linux its
 * hardware adapters come through the Vulkan loader, and without one Dawn prints a warning
 * with a C++ source location on every run and finds nothing.
 */
async function missingVulkanLoader(): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    (await import('koffi')).default.load('libvulkan.so.1');
    return undefined;
  } catch {
    return 'no Vulkan loader: libvulkan.so.1 not found';
  }
}

/**
 * Opens a WebGPU device: first a hardware adapter (Vulkan / Metal / D3D12), then (unless
 * `software` is false) Mesa's software OpenGL ES adapter in compatibility mode. Never throws; on failure the result
 * carries the reasons so that tests can skip loudly instead of passing silently.
 */
export async function openWebGpu(
  options: { readonly software?: boolean } = {},
): Promise<OpenWebGpuResult> {
  // The webgpu package exposes GPUBufferUsage, GPUMapMode, ... as globals only on request.
  Object.assign(globalThis, globals);
  const failures: string[] = [];
  const noLoader = await missingVulkanLoader();
  if (noLoader !== undefined) failures.push(noLoader);
  else
    try {
      const adapter = await instance([]).requestAdapter();
      if (adapter !== null) return { ok: true, gpu: await openDevice(adapter, false) };
      failures.push('no hardware adapter');
    } catch (error) {
      failures.push(`hardware adapter: ${String(error)}`);
    }
  if (options.software === false) return { ok: false, reason: failures.join('; ') };
  // Mesa's EGL needs no display server with these, and stays quiet about XDG_RUNTIME_DIR.
  process.env['EGL_PLATFORM'] ??= 'surfaceless';
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  try {
    const adapter = await instance(['backend=opengles']).requestAdapter({
      featureLevel: 'compatibility',
    });
    if (adapter !== null) {
      console.error(
        `WebGPU: no hardware adapter, using the software one: ${describeAdapter(adapter)}`,
      );
      return { ok: true, gpu: await openDevice(adapter, true) };
    }
    failures.push('no software OpenGL ES adapter');
  } catch (error) {
    failures.push(`software adapter: ${String(error)}`);
  }
  return { ok: false, reason: failures.join('; ') };
}

/** A shader module with the messages of its compilation (errors, warnings, info). */
export interface CompiledWgsl {
  readonly module: GPUShaderModule;
  readonly messages: readonly GPUCompilationMessage[];
}

/** Compiles WGSL and collects its compilation messages. */
export async function compileWgsl(device: GPUDevice, code: string): Promise<CompiledWgsl> {
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  return { module, messages: info.messages };
}

/** One line per compilation message, e.g. "error 12:3: unresolved identifier 'x'". */
export function formatCompilationMessages(messages: readonly GPUCompilationMessage[]): string[] {
  return messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos}: ${m.message}`);
}
