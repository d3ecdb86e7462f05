/**
 * (b) From .spk text to a ready WebGPU pipeline, stage by stage: compileFiles (parse, lower,
 * check units, instantiate; the stdlib import is read and parsed too), deriveUpdates,
 * buildPlan (kernel IR and the initial values of every neuron), generateSource(plan,
 * 'wgsl'), shader module with its compilation info, compute pipelines (as WebGpuBackend
 * creates them). Opening the device is measured once, apart. After the pipelines, one
 * dispatch of one workgroup is timed apart too: a driver may compile lazily (llvmpipe
 * builds its shader variant at the first dispatch).
 *
 * Each repetition uses a slightly different stimulus (20.0001 nA, 20.0002 nA, ...), a
 * constant folded into the kernel, so no shader cache can answer (bench/run.ts also turns
 * off Mesa's on-disk shader cache); the first repetition runs in a fresh process ("cold":
 * JIT and the compiler's caches empty), the others give the "warm" median.
 */
import { performance } from 'node:perf_hooks';
import { buildPlan, deriveUpdates, generateSource, layoutOf } from '../src/codegen/module.js';
import { entryPointName } from '../src/codegen/kernel-ir.js';
import { STEP_UNIFORM_STRIDE, WORKGROUP_SIZE } from '../src/codegen/wgsl/kernel.js';
import { type WebGpu, formatCompilationMessages } from '../src/runtime/webgpu/device.js';
import { compileBenchNetwork, lifBenchSpk } from './lif-network.js';

export const STAGES = ['compile', 'derive', 'plan', 'generate', 'shader module', 'pipeline'] as const;
export type Stage = (typeof STAGES)[number];

export interface PipelineReadyResult {
  readonly neurons: number;
  readonly device: string | undefined;
  readonly openDeviceMs: number | undefined;
  readonly repetitions: number;
  /** Milliseconds per stage of the first repetition, plus total (sum of the stages). */
  readonly cold: Record<Stage | 'total', number | undefined>;
  /** Median milliseconds per stage over the later repetitions. */
  readonly warmMedian: Record<Stage | 'total', number | undefined>;
  /** The first dispatch after the pipelines (1 workgroup): cold, warm median. Not in the total. */
  readonly firstDispatchMs: { readonly cold: number; readonly warmMedian: number } | undefined;
  readonly notes: readonly string[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function oneDispatch(gpu: WebGpu, pipeline: GPUComputePipeline, stateFloats: number): Promise<number> {
  const device = gpu.device;
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const buffers = [
    device.createBuffer({ size: Math.max(16, stateFloats * 4), usage: storage }),
    device.createBuffer({ size: 4 * (1 + 2 * WORKGROUP_SIZE), usage: storage }),
    device.createBuffer({ size: 16, usage: storage }),
    device.createBuffer({ size: STEP_UNIFORM_STRIDE, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
  ];
  await device.queue.onSubmittedWorkDone();
  const start = performance.now();
  device.pushErrorScope('validation');
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: binding === 3 ? { buffer, size: 16 } : { buffer } })),
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup, [0]);
  pass.dispatchWorkgroups(1);
  pass.end();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  const ms = performance.now() - start;
  const error = await device.popErrorScope();
  for (const b of buffers) b.destroy();
  if (error !== null) throw new Error(`first dispatch: ${error.message}`);
  return ms;
}

export async function pipelineReady(neurons: number, repetitions: number, open: () => Promise<WebGpu | undefined>): Promise<PipelineReadyResult> {
  const notes: string[] = [];
  const openStart = performance.now();
  const gpu = await open();
  const openDeviceMs = gpu === undefined ? undefined : performance.now() - openStart;
  if (gpu === undefined) notes.push('no WebGPU device: the shader module and pipeline stages are not measured');
  const runs: Record<Stage, number | undefined>[] = [];
  const dispatches: number[] = [];
  try {
    for (let r = 0; r < repetitions; r++) {
      const times: Record<Stage, number | undefined> = { compile: undefined, derive: undefined, plan: undefined, generate: undefined, 'shader module': undefined, pipeline: undefined };
      const text = lifBenchSpk(neurons, 1000 + r, (20 + (r + 1) * 1e-4).toFixed(4));
      let t = performance.now();
      const lap = (stage: Stage): void => {
        const now = performance.now();
        times[stage] = now - t;
        t = now;
      };
      const network = compileBenchNetwork(text);
      lap('compile');
      const updates = deriveUpdates(network);
      if (!(updates instanceof Map)) throw new Error(`derive failed: ${updates.map((d) => d.message).join('; ')}`);
      lap('derive');
      const plan = buildPlan(network, updates, 1);
      lap('plan');
      const code = generateSource(plan, 'wgsl');
      lap('generate');
      if (gpu !== undefined) {
        const device = gpu.device;
        const module = device.createShaderModule({ code });
        const info = await module.getCompilationInfo();
        const errors = info.messages.filter((m) => m.type === 'error');
        if (errors.length > 0) throw new Error(`generated WGSL does not compile:\n${formatCompilationMessages(errors).join('\n')}`);
        lap('shader module');
        const bindGroupLayout = device.createBindGroupLayout({
          entries: [
            ...[0, 1, 2].map((binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' as const } })),
            { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' as const, hasDynamicOffset: true, minBindingSize: 16 } },
          ],
        });
        const layout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
        const pipelines = await Promise.all(plan.kernels.map((k) => device.createComputePipelineAsync({ layout, compute: { module, entryPoint: entryPointName(k.population) } })));
        lap('pipeline');
        dispatches.push(await oneDispatch(gpu, pipelines[0]!, layoutOf(plan).totalStateFloats));
      }
      runs.push(times);
    }
  } finally {
    gpu?.close();
  }
  const summarize = (rows: readonly Record<Stage, number | undefined>[]): Record<Stage | 'total', number | undefined> => {
    const out = {} as Record<Stage | 'total', number | undefined>;
    let total = 0;
    for (const stage of STAGES) {
      const values = rows.map((row) => row[stage]).filter((v): v is number => v !== undefined);
      out[stage] = values.length === 0 ? undefined : median(values);
      total += out[stage] ?? 0;
    }
    out.total = total;
    return out;
  };
  if (repetitions < 2) notes.push('one repetition: the warm median is the cold run');
  return {
    neurons,
    device: gpu?.description,
    openDeviceMs,
    repetitions,
    cold: summarize(runs.slice(0, 1)),
    warmMedian: summarize(runs.length > 1 ? runs.slice(1) : runs),
    firstDispatchMs: dispatches.length === 0 ? undefined : { cold: dispatches[0]!, warmMedian: median(dispatches.length > 1 ? dispatches.slice(1) : dispatches) },
    notes,
  };
}
