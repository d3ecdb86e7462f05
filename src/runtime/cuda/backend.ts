import { kernelPrinter } from '../../codegen/emit.js';
import { CUDA_BLOCK_SIZE, emitCudaModule } from '../../codegen/cuda/kernel.js';
import { CudaPrinter } from '../../codegen/cuda/printer.js';
import type { BufferLayout } from '../../codegen/layout.js';
import { layoutOf } from '../../codegen/module.js';
import type { Precision } from '../../codegen/printer.js';
import { spikeListBase, stepDispatches } from '../../codegen/wgsl/kernel.js';
import { InternalError } from '../../diagnostics/diagnostic.js';
import { type Backend, type Chunk, type SimulationPlan, STATE_SLICE_FLOATS } from '../backend.js';
import { splitSpikes, splitTraces } from '../cpu.js';
import { BackendUnavailableError } from '../webgpu/backend.js';
import { CudaDriver, type DeviceInfo, type Handle, loadKoffi } from './driver.js';
import { RUNTIME_PREAMBLE, compilerAvailable, loadCudaModule } from './toolchain.js';

type Koffi = typeof import('koffi').default;

/**
 * How a chunk's kernels are launched.
 * - 'direct': one cuLaunchKernel per kernel per step.
 * - 'graph': the launches of a whole chunk are captured once into a CUDA graph (per chunk
 *   length) and the graph is replayed for every chunk of that length.
 * - 'auto' (the default): direct for a chunk length seen for the first time, a graph from the
 *   second chunk of that length on (a run of many chunks gets graphs, a one-chunk run does not
 *   pay for a capture it would use once).
 * The environment variable SPIKEFORGE_CUDA_LAUNCH (auto|graph|direct) sets the default, so
 * that both can be timed on a GPU machine without changing code.
 */
export type CudaLaunchMode = 'auto' | 'graph' | 'direct';

export interface CudaBackendOptions {
  /** float (the default, like every GPU backend) or double. */
  readonly precision?: Precision;
  readonly launch?: CudaLaunchMode;
  /** Device ordinal among the visible devices (CUDA_VISIBLE_DEVICES); 0 by default. */
  readonly device?: number;
  /** Environment for the library and cache lookups (tests); process.env by default. */
  readonly env?: NodeJS.ProcessEnv;
  /** At most this many steps per chunk (for timing launch modes); the memory bound applies anyway. */
  readonly chunkSteps?: number;
}

/** Largest chunk; each chunk is one graph of chunk x kernels nodes. */
const MAX_CHUNK_STEPS = 2048;
/** Device memory for the spike list and for the record rows of one chunk, each. */
const CHUNK_BUFFER_BYTES = 256 * 1024 * 1024;

/** Counters for timing the launch strategies on a GPU (see README.md in this folder). */
export interface CudaLaunchStats {
  directChunks: number;
  graphChunks: number;
  captures: number;
  /** Seconds spent capturing and instantiating graphs. */
  captureSeconds: number;
  /** Seconds from the first launch of a chunk to its results on the host, summed. */
  chunkSeconds: number;
  /** GPU seconds of the chunks' kernels (CUDA events around each chunk's launches), summed. */
  kernelSeconds: number;
  /** Why graphs were given up (the chunks were then launched directly), if they were. */
  graphError?: string;
}

/** Device pointers (mutable: filled one by one in prepare, so that dispose frees what exists). */
interface Buffers {
  state: bigint;
  events: bigint;
  record: bigint;
  conn: bigint;
  /** One u32: the first step of the chunk being run (the kernels add their chunk step). */
  firstStep: bigint;
}

interface Graph {
  readonly graph: Handle;
  readonly exec: Handle;
}

/**
 * The longest chunk for a plan's network, however long the run (the standalone program, whose
 * length is chosen when it runs, takes the shorter of this and its run): room for every neuron
 * to spike in every step, and for its record rows.
 */
export function cudaMaxChunkSteps(
  plan: SimulationPlan,
  precision: Precision,
  budget = CHUNK_BUFFER_BYTES,
): number {
  const neurons = plan.kernels.reduce((n, k) => n + k.size, 0);
  const row = plan.traces.reduce((n, t) => n + t.range.end - t.range.start, 0);
  const bySpikes = Math.floor((budget / 4 - 1) / (2 * Math.max(1, neurons)));
  const byRecord = Math.floor(budget / (precision === 'f32' ? 4 : 8) / Math.max(1, row));
  return Math.max(1, Math.min(MAX_CHUNK_STEPS, bySpikes, byRecord));
}

/** The longest chunk for a plan's run (the runtime and the standalone program use the same rule). */
export function cudaChunkSteps(
  plan: SimulationPlan,
  precision: Precision,
  budget = CHUNK_BUFFER_BYTES,
): number {
  return Math.max(1, Math.min(plan.steps, cudaMaxChunkSteps(plan, precision, budget)));
}

/** The probe of `probeCuda`: a device and a compiler, or the one sentence why not. */
export type CudaProbe =
  | { readonly ok: true; readonly description: string }
  | { readonly ok: false; readonly reason: string };

/**
 * Whether the CUDA backend can run here, without compiling anything: the driver library, a
 * device, and NVRTC or nvcc. The reason is the sentence `prepare` would throw.
 */
export async function probeCuda(env: NodeJS.ProcessEnv = process.env): Promise<CudaProbe> {
  try {
    const koffi = await loadKoffi();
    const driver = CudaDriver.load(koffi, env);
    const info = driver.openDevice(0);
    const compiler = compilerAvailable(koffi, env);
    if (compiler === undefined)
      return { ok: false, reason: 'CUDA backend unavailable: NVRTC and nvcc not found' };
    return { ok: true, description: `${info.name} (sm_${info.arch}), ${compiler}` };
  } catch (error) {
    if (error instanceof BackendUnavailableError) return { ok: false, reason: error.message };
    return {
      ok: false,
      reason: `CUDA backend unavailable: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

/**
 * Runs the generated CUDA on an NVIDIA GPU through the driver API (libcuda.so.1) and NVRTC,
 * both loaded at run time with koffi: nothing CUDA is needed to install spikeforge, and
 * without a driver `prepare` throws BackendUnavailableError with one sentence.
 *
 * Same buffers and step order as the WebGPU backend (codegen/layout.ts, stepDispatches):
 * state, events (rings, counters, spike list), record, connectivity; a chunk zeroes the spike
 * counter, launches every step's kernels, then copies back the spike list and record rows.
 * The kernels read the step from device memory (emitCudaModule's stepSource 'device'), so
 * that a chunk's launches are the same for every chunk of that length and can be replayed
 * from a CUDA graph (see CudaLaunchMode and README.md).
 */
export class CudaBackend implements Backend {
  readonly name = 'cuda';
  device = 'CUDA';
  /** The generated CUDA (with the runtime preamble), for debugging. */
  source = '';
  readonly precision: Precision;
  readonly launchMode: CudaLaunchMode;
  readonly stats: CudaLaunchStats = {
    directChunks: 0,
    graphChunks: 0,
    captures: 0,
    captureSeconds: 0,
    chunkSeconds: 0,
    kernelSeconds: 0,
  };
  private readonly env: NodeJS.ProcessEnv;
  private readonly ordinal: number;
  private readonly chunkLimit: number;
  private koffi: Koffi | undefined;
  private driver: CudaDriver | undefined;
  private info: DeviceInfo | undefined;
  private context: Handle | undefined;
  private module: Handle | undefined;
  private stream: Handle | undefined;
  /** Recorded before and after each chunk's launches, for stats.kernelSeconds. */
  private events: { start: Handle; end: Handle } | undefined;
  private functions: { fn: Handle; blocks: number; threads: number }[] = [];
  private buffers: Partial<Buffers> = {};
  /** Native memory for cuLaunchKernel's arguments: six values, then six pointers to them. */
  private params: { pointer: bigint; chunkStep: Uint32Array } | undefined;
  private plan: SimulationPlan | undefined;
  private layout: BufferLayout | undefined;
  private chunkSteps = 0;
  private readonly graphs = new Map<number, Graph>();
  private readonly seenLengths = new Set<number>();
  private graphsUsable = true;

  constructor(options: CudaBackendOptions = {}) {
    this.precision = options.precision ?? 'f32';
    this.env = options.env ?? process.env;
    this.ordinal = options.device ?? 0;
    this.chunkLimit = Math.max(1, options.chunkSteps ?? Number.POSITIVE_INFINITY);
    const fromEnv = this.env['SPIKEFORGE_CUDA_LAUNCH'];
    this.launchMode =
      options.launch ??
      (fromEnv === 'graph' || fromEnv === 'direct' || fromEnv === 'auto' ? fromEnv : 'auto');
  }

  maxChunkSteps(plan: SimulationPlan): number {
    if (plan === this.plan && this.chunkSteps > 0) return this.chunkSteps;
    return Math.min(this.chunkLimit, cudaChunkSteps(plan, this.precision));
  }

  async prepare(plan: SimulationPlan): Promise<void> {
    const koffi = await loadKoffi();
    this.koffi = koffi;
    const driver = CudaDriver.load(koffi, this.env);
    const info = driver.openDevice(this.ordinal);
    this.driver = driver;
    this.info = info;
    this.context = driver.retainPrimaryContext(info.device);
    this.graphsUsable = driver.hasGraphs;

    const layout = layoutOf(plan);
    const printer = kernelPrinter(new CudaPrinter({ precision: this.precision }));
    this.source =
      RUNTIME_PREAMBLE +
      emitCudaModule(plan.kernels, layout, printer, plan.network.seed, this.precision, {
        stepSource: 'device',
      });
    const loaded = loadCudaModule(driver, koffi, this.source, info.arch, this.env);
    this.module = loaded.module;
    this.functions = stepDispatches(layout, plan.kernels)
      .filter((d) => d.threads > 0)
      .map((d) => {
        const threads = d.threads === 1 ? 1 : CUDA_BLOCK_SIZE;
        return {
          fn: driver.getFunction(loaded.module, d.entryPoint),
          blocks: Math.ceil(d.threads / threads),
          threads,
        };
      });

    const real = this.precision === 'f32' ? 4 : 8;
    this.chunkSteps = Math.min(this.chunkLimit, cudaChunkSteps(plan, this.precision));
    const base = spikeListBase(layout);
    const buffers: Buffers = {
      state: (this.buffers.state = driver.alloc(real * layout.totalStateFloats)),
      events: (this.buffers.events = driver.alloc(
        4 * (base + 1 + 2 * layout.totalNeurons * this.chunkSteps),
      )),
      record: (this.buffers.record = driver.alloc(real * layout.recordRow * this.chunkSteps)),
      conn: (this.buffers.conn = driver.alloc(4 * layout.connectivityWords)),
      firstStep: (this.buffers.firstStep = driver.alloc(4)),
    };
    const initial =
      this.precision === 'f32'
        ? new Float32Array(layout.totalStateFloats)
        : new Float64Array(layout.totalStateFloats);
    for (const k of plan.kernels) {
      for (const s of k.states) {
        const values = plan.initial.get(k.population)?.get(s);
        if (values === undefined)
          throw new InternalError(`no initial values for ${k.population}.${s}`);
        initial.set(values, layout.stateOffset(k.population, s));
      }
    }
    driver.copyToDevice(buffers.state, initial);
    layout.forEachConnectivityPiece((piece, offset) =>
      driver.copyToDevice(buffers.conn + BigInt(4 * offset), piece),
    );
    // Rings and counters start empty; the spike list is reset per chunk.
    driver.fill32(buffers.events, 0, base + 1);
    driver.fill32(buffers.firstStep, 0, 1);
    this.stream = driver.createStream();
    this.events = { start: driver.createEvent(), end: driver.createEvent() };

    const pointer = koffi.alloc('uint8_t', 96) as bigint;
    const view = koffi.view(pointer, 96);
    const words = new BigUint64Array(view);
    [buffers.state, buffers.events, buffers.record, buffers.conn, buffers.firstStep].forEach(
      (p, k) => (words[k] = p),
    );
    for (let k = 0; k < 6; k++) words[6 + k] = pointer + BigInt(8 * k);
    this.params = { pointer, chunkStep: new Uint32Array(view, 40, 1) };

    this.plan = plan;
    this.layout = layout;
    const version = `${Math.floor(info.driverVersion / 1000)}.${(info.driverVersion % 1000) / 10}`;
    this.device = `${info.name} (sm_${info.arch}, driver CUDA ${version}, ${this.precision === 'f32' ? 'float32' : 'float64'}, ${loaded.origin})`;
  }

  /** Every step's launches of a chunk, on the stream (recorded into a graph while capturing). */
  private launchSteps(steps: number): void {
    const { driver, params, stream } = this;
    if (driver === undefined || params === undefined || stream === undefined)
      throw new InternalError('CUDA backend used before prepare()');
    const argumentsPointer = params.pointer + 48n;
    for (let s = 0; s < steps; s++) {
      // cuLaunchKernel copies the arguments when called: the next step may overwrite them.
      params.chunkStep[0] = s;
      for (const f of this.functions)
        driver.launch(f.fn, f.blocks, f.threads, stream, argumentsPointer);
    }
  }

  /**
   * The graph of a chunk length, captured on first use. Undefined, and no graphs from then
   * on, when the driver cannot capture or instantiate one (the chunk is launched directly).
   */
  private graphFor(steps: number): Graph | undefined {
    const cached = this.graphs.get(steps);
    if (cached !== undefined) return cached;
    const { driver, stream } = this;
    if (driver === undefined || stream === undefined)
      throw new InternalError('CUDA backend used before prepare()');
    const start = performance.now();
    let graph: Handle | undefined;
    try {
      driver.beginCapture(stream);
      try {
        this.launchSteps(steps);
      } finally {
        // Ends the capture even when a launch failed, so that the stream is usable again.
        graph = driver.endCapture(stream);
      }
      const result = { graph, exec: driver.instantiate(graph) };
      this.graphs.set(steps, result);
      this.stats.captures++;
      this.stats.captureSeconds += (performance.now() - start) / 1000;
      return result;
    } catch (error) {
      if (graph !== undefined) driver.destroyGraph(graph, undefined);
      this.graphsUsable = false;
      this.stats.graphError = error instanceof Error ? error.message : String(error);
      return undefined;
    }
  }

  private useGraph(steps: number): boolean {
    if (!this.graphsUsable || this.launchMode === 'direct') return false;
    if (this.launchMode === 'graph' || this.graphs.has(steps)) return true;
    const seen = this.seenLengths.has(steps);
    this.seenLengths.add(steps);
    return seen;
  }

  async runChunk(firstStep: number, steps: number): Promise<Chunk> {
    const { driver, plan, layout, stream, events } = this;
    const buffers = this.buffers as Buffers;
    if (
      driver === undefined ||
      plan === undefined ||
      layout === undefined ||
      stream === undefined ||
      events === undefined ||
      this.params === undefined
    )
      throw new InternalError('CUDA backend used before prepare()');
    if (steps > this.chunkSteps)
      throw new InternalError(`chunk of ${steps} steps exceeds ${this.chunkSteps}`);
    const start = performance.now();
    const base = spikeListBase(layout);
    const counter = buffers.events + BigInt(4 * base);
    driver.fill32Async(buffers.firstStep, firstStep, 1, stream);
    driver.fill32Async(counter, 0, 1, stream);
    const graph = this.useGraph(steps) ? this.graphFor(steps) : undefined;
    driver.recordEvent(events.start, stream);
    if (graph !== undefined) {
      driver.launchGraph(graph.exec, stream);
      this.stats.graphChunks++;
    } else {
      this.launchSteps(steps);
      this.stats.directChunks++;
    }
    driver.recordEvent(events.end, stream);
    driver.synchronize(stream);
    this.stats.kernelSeconds += driver.elapsedSeconds(events.start, events.end);
    const count = new Uint32Array(1);
    driver.copyToHost(count, counter);
    const spikes = count[0]!;
    if (spikes > layout.totalNeurons * steps)
      throw new InternalError(
        `CUDA spike list overflow: ${spikes} spikes in ${steps} steps of ${layout.totalNeurons} neurons`,
      );
    const pairs = new Uint32Array(2 * spikes);
    driver.copyToHost(pairs, counter + 4n);
    let record = new Float64Array(0);
    if (layout.recordRow > 0) {
      const rows =
        this.precision === 'f32'
          ? new Float32Array(layout.recordRow * steps)
          : new Float64Array(layout.recordRow * steps);
      driver.copyToHost(rows, buffers.record);
      record = rows instanceof Float64Array ? rows : Float64Array.from(rows);
    }
    this.stats.chunkSeconds += (performance.now() - start) / 1000;
    return {
      firstStep,
      steps,
      spikes: splitSpikes(pairs, firstStep, layout, plan.spikeRecords),
      traces: splitTraces(record, steps, layout),
    };
  }

  async readState(population: string): Promise<ReadonlyMap<string, Float64Array>> {
    const { driver, plan, layout } = this;
    const kernel = plan?.kernels.find((k) => k.population === population);
    const state = this.buffers.state;
    if (driver === undefined || kernel === undefined || layout === undefined || state === undefined)
      throw new InternalError(`no population ${population}`);
    const real = this.precision === 'f32' ? 4 : 8;
    return new Map(
      kernel.states.map((s) => {
        const values =
          this.precision === 'f32' ? new Float32Array(kernel.size) : new Float64Array(kernel.size);
        driver.copyToHost(values, state + BigInt(real * layout.stateOffset(population, s)));
        return [s, Float64Array.from(values)];
      }),
    );
  }

  async visitState(
    visit: (offset: number, values: Float32Array | Float64Array) => void,
  ): Promise<void> {
    const { driver, layout } = this;
    const state = this.buffers.state;
    if (driver === undefined || layout === undefined || state === undefined)
      throw new InternalError('CUDA backend used before prepare()');
    const total = layout.totalStateFloats;
    const real = this.precision === 'f32' ? 4 : 8;
    // One host array, reused for every slice (a view from its start for the last, shorter one).
    const host =
      this.precision === 'f32'
        ? new Float32Array(Math.min(STATE_SLICE_FLOATS, total))
        : new Float64Array(Math.min(STATE_SLICE_FLOATS, total));
    for (let offset = 0; offset < total; offset += STATE_SLICE_FLOATS) {
      const values = host.subarray(0, Math.min(STATE_SLICE_FLOATS, total - offset));
      driver.copyToHost(values, state + BigInt(real * offset));
      visit(offset, values);
    }
  }

  dispose(): void {
    const driver = this.driver;
    if (driver !== undefined && this.context !== undefined) {
      try {
        driver.setCurrent(this.context);
        if (this.stream !== undefined) driver.synchronize(this.stream);
      } catch {
        // Freeing goes on: the process may be on its way out after a failure.
      }
      for (const g of this.graphs.values()) driver.destroyGraph(g.graph, g.exec);
      for (const p of Object.values(this.buffers)) if (p !== undefined) driver.free(p);
      if (this.events !== undefined) {
        driver.destroyEvent(this.events.start);
        driver.destroyEvent(this.events.end);
      }
      if (this.stream !== undefined) driver.destroyStream(this.stream);
      if (this.module !== undefined) driver.unloadModule(this.module);
      if (this.info !== undefined) driver.releasePrimaryContext(this.info.device);
    }
    if (this.params !== undefined) this.koffi?.free(this.params.pointer);
    this.graphs.clear();
    this.buffers = {};
    this.params = undefined;
    this.stream = undefined;
    this.events = undefined;
    this.module = undefined;
    this.context = undefined;
    this.driver = undefined;
    this.plan = undefined;
  }
}
