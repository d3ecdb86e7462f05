import { kernelPrinter } from '../codegen/emit.js';
import { WgslPrinter } from '../codegen/wgsl/printer.js';
import { type Io, UsageError } from '../cli/io.js';
import type { Backend, SimulationPlan } from './backend.js';
import { CpuBackend } from './cpu.js';
import type { CpuKernelLanguage } from './cpu-kernels.js';
import type { Precision } from '../codegen/printer.js';
import { BackendUnavailableError, WebGpuBackend } from './webgpu/backend.js';
import { CudaBackend } from './cuda/backend.js';

export type BackendChoice = 'auto' | 'cpu' | 'cpu64' | 'webgpu' | 'cuda';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'cpu', 'cpu64', 'webgpu', 'cuda'];

/**
 * A CPU backend: float32 like a GPU (WebAssembly kernels, or JavaScript ones on request), or
 * the float64 reference (JavaScript).
 */
export function cpuBackend(
  precision: Precision,
  language?: CpuKernelLanguage,
  threads?: number,
): CpuBackend {
  return new CpuBackend(precision, language, undefined, threads);
}

/**
 * A WebGPU backend with a fresh WGSL printer (its namer and used helpers belong to one module);
 * `software: false` refuses Mesa's software adapter.
 */
export function webGpuBackend(options: { readonly software?: boolean } = {}): WebGpuBackend {
  return new WebGpuBackend(kernelPrinter(new WgslPrinter()), options);
}

/** A CUDA backend (driver API and NVRTC, loaded when prepared), float32 by default like the other GPU backend. */
export function cudaBackend(precision: Precision = 'f32'): CudaBackend {
  return new CudaBackend({ precision });
}

/** How a backend is named when `auto` moves on to it. */
function fallbackName(backend: Backend): string {
  return backend.name === 'cpu'
    ? 'using the CPU'
    : backend.name === 'webgpu'
      ? 'trying WebGPU'
      : `trying ${backend.name}`;
}

/**
 * Opens and prepares the chosen backend. `auto` tries CUDA (an NVIDIA GPU), then WebGPU on a
 * GPU (not the software adapter: the CPU backend is faster on the same cores), then the CPU, saying in one sentence why
 * each one it passes over is unavailable. A backend asked for by name that cannot be had here
 * is a UsageError (exit code 2: choose another --backend), with that sentence as the message.
 * `cpu.threads`: how many threads the CPU backend may use (its default: one per core).
 */
export async function openBackend(
  choice: BackendChoice,
  plan: SimulationPlan,
  io: Io,
  cpu: { readonly threads?: number } = {},
): Promise<Backend> {
  const candidates: Backend[] =
    choice === 'cpu'
      ? [cpuBackend('f32', undefined, cpu.threads)]
      : choice === 'cpu64'
        ? [cpuBackend('f64')]
        : choice === 'webgpu'
          ? [webGpuBackend()]
          : choice === 'cuda'
            ? [cudaBackend('f32')]
            : // A software adapter runs on the same cores as the CPU backend, several times slower.
              [
                cudaBackend('f32'),
                webGpuBackend({ software: false }),
                cpuBackend('f32', undefined, cpu.threads),
              ];
  for (const [k, backend] of candidates.entries()) {
    try {
      await backend.prepare(plan);
      if (backend.note !== undefined) io.err(`spikeforge: note: ${backend.note}`);
      return backend;
    } catch (error) {
      backend.dispose();
      if (!(error instanceof BackendUnavailableError)) throw error;
      const next = candidates[k + 1];
      if (choice !== 'auto' || next === undefined) throw new UsageError(error.message);
      io.err(`spikeforge: ${error.message}; ${fallbackName(next)}`);
    }
  }
  throw new BackendUnavailableError('no backend could be opened');
}
