/**
 * (b) From .spk text to a ready WebGPU pipeline, stage by stage: compileFiles (parse, lower,
 * check units, instantiate; the stdlib import is read and parsed too), derive (deriveUpdate
 * of each neuron model of the network), buildPlan (routing, kernel IR, the initial values of
 * every neuron; it derives again, from the symbolic engine's warm caches),
 * generateSource(plan, 'wgsl'), shader module with its compilation info, compute pipelines
 * (as WebGpuBackend creates them). Opening the device is measured once, apart. After the
 * pipelines, one dispatch of one workgroup is timed apart too: a driver may compile lazily
 * (on llvmpipe it takes several times a whole 1M-neuron step).
 *
 * Each repetition uses a slightly different stimulus (20.0001 nA, 20.0002 nA, ...), a
 * constant folded into the kernel, so no shader cache can answer (bench/run.ts also turns
 * off Mesa's on-disk shader cache); the first repetition runs in a fresh process ("cold":
 * JIT and the compiler's caches empty), the others give the "warm" median.
 */
import { performance } from 'node:perf_hooks';
import { buildPlan, generateSource, layoutOf } from '../src/codegen/module.js';
import { stepDispatches } from '../src/codegen/wgsl/kernel.js';
import { deriveUpdate } from '../src/integrate/derive.js';
import type { Network, NeuronModel } from '../src/ir/types.js';
import { type WebGpu, formatCompilationMessages } from '../src/runtime/webgpu/device.js';
import { compileBenchNetwork, lifBenchSpk } from './lif-network.js';
import { backendBindGroupLayout, backendBuffers, stepInfo } from './webgpu-bindings.js';

export const STAGES = [
  'compile',
  'derive',
  'plan',
  'generate',
  'shader module',
  'pipeline',
] as const;
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

/** One step of the first dispatch (its first workgroup), on zeroed buffers laid out as the backend's. */
async function oneDispatch(
  gpu: WebGpu,
  pipeline: GPUComputePipeline,
  bindGroupLayout: GPUBindGroupLayout,
  plan: ReturnType<typeof buildPlan>,
): Promise<number> {
  const device = gpu.device;
  const layout = layoutOf(plan);
  const buffers = backendBuffers(
    device,
    bindGroupLayout,
    layout,
    1,
    new Float32Array(layout.totalStateFloats),
  );
  device.queue.writeBuffer(buffers.info, 0, stepInfo(0, 1));
  await device.queue.onSubmittedWorkDone();
  device.pushErrorScope('validation');
  const start = performance.now();
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, buffers.bindGroup, [0]);
  pass.dispatchWorkgroups(1);
  pass.end();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  const ms = performance.now() - start;
  const error = await device.popErrorScope();
  buffers.destroy();
  if (error !== null) throw new Error(`first dispatch: ${error.message}`);
  return ms;
}

/** deriveUpdate of every distinct neuron model of the network. */
function deriveModels(network: Network): void {
  const models = new Set<NeuronModel>();
  for (const p of network.populations) if (p.source.kind === 'neuron') models.add(p.source.model);
  for (const m of models) {
    const r = deriveUpdate(m);
    if (r.kind === 'error')
      throw new Error(`derive ${m.name}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  }
}

export async function pipelineReady(
  neurons: number,
  repetitions: number,
  open: () => Promise<WebGpu | undefined>,
): Promise<PipelineReadyResult> {
  const notes: string[] = [];
  const openStart = performance.now();
  const gpu = await open();
  const openDeviceMs = gpu === undefined ? undefined : performance.now() - openStart;
  if (gpu === undefined)
    notes.push('no WebGPU device: the shader module and pipeline stages are not measured');
  const runs: Record<Stage, number | undefined>[] = [];
  const dispatches: number[] = [];
  try {
    for (let r = 0; r < repetitions; r++) {
      const times: Record<Stage, number | undefined> = {
        compile: undefined,
        derive: undefined,
        plan: undefined,
        generate: undefined,
        'shader module': undefined,
        pipeline: undefined,
      };
      const text = lifBenchSpk(neurons, 1000 + r, (20 + (r + 1) * 1e-4).toFixed(4));
      let t = performance.now();
      const lap = (stage: Stage): void => {
        const now = performance.now();
        times[stage] = now - t;
        t = now;
      };
      const network = compileBenchNetwork(text);
      lap('compile');
      deriveModels(network);
      lap('derive');
      const plan = buildPlan(network, 1);
      lap('plan');
      const code = generateSource(plan, 'wgsl');
      lap('generate');
      if (gpu !== undefined) {
        const device = gpu.device;
        const module = device.createShaderModule({ code });
        const info = await module.getCompilationInfo();
        const errors = info.messages.filter((m) => m.type === 'error');
        if (errors.length > 0)
          throw new Error(
            `generated WGSL does not compile:\n${formatCompilationMessages(errors).join('\n')}`,
          );
        lap('shader module');
        const bindGroupLayout = backendBindGroupLayout(device);
        const layout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
        const entryPoints = stepDispatches(layoutOf(plan), plan.kernels).map((d) => d.entryPoint);
        const pipelines = await Promise.all(
          entryPoints.map((entryPoint) =>
            device.createComputePipelineAsync({ layout, compute: { module, entryPoint } }),
          ),
        );
        lap('pipeline');
        dispatches.push(
          await oneDispatch(gpu, pipelines[pipelines.length - 1]!, bindGroupLayout, plan),
        );
      }
      runs.push(times);
    }
  } finally {
    gpu?.close();
  }
  const summarize = (
    rows: readonly Record<Stage, number | undefined>[],
  ): Record<Stage | 'total', number | undefined> => {
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
    firstDispatchMs:
      dispatches.length === 0
        ? undefined
        : {
            cold: dispatches[0]!,
            warmMedian: median(dispatches.length > 1 ? dispatches.slice(1) : dispatches),
          },
    notes,
  };
}
