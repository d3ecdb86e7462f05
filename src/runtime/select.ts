import { kernelPrinter } from '../codegen/emit.js';
import { JsPrinter } from '../codegen/js/printer.js';
import { WgslPrinter } from '../codegen/wgsl/printer.js';
import type { Io } from '../cli/io.js';
import type { Backend, SimulationPlan } from './backend.js';
import { CpuBackend } from './cpu.js';
import type { Precision } from '../codegen/printer.js';
import { BackendUnavailableError, WebGpuBackend } from './webgpu/backend.js';

export type BackendChoice = 'auto' | 'cpu' | 'cpu64' | 'webgpu';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'cpu', 'cpu64', 'webgpu'];

/** A CPU backend printing JavaScript in the given precision (f32 like a GPU, or the f64 reference). */
export function cpuBackend(precision: Precision): CpuBackend {
  return new CpuBackend(precision, (p) => kernelPrinter(new JsPrinter({ precision: p })));
}

/** A WebGPU backend with a fresh WGSL printer (its namer and used helpers belong to one module). */
export function webGpuBackend(): WebGpuBackend {
  return new WebGpuBackend(kernelPrinter(new WgslPrinter()));
}

/**
 * Opens and prepares the chosen backend. `auto` takes WebGPU when a device can
 * be had (a real GPU, or the software adapter with a notice) and the CPU
 * otherwise, saying why in one sentence.
 */
export async function openBackend(choice: BackendChoice, plan: SimulationPlan, io: Io): Promise<Backend> {
  const candidates: Backend[] =
    choice === 'cpu' ? [cpuBackend('f32')] : choice === 'cpu64' ? [cpuBackend('f64')] : choice === 'webgpu' ? [webGpuBackend()] : [webGpuBackend(), cpuBackend('f32')];
  for (const backend of candidates) {
    try {
      await backend.prepare(plan);
      return backend;
    } catch (error) {
      backend.dispose();
      if (!(error instanceof BackendUnavailableError) || choice !== 'auto') throw error;
      io.err(`spikeforge: ${error.message}; using the CPU`);
    }
  }
  throw new BackendUnavailableError('no backend could be opened');
}
