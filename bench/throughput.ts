/**
 * (a) Neuron updates per second of a population on the CPU (generated WebAssembly, float32)
 * and on WebGPU (generated WGSL), compile time excluded.
 *
 * Two numbers per backend:
 * - end to end: simulate(plan, backend) with the real backend, i.e. the kernels plus what
 *   the runtime does around them (spike readback, splitting and sorting spikes per chunk);
 * - kernel only: the same generated kernels driven by a minimal loop (CPU: the backend's
 *   WebAssembly kernels, cpu-kernels.ts wasmKernels; WebGPU: the same pipelines, bindings and
 *   chunking as the backend, reading back only the spike count), so the difference is
 *   what the runtime adds. Networks without projections only (no spike delivery here).
 */
import { performance } from 'node:perf_hooks';
import { generateSource, layoutOf } from '../src/codegen/module.js';
import {
  STEP_UNIFORM_STRIDE,
  WORKGROUP_SIZE,
  spikeListBase,
  stepDispatches,
} from '../src/codegen/wgsl/kernel.js';
import type { SimulationPlan } from '../src/runtime/backend.js';
import { SpikePairs, wasmKernels } from '../src/runtime/cpu-kernels.js';
import { cpuBackend, webGpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { type WebGpu, formatCompilationMessages } from '../src/runtime/webgpu/device.js';
import { backendBindGroupLayout, backendBuffers, stepInfo } from './webgpu-bindings.js';

export interface Measurement {
  readonly steps: number;
  readonly seconds: number;
  readonly updatesPerSecond: number;
  readonly spikes: number;
}

export interface ThroughputResult {
  readonly backend: 'cpu' | 'webgpu';
  readonly device: string;
  readonly software: boolean;
  readonly neurons: number;
  readonly endToEnd: Measurement;
  readonly kernelOnly: Measurement;
  /** Steps per submission (WebGPU) or per chunk (CPU), as the backend chooses. */
  readonly chunkSteps: number;
  readonly notes: readonly string[];
}

function neuronsOf(plan: SimulationPlan): number {
  return plan.kernels.reduce((n, k) => n + k.size, 0);
}

function measurement(plan: SimulationPlan, seconds: number, spikes: number): Measurement {
  return {
    steps: plan.steps,
    seconds,
    updatesPerSecond: (neuronsOf(plan) * plan.steps) / seconds,
    spikes,
  };
}

/** The kernel-only loops leave out spike delivery between populations. */
function requireNoProjections(plan: SimulationPlan): void {
  if (plan.routing.routes.length > 0)
    throw new Error('the kernel-only measurement handles networks without projections only');
}

/** The float32 initial state buffer, as the backends lay it out. */
export function initialState(plan: SimulationPlan): Float32Array {
  const layout = layoutOf(plan);
  const state = new Float32Array(layout.totalStateFloats);
  for (const k of plan.kernels) {
    for (const s of k.states) {
      const values = plan.initial.get(k.population)?.get(s);
      if (values === undefined) throw new Error(`no initial values for ${k.population}.${s}`);
      state.set(values, layout.stateOffset(k.population, s));
    }
  }
  return state;
}

async function endToEnd(
  plan: SimulationPlan,
  backend: ReturnType<typeof cpuBackend> | ReturnType<typeof webGpuBackend>,
): Promise<Measurement> {
  await backend.prepare(plan);
  const result = await simulate(plan, backend);
  const spikes = result.chunks.reduce(
    (n, c) => n + [...c.spikes.values()].reduce((m, s) => m + s.steps.length, 0),
    0,
  );
  return measurement(plan, result.wallSeconds, spikes);
}

/** The CPU kernels alone: the backend's own (WebAssembly) kernels stepped in a loop, spikes counted. */
async function cpuKernelOnly(plan: SimulationPlan, chunkSteps: number): Promise<Measurement> {
  requireNoProjections(plan);
  const layout = layoutOf(plan);
  const kernels = await wasmKernels(plan, layout, chunkSteps);
  kernels.state.set(initialState(plan));
  let total = 0;
  const spikes = new SpikePairs();
  const start = performance.now();
  for (let first = 0; first < plan.steps; first += chunkSteps) {
    const n = Math.min(chunkSteps, plan.steps - first);
    spikes.clear();
    for (let s = 0; s < n; s++) kernels.step(first + s, s, spikes);
    total += spikes.length / 2;
  }
  return measurement(plan, (performance.now() - start) / 1000, total);
}

export async function cpuThroughput(plan: SimulationPlan): Promise<ThroughputResult> {
  const backend = cpuBackend('f32');
  const chunkSteps = backend.maxChunkSteps(plan);
  try {
    const e2e = await endToEnd(plan, backend);
    const kernel = await cpuKernelOnly(plan, chunkSteps);
    return {
      backend: 'cpu',
      device: backend.device,
      software: true,
      neurons: neuronsOf(plan),
      endToEnd: e2e,
      kernelOnly: kernel,
      chunkSteps,
      notes: [
        "generated WebAssembly, float32 instructions, four neurons at a time (SIMD); kernel only on one thread, end to end on the backend's threads",
      ],
    };
  } finally {
    backend.dispose();
  }
}

/** The WGSL kernels alone, on an open device, bound and chunked as WebGpuBackend does; only the spike count is read back. */
async function webGpuKernelOnly(
  plan: SimulationPlan,
  gpu: WebGpu,
  chunkSteps: number,
): Promise<Measurement> {
  requireNoProjections(plan);
  const device = gpu.device;
  const layout = layoutOf(plan);
  const code = generateSource(plan, 'wgsl');
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const problems = info.messages.filter((m) => m.type === 'error');
  if (problems.length > 0)
    throw new Error(
      `generated WGSL does not compile:\n${formatCompilationMessages(problems).join('\n')}`,
    );
  const bindGroupLayout = backendBindGroupLayout(device);
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
  const dispatches = stepDispatches(layout, plan.kernels);
  const pipelines = await Promise.all(
    dispatches.map((d) =>
      device.createComputePipelineAsync({
        layout: pipelineLayout,
        compute: { module, entryPoint: d.entryPoint },
      }),
    ),
  );
  const buffers = backendBuffers(device, bindGroupLayout, layout, chunkSteps, initialState(plan));
  const countRead = device.createBuffer({
    size: 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const setupError = await device.popErrorScope();
  if (setupError !== null)
    throw new Error(
      `kernel-only WebGPU setup (does bench/webgpu-bindings.ts still match the backend?): ${setupError.message}`,
    );
  await device.queue.onSubmittedWorkDone();
  const countAt = 4 * spikeListBase(layout);
  let total = 0;
  const start = performance.now();
  for (let first = 0; first < plan.steps; first += chunkSteps) {
    const n = Math.min(chunkSteps, plan.steps - first);
    device.queue.writeBuffer(buffers.info, 0, stepInfo(first, n));
    device.queue.writeBuffer(buffers.events, countAt, new Uint32Array([0]));
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let s = 0; s < n; s++) {
      dispatches.forEach((d, p) => {
        pass.setPipeline(pipelines[p]!);
        pass.setBindGroup(0, buffers.bindGroup, [s * STEP_UNIFORM_STRIDE]);
        pass.dispatchWorkgroups(d.threads === 1 ? 1 : Math.ceil(d.threads / WORKGROUP_SIZE));
      });
    }
    pass.end();
    encoder.copyBufferToBuffer(buffers.events, countAt, countRead, 0, 4);
    device.queue.submit([encoder.finish()]);
    await countRead.mapAsync(GPUMapMode.READ);
    total += new Uint32Array(countRead.getMappedRange())[0] ?? 0;
    countRead.unmap();
  }
  const seconds = (performance.now() - start) / 1000;
  buffers.destroy();
  countRead.destroy();
  return measurement(plan, seconds, total);
}

/**
 * WebGPU end to end (WebGpuBackend, which opens its own device) and kernel only (on `gpu`).
 * `plan.steps` should already be reduced for a software adapter.
 */
export async function webGpuThroughput(
  plan: SimulationPlan,
  gpu: WebGpu,
  notes: readonly string[],
): Promise<ThroughputResult> {
  const chunkSteps = webGpuBackend().maxChunkSteps(plan);
  const kernel = await webGpuKernelOnly(plan, gpu, chunkSteps);
  const backend = webGpuBackend();
  try {
    const e2e = await endToEnd(plan, backend);
    return {
      backend: 'webgpu',
      device: backend.device,
      software: gpu.software,
      neurons: neuronsOf(plan),
      endToEnd: e2e,
      kernelOnly: kernel,
      chunkSteps,
      notes: [
        ...notes,
        `${chunkSteps} steps per submission (the spike buffer holds a spike of every neuron in every step of a chunk, within 128 MiB), then a readback of the whole spike buffer`,
      ],
    };
  } finally {
    backend.dispose();
  }
}
