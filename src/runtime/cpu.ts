import { availableParallelism, cpus } from 'node:os';
import type { BufferLayout } from '../codegen/layout.js';
import { layoutOf } from '../codegen/module.js';
import {
  PARALLEL_MIN_ELEMENTS,
  kernelsReadConnectivity,
  threadRanges,
  wasmMemoryPlan,
} from '../codegen/wasm/kernel.js';
import type { Precision } from '../codegen/printer.js';
import { InternalError } from '../diagnostics/diagnostic.js';
import {
  type Backend,
  type Chunk,
  type SimulationPlan,
  kernelStates,
  sortSpikes,
} from './backend.js';
import {
  type CpuKernelLanguage,
  type CpuKernels,
  SpikePairs,
  jsKernels,
  wasmKernels,
} from './cpu-kernels.js';

/**
 * Runs the generated kernels on the CPU, in float32 (as a GPU computes: WebAssembly's float32
 * instructions by default, or JavaScript rounding every operation with Math.fround) or in
 * float64 (the reference mode, JavaScript).
 */
export class CpuBackend implements Backend {
  readonly name = 'cpu';
  device: string;
  private plan: SimulationPlan | undefined;
  private layout: BufferLayout | undefined;
  private kernels: CpuKernels | undefined;
  /** Backend.note: why a network runs on the JavaScript kernels when WebAssembly was asked for. */
  note: string | undefined;
  /** The generated source (JavaScript or WebAssembly text), for debugging. */
  source = '';
  /** A chunk's spikes, kept from chunk to chunk so that it grows once. */
  private readonly spikes = new SpikePairs();

  /**
   * `maxWasmBytes`: the most memory a WebAssembly module may have (4 GiB, all that 32-bit
   * addresses reach); a network whose connectivity does not fit delivers on the host, and one
   * that does not fit even so (or whose kernels read the connectivity) runs on the JavaScript
   * kernels, which compute the same bits, more slowly. `threads`: how many threads may run
   * the WebAssembly kernels (default: one per core, at most 16); only kernels of at least
   * `parallelMin` elements are split, and a network without one runs on one thread.
   */
  constructor(
    readonly precision: Precision,
    readonly language: CpuKernelLanguage = precision === 'f32' ? 'wasm' : 'js',
    private readonly maxWasmBytes = 2 ** 32,
    private readonly threads = Math.min(16, availableParallelism()),
    private readonly parallelMin = PARALLEL_MIN_ELEMENTS,
  ) {
    if (precision === 'f64' && language !== 'js')
      throw new InternalError('the WebAssembly kernels are float32 only');
    if (!Number.isInteger(threads) || threads < 1)
      throw new InternalError(`${threads} threads for the CPU backend`);
    this.device = describeCpu(language, precision, 1);
  }

  async prepare(plan: SimulationPlan): Promise<void> {
    const layout = layoutOf(plan);
    const recordSteps = this.maxChunkSteps(plan);
    const ranges = threadRanges(plan.kernels, this.threads, this.parallelMin);
    const memoryBytes = (deliveryInModule: boolean): number =>
      wasmMemoryPlan(plan.kernels, layout, recordSteps, ranges, deliveryInModule).bytes;
    // The connectivity is most of a large network: without it in the memory, the host delivers.
    const deliveryInModule = memoryBytes(true) <= this.maxWasmBytes;
    const readsConnectivity = kernelsReadConnectivity(plan.kernels);
    const wasm =
      this.language !== 'js' &&
      (deliveryInModule || (!readsConnectivity && memoryBytes(false) <= this.maxWasmBytes));
    this.note =
      this.language === 'js' || wasm
        ? undefined
        : `the network needs ${inBytes(memoryBytes(readsConnectivity))}${readsConnectivity ? ' with its connectivity, which its kernels read' : ' even without its connectivity'}, more than the ${inBytes(this.maxWasmBytes)} a WebAssembly memory holds: the cpu backend runs it on the JavaScript kernels (the same results, several times slower)`;
    const kernels = wasm
      ? await wasmKernels(plan, layout, recordSteps, {
          simd: this.language === 'wasm',
          ranges,
          deliveryInModule,
        })
      : jsKernels(plan, layout, this.precision, recordSteps);
    this.device = describeCpu(
      wasm ? this.language : 'js',
      this.precision,
      kernels.threads,
      wasm && !deliveryInModule,
    );
    for (const k of plan.kernels) {
      const initial = plan.initial.get(k.population);
      for (const s of k.states) {
        const values = initial?.get(s);
        if (values === undefined)
          throw new InternalError(`no initial values for ${k.population}.${s}`);
        kernels.state.set(values, layout.stateOffset(k.population, s));
      }
    }
    this.source = kernels.source;
    this.kernels = kernels;
    this.plan = plan;
    this.layout = layout;
  }

  maxChunkSteps(plan: SimulationPlan): number {
    // Bounded memory: at most about 8M recorded floats per chunk. Bounded time: about 2e7
    // neuron updates (a fraction of a second), since the run can be interrupted (Ctrl-C) only
    // between chunks, when the kernels hand control back.
    const row = plan.traces.reduce((n, t) => n + t.range.end - t.range.start, 0);
    const neurons = plan.network.populations.reduce((n, p) => n + p.size, 0);
    return Math.max(
      1,
      Math.min(
        plan.steps,
        Math.floor(8_000_000 / Math.max(1, row)),
        Math.floor(20_000_000 / Math.max(1, neurons)),
      ),
    );
  }

  async runChunk(firstStep: number, steps: number): Promise<Chunk> {
    const { plan, layout, kernels } = this;
    if (plan === undefined || layout === undefined || kernels === undefined)
      throw new InternalError('CPU backend used before prepare()');
    const { spikes } = this;
    spikes.clear();
    for (let s = 0; s < steps; s++) {
      const step = firstStep + s;
      kernels.deliver(step);
      kernels.step(step, s, spikes);
    }
    const record = Float64Array.from(kernels.record.subarray(0, steps * layout.recordRow));
    return {
      firstStep,
      steps,
      spikes: splitSpikes(spikes.view(), firstStep, layout, plan.spikeRecords),
      traces: splitTraces(record, steps, layout),
    };
  }

  async readState(population: string): Promise<ReadonlyMap<string, Float64Array>> {
    const kernel = this.plan?.kernels.find((k) => k.population === population);
    if (kernel === undefined || this.layout === undefined || this.kernels === undefined)
      throw new InternalError(`no population ${population}`);
    return kernelStates(this.kernels.state, this.layout, kernel);
  }

  async visitState(
    visit: (offset: number, values: Float32Array | Float64Array) => void,
  ): Promise<void> {
    if (this.kernels === undefined) throw new InternalError('CPU backend used before prepare()');
    visit(0, this.kernels.state);
  }

  dispose(): void {
    this.kernels?.dispose();
    this.kernels = undefined;
  }
}

/** A size in memory, in the largest of GiB, MiB and KiB that makes it at least 1: '4 GiB', '5.3 GiB'. */
function inBytes(bytes: number): string {
  const [unit, size] =
    bytes >= 2 ** 30 ? ['GiB', 2 ** 30] : bytes >= 2 ** 20 ? ['MiB', 2 ** 20] : ['KiB', 2 ** 10];
  return `${Number((bytes / size).toFixed(1))} ${unit}`;
}

/** e.g. "AMD EPYC (WebAssembly SIMD, float32, one thread)". */
function describeCpu(
  language: CpuKernelLanguage,
  precision: Precision,
  threads: number,
  hostDelivery = false,
): string {
  const how = { wasm: 'WebAssembly SIMD', 'wasm-one-lane': 'WebAssembly', js: 'JavaScript' }[
    language
  ];
  const on = threads === 1 ? 'one thread' : `${threads} threads`;
  const delivery = hostDelivery
    ? ', delivery in JavaScript: the connectivity does not fit in a WebAssembly memory'
    : '';
  return `${cpus()[0]?.model.trim() ?? 'CPU'} (${how}, ${precision === 'f32' ? 'float32' : 'float64'}, ${on}${delivery})`;
}

/** (chunk step, global index) pairs to per-population spike lists ordered by step then index, with absolute steps. */
export function splitSpikes(
  pairs: Uint32Array,
  firstStep: number,
  layout: BufferLayout,
  recorded: readonly string[],
): Chunk['spikes'] {
  // One pass per recorded population (there are few): count its spikes, then copy them out.
  return new Map(
    recorded.map((population) => {
      const start = layout.neuronOffset(population);
      const end = start + layout.sizeOf(population);
      let count = 0;
      for (let k = 1; k < pairs.length; k += 2) if (pairs[k]! >= start && pairs[k]! < end) count++;
      const steps = new Uint32Array(count);
      const indices = new Uint32Array(count);
      let n = 0;
      for (let k = 1; k < pairs.length; k += 2) {
        const global = pairs[k]!;
        if (global < start || global >= end) continue;
        steps[n] = firstStep + pairs[k - 1]!;
        indices[n] = global - start;
        n++;
      }
      return [population, sortSpikes(steps, indices)];
    }),
  );
}

/** The record buffer (steps x row) split into one steps x width array per trace. */
export function splitTraces(
  record: Float64Array,
  steps: number,
  layout: BufferLayout,
): Float64Array[] {
  return layout.traces.map((t, r) => {
    const width = t.end - t.start;
    const out = new Float64Array(steps * width);
    const offset = layout.traceOffset(r);
    for (let s = 0; s < steps; s++)
      out.set(
        record.subarray(s * layout.recordRow + offset, s * layout.recordRow + offset + width),
        s * width,
      );
    return out;
  });
}
