/**
 * (a) Neuron updates per second of a population on the CPU (generated JavaScript, float32)
 * and on WebGPU (generated WGSL), compile time excluded.
 *
 * Two numbers per backend:
 * - end to end: simulate(plan, backend) with the real backend, i.e. the kernels plus what
 *   the runtime does around them (spike readback, splitting and sorting spikes per chunk);
 * - kernel only: the same generated kernels driven by a minimal loop (CPU: the step
 *   function from generateSource(plan, 'js'); WebGPU: the same pipelines, bindings and
 *   chunking as the backend, reading back only the spike count), so the difference is
 *   what the runtime adds.
 */
import { performance } from 'node:perf_hooks';
import { generateSource, layoutOf } from '../src/codegen/module.js';
import { JS_KERNEL_PARAMETERS } from '../src/codegen/js/kernel.js';
import { entryPointName } from '../src/codegen/kernel-ir.js';
import { STEP_UNIFORM_STRIDE, WORKGROUP_SIZE } from '../src/codegen/wgsl/kernel.js';
import type { SimulationPlan } from '../src/runtime/backend.js';
import { cpuBackend, webGpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { type WebGpu, formatCompilationMessages } from '../src/runtime/webgpu/device.js';

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
  return { steps: plan.steps, seconds, updatesPerSecond: (neuronsOf(plan) * plan.steps) / seconds, spikes };
}

/** The float32 initial state buffer, as the backends lay it out. */
function initialState(plan: SimulationPlan): Float32Array {
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

async function endToEnd(plan: SimulationPlan, backend: ReturnType<typeof cpuBackend> | ReturnType<typeof webGpuBackend>): Promise<Measurement> {
  await backend.prepare(plan);
  const result = await simulate(plan, backend);
  const spikes = result.chunks.reduce((n, c) => n + [...c.spikes.values()].reduce((m, s) => m + s.steps.length, 0), 0);
  return measurement(plan, result.wallSeconds, spikes);
}

type StepFunction = (state: Float32Array, record: Float32Array, spikes: number[], rt: unknown, step: number, chunkStep: number) => void;

/** The CPU kernel alone: generateSource(plan, 'js') compiled with new Function, one spike list for the run. */
function cpuKernelOnly(plan: SimulationPlan, chunkSteps: number): Measurement {
  const source = generateSource(plan, 'js');
  const names = plan.kernels.map((k) => entryPointName(k.population));
  const steps = new Function(`${source}\nreturn [${names.join(', ')}];`)() as StepFunction[];
  const state = initialState(plan);
  const record = new Float32Array(chunkSteps * layoutOf(plan).recordRow);
  const rt = new Proxy({}, { get: () => () => { throw new Error('the benchmark kernel is not expected to draw random numbers'); } });
  let spikes: number[] = [];
  let total = 0;
  const start = performance.now();
  for (let first = 0; first < plan.steps; first += chunkSteps) {
    const n = Math.min(chunkSteps, plan.steps - first);
    for (let s = 0; s < n; s++) for (const step of steps) step(state, record, spikes, rt, first + s, s);
    total += spikes.length / 2;
    spikes = [];
  }
  return measurement(plan, (performance.now() - start) / 1000, total);
}

export async function cpuThroughput(plan: SimulationPlan): Promise<ThroughputResult> {
  const backend = cpuBackend('float32');
  const chunkSteps = backend.maxChunkSteps(plan);
  try {
    if (JS_KERNEL_PARAMETERS.length !== 6) throw new Error(`the JS kernel signature changed (${JS_KERNEL_PARAMETERS.join(', ')}); update bench/throughput.ts`);
    const e2e = await endToEnd(plan, backend);
    const kernel = cpuKernelOnly(plan, chunkSteps);
    return {
      backend: 'cpu',
      device: backend.device,
      software: true,
      neurons: neuronsOf(plan),
      endToEnd: e2e,
      kernelOnly: kernel,
      chunkSteps,
      notes: ['one thread of generated JavaScript, every operation rounded with Math.fround'],
    };
  } finally {
    backend.dispose();
  }
}

/** The WGSL kernels alone, on an open device, bound and chunked as WebGpuBackend does; only the spike count is read back. */
async function webGpuKernelOnly(plan: SimulationPlan, gpu: WebGpu, chunkSteps: number): Promise<Measurement> {
  const device = gpu.device;
  const layout = layoutOf(plan);
  const code = generateSource(plan, 'wgsl');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const problems = info.messages.filter((m) => m.type === 'error');
  if (problems.length > 0) throw new Error(`generated WGSL does not compile:\n${formatCompilationMessages(problems).join('\n')}`);
  const bindGroupLayout = device.createBindGroupLayout({
    entries: [
      ...[0, 1, 2].map((binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' as const } })),
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' as const, hasDynamicOffset: true, minBindingSize: 16 } },
    ],
  });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
  const pipelines = await Promise.all(plan.kernels.map((k) => device.createComputePipelineAsync({ layout: pipelineLayout, compute: { module, entryPoint: entryPointName(k.population) } })));
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const state = device.createBuffer({ size: Math.max(16, layout.totalStateFloats * 4), usage: storage });
  const spikeBuffer = device.createBuffer({ size: 4 * (1 + 2 * layout.totalNeurons * chunkSteps), usage: storage });
  const record = device.createBuffer({ size: Math.max(16, 4 * layout.recordRow * chunkSteps), usage: storage });
  const infoBuffer = device.createBuffer({ size: STEP_UNIFORM_STRIDE * chunkSteps, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const countRead = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(state, 0, initialState(plan));
  const bindGroup = device.createBindGroup({
    layout: bindGroupLayout,
    entries: [
      { binding: 0, resource: { buffer: state } },
      { binding: 1, resource: { buffer: spikeBuffer } },
      { binding: 2, resource: { buffer: record } },
      { binding: 3, resource: { buffer: infoBuffer, size: 16 } },
    ],
  });
  await device.queue.onSubmittedWorkDone();
  let total = 0;
  const start = performance.now();
  for (let first = 0; first < plan.steps; first += chunkSteps) {
    const n = Math.min(chunkSteps, plan.steps - first);
    const stepInfo = new Uint32Array((STEP_UNIFORM_STRIDE / 4) * n);
    for (let s = 0; s < n; s++) stepInfo.set([first + s, s], (STEP_UNIFORM_STRIDE / 4) * s);
    device.queue.writeBuffer(infoBuffer, 0, stepInfo);
    device.queue.writeBuffer(spikeBuffer, 0, new Uint32Array([0]));
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let s = 0; s < n; s++) {
      plan.kernels.forEach((k, p) => {
        pass.setPipeline(pipelines[p]!);
        pass.setBindGroup(0, bindGroup, [s * STEP_UNIFORM_STRIDE]);
        pass.dispatchWorkgroups(Math.ceil(k.size / WORKGROUP_SIZE));
      });
    }
    pass.end();
    encoder.copyBufferToBuffer(spikeBuffer, 0, countRead, 0, 4);
    device.queue.submit([encoder.finish()]);
    await countRead.mapAsync(GPUMapMode.READ);
    total += new Uint32Array(countRead.getMappedRange())[0] ?? 0;
    countRead.unmap();
  }
  const seconds = (performance.now() - start) / 1000;
  for (const b of [state, spikeBuffer, record, infoBuffer, countRead]) b.destroy();
  return measurement(plan, seconds, total);
}

/**
 * WebGPU end to end (WebGpuBackend, which opens its own device) and kernel only (on `gpu`).
 * `plan.steps` should already be reduced for a software adapter.
 */
export async function webGpuThroughput(plan: SimulationPlan, gpu: WebGpu, notes: readonly string[]): Promise<ThroughputResult> {
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
