import { createHash } from 'node:crypto';
import type { KernelPrinter } from '../../codegen/emit.js';
import type { BufferLayout } from '../../codegen/layout.js';
import { layoutOf } from '../../codegen/module.js';
import {
  STEP_UNIFORM_STRIDE,
  WORKGROUP_SIZE,
  emitWgslModule,
  spikeListBase,
  stepDispatches,
} from '../../codegen/wgsl/kernel.js';
import { InternalError } from '../../diagnostics/diagnostic.js';
import {
  type Backend,
  type Chunk,
  type SimulationPlan,
  STATE_SLICE_FLOATS,
  kernelStates,
} from '../backend.js';
import { splitSpikes, splitTraces } from '../cpu.js';
import { type WebGpu, formatCompilationMessages, openWebGpu } from './device.js';

/** Thrown when no WebGPU device can be had; `--backend auto` moves on. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
}

/** Largest chunk the per-step uniform blocks are laid out for. */
const MAX_CHUNK_STEPS = 2048;

/** Compiled pipelines by hash of their WGSL source and entry point, per device. */
const pipelineCache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * Runs the generated WGSL on a WebGPU device: a real GPU through Dawn when
 * there is one, else Mesa's software adapter. Many steps are encoded into one
 * submission (one dispatch per population per step, each step's number
 * through a dynamic uniform offset); spikes and traces are read back once per
 * chunk, so memory stays bounded for long runs.
 */
export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly precision = 'f32';
  device = 'WebGPU';
  /** The generated WGSL, for `compile --target wgsl` and debugging. */
  source = '';
  private gpu: WebGpu | undefined;
  private plan: SimulationPlan | undefined;
  private layout: BufferLayout | undefined;
  private buffers:
    | { state: GPUBuffer; spikes: GPUBuffer; record: GPUBuffer; info: GPUBuffer; conn: GPUBuffer }
    | undefined;
  private dispatches: { entryPoint: string; threads: number }[] = [];
  private bindGroup: GPUBindGroup | undefined;
  private pipelines: GPUComputePipeline[] = [];
  private chunkSteps = 1;

  /** `software`: whether Mesa's software adapter will do when there is no GPU (the default). */
  constructor(
    private readonly printer: KernelPrinter,
    private readonly options: { readonly software?: boolean } = {},
  ) {}

  maxChunkSteps(plan: SimulationPlan): number {
    const layout = this.layout ?? layoutOf(plan);
    // The device's limit once open; before that, llvmpipe's (real GPUs allow more).
    const limit = this.gpu?.device.limits.maxStorageBufferBindingSize ?? 128 * 1024 * 1024;
    // Room for every neuron to spike in every step of the chunk, after the rings and counters: the append never overflows.
    const wordsLeft = Math.floor(limit / 4) - spikeListBase(layout) - 1;
    const bySpikes = Math.floor(wordsLeft / (2 * Math.max(1, layout.totalNeurons)));
    const byRecord = Math.floor(limit / 4 / Math.max(1, layout.recordRow));
    if (bySpikes < 1)
      throw new BackendUnavailableError(
        `the network needs more than the ${limit} bytes this WebGPU device allows in one buffer`,
      );
    return Math.max(1, Math.min(MAX_CHUNK_STEPS, plan.steps, bySpikes, byRecord));
  }

  async prepare(plan: SimulationPlan): Promise<void> {
    const opened = await openWebGpu(this.options);
    if (!opened.ok)
      throw new BackendUnavailableError(
        this.options.software === false
          ? `no GPU for WebGPU (${opened.reason}); its software adapter is slower than the CPU backend (--backend webgpu uses it)`
          : `no WebGPU device: ${opened.reason}`,
      );
    const gpu = opened.gpu;
    this.gpu = gpu;
    this.device = gpu.description;
    const device = gpu.device;
    const layout = layoutOf(plan);
    this.source = emitWgslModule(plan.kernels, layout, this.printer, plan.network.seed);
    this.dispatches = stepDispatches(layout, plan.kernels);
    const module = device.createShaderModule({ code: this.source });
    const info = await module.getCompilationInfo();
    const problems = info.messages.filter((m) => m.type !== 'info');
    if (problems.length > 0)
      throw new InternalError(
        `generated WGSL does not compile cleanly:\n${formatCompilationMessages(problems).join('\n')}`,
      );

    this.layout = layout;
    this.chunkSteps = this.maxChunkSteps(plan);
    // Each buffer is bound whole: one larger than a binding may be is the network's size, not a bug.
    const bindingLimit = device.limits.maxStorageBufferBindingSize;
    for (const [what, bytes] of [
      ['state', 4 * layout.totalStateFloats],
      ['connectivity', 4 * layout.connectivityWords],
    ] as const)
      if (bytes > bindingLimit)
        throw new BackendUnavailableError(
          `the network's ${what} needs ${bytes} bytes in one buffer and this WebGPU device binds at most ${bindingLimit}`,
        );
    // Any validation error while setting up is a bug in the generated code or the sizes: fail, never run silently.
    device.pushErrorScope('validation');
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const state = device.createBuffer({
      size: Math.max(16, layout.totalStateFloats * 4),
      usage: storage,
    });
    const spikes = device.createBuffer({
      size: 4 * (spikeListBase(layout) + 1 + 2 * layout.totalNeurons * this.chunkSteps),
      usage: storage,
    });
    const conn = device.createBuffer({
      size: Math.max(16, 4 * layout.connectivityWords),
      usage: storage,
    });
    layout.forEachConnectivityPiece((piece, offset) =>
      device.queue.writeBuffer(conn, 4 * offset, piece),
    );
    const record = device.createBuffer({
      size: Math.max(16, 4 * layout.recordRow * this.chunkSteps),
      usage: storage,
    });
    const infoBuffer = device.createBuffer({
      size: STEP_UNIFORM_STRIDE * this.chunkSteps,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const initial = new Float32Array(layout.totalStateFloats);
    for (const k of plan.kernels) {
      for (const s of k.states) {
        const values = plan.initial.get(k.population)?.get(s);
        if (values === undefined)
          throw new InternalError(`no initial values for ${k.population}.${s}`);
        initial.set(values, layout.stateOffset(k.population, s));
      }
    }
    device.queue.writeBuffer(state, 0, initial);

    const bindGroupLayout = device.createBindGroupLayout({
      entries: [
        ...[0, 1, 2].map((binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: 'storage' as const },
        })),
        {
          binding: 3,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: 'uniform' as const, hasDynamicOffset: true, minBindingSize: 16 },
        },
        {
          binding: 4,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: 'read-only-storage' as const },
        },
      ],
    });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
    const cache = pipelineCache.get(device) ?? new Map<string, GPUComputePipeline>();
    pipelineCache.set(device, cache);
    const hash = createHash('sha256').update(this.source).digest('hex');
    this.pipelines = await Promise.all(
      this.dispatches.map(async ({ entryPoint }) => {
        const key = `${hash}:${entryPoint}`;
        const cached = cache.get(key);
        if (cached !== undefined) return cached;
        const pipeline = await device.createComputePipelineAsync({
          layout: pipelineLayout,
          compute: { module, entryPoint },
        });
        cache.set(key, pipeline);
        return pipeline;
      }),
    );
    this.bindGroup = device.createBindGroup({
      layout: bindGroupLayout,
      entries: [
        { binding: 0, resource: { buffer: state } },
        { binding: 1, resource: { buffer: spikes } },
        { binding: 2, resource: { buffer: record } },
        { binding: 3, resource: { buffer: infoBuffer, size: 16 } },
        { binding: 4, resource: { buffer: conn } },
      ],
    });
    this.buffers = { state, spikes, record, info: infoBuffer, conn };
    this.plan = plan;
    const setupError = await device.popErrorScope();
    if (setupError !== null)
      throw new InternalError(`WebGPU rejected the setup: ${setupError.message}`);
  }

  async runChunk(firstStep: number, steps: number): Promise<Chunk> {
    const { gpu, plan, layout, buffers, bindGroup } = this;
    if (
      gpu === undefined ||
      plan === undefined ||
      layout === undefined ||
      buffers === undefined ||
      bindGroup === undefined
    ) {
      throw new InternalError('WebGPU backend used before prepare()');
    }
    if (steps > this.chunkSteps)
      throw new InternalError(`chunk of ${steps} steps exceeds ${this.chunkSteps}`);
    const device = gpu.device;
    const info = new Uint32Array((STEP_UNIFORM_STRIDE / 4) * steps);
    for (let s = 0; s < steps; s++) info.set([firstStep + s, s], (STEP_UNIFORM_STRIDE / 4) * s);
    device.queue.writeBuffer(buffers.info, 0, info);
    device.queue.writeBuffer(buffers.spikes, 4 * spikeListBase(layout), new Uint32Array([0]));

    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let s = 0; s < steps; s++) {
      this.dispatches.forEach((d, p) => {
        pass.setPipeline(this.pipelines[p]!);
        pass.setBindGroup(0, bindGroup, [s * STEP_UNIFORM_STRIDE]);
        pass.dispatchWorkgroups(d.threads === 1 ? 1 : Math.ceil(d.threads / WORKGROUP_SIZE));
      });
    }
    pass.end();
    // Read back the spike count first, then only the pairs it says were written (not the whole capacity).
    const countRead = device.createBuffer({
      size: 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.copyBufferToBuffer(buffers.spikes, 4 * spikeListBase(layout), countRead, 0, 4);
    const recordBytes = 4 * layout.recordRow * steps;
    const recordRead =
      recordBytes === 0
        ? undefined
        : device.createBuffer({
            size: recordBytes,
            usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
          });
    if (recordRead !== undefined)
      encoder.copyBufferToBuffer(buffers.record, 0, recordRead, 0, recordBytes);
    device.pushErrorScope('validation');
    device.queue.submit([encoder.finish()]);
    const runError = await device.popErrorScope();
    if (runError !== null) throw new InternalError(`WebGPU rejected a step: ${runError.message}`);

    await countRead.mapAsync(GPUMapMode.READ);
    const count = new Uint32Array(countRead.getMappedRange())[0] ?? 0;
    countRead.unmap();
    countRead.destroy();
    let pairs = new Uint32Array(0);
    if (count > 0) {
      const pairRead = device.createBuffer({
        size: 8 * count,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const copy = device.createCommandEncoder();
      copy.copyBufferToBuffer(
        buffers.spikes,
        4 * (spikeListBase(layout) + 1),
        pairRead,
        0,
        8 * count,
      );
      device.queue.submit([copy.finish()]);
      await pairRead.mapAsync(GPUMapMode.READ);
      pairs = new Uint32Array(pairRead.getMappedRange()).slice();
      pairRead.unmap();
      pairRead.destroy();
    }
    let record = new Float64Array(0);
    if (recordRead !== undefined) {
      await recordRead.mapAsync(GPUMapMode.READ);
      record = Float64Array.from(new Float32Array(recordRead.getMappedRange()));
      recordRead.unmap();
      recordRead.destroy();
    }
    return {
      firstStep,
      steps,
      spikes: splitSpikes(pairs, firstStep, layout, plan.spikeRecords),
      traces: splitTraces(record, steps, layout),
    };
  }

  async readState(population: string): Promise<ReadonlyMap<string, Float64Array>> {
    const { plan, layout } = this;
    const kernel = plan?.kernels.find((k) => k.population === population);
    if (kernel === undefined || layout === undefined)
      throw new InternalError(`no population ${population}`);
    const all = new Float32Array(layout.totalStateFloats);
    await this.visitState((offset, values) => all.set(values, offset));
    return kernelStates(all, layout, kernel);
  }

  async visitState(
    visit: (offset: number, values: Float32Array | Float64Array) => void,
  ): Promise<void> {
    const { gpu, layout, buffers } = this;
    if (gpu === undefined || layout === undefined || buffers === undefined)
      throw new InternalError('WebGPU backend used before prepare()');
    const total = layout.totalStateFloats;
    if (total === 0) return;
    // One mappable buffer, reused for every slice: at most one slice of a large state is mapped.
    const read = gpu.device.createBuffer({
      size: 4 * Math.min(STATE_SLICE_FLOATS, total),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      for (let offset = 0; offset < total; offset += STATE_SLICE_FLOATS) {
        const count = Math.min(STATE_SLICE_FLOATS, total - offset);
        const encoder = gpu.device.createCommandEncoder();
        encoder.copyBufferToBuffer(buffers.state, 4 * offset, read, 0, 4 * count);
        gpu.device.queue.submit([encoder.finish()]);
        await read.mapAsync(GPUMapMode.READ, 0, 4 * count);
        visit(offset, new Float32Array(read.getMappedRange(0, 4 * count)));
        read.unmap();
      }
    } finally {
      read.destroy();
    }
  }

  dispose(): void {
    if (this.buffers !== undefined) for (const b of Object.values(this.buffers)) b.destroy();
    this.buffers = undefined;
    this.gpu?.close();
    this.gpu = undefined;
  }
}
