import { cpus } from 'node:os';
import type { KernelPrinter } from '../codegen/emit.js';
import { JS_KERNEL_PARAMETERS, emitJsPopulation } from '../codegen/js/kernel.js';
import { forEachTarget } from '../codegen/connectivity.js';
import type { BufferLayout } from '../codegen/layout.js';
import { layoutOf } from '../codegen/module.js';
import type { Precision } from '../codegen/printer.js';
import { InternalError } from '../diagnostics/diagnostic.js';
import { boxMuller, randomU32x4, u32ToUniform01 } from '../random/philox.js';
import {
  type Backend,
  type Chunk,
  type SimulationPlan,
  kernelStates,
  sortSpikes,
} from './backend.js';

type StepFunction = (
  state: Float32Array | Float64Array,
  record: Float32Array | Float64Array,
  spikes: number[],
  rt: RandomRuntime,
  step: number,
  chunkStep: number,
  events: Uint32Array,
  conn: Uint32Array,
) => void;

/** Philox draws for generated JavaScript, keyed by the network seed. */
interface RandomRuntime {
  normal(stream: number, index: number, step: number, purpose: number): number;
  uniform(stream: number, index: number, step: number, purpose: number): number;
}

/**
 * Runs the generated JavaScript kernels on the CPU, in float32 (every operation
 * rounded with Math.fround, as a GPU computes) or float64 (the reference mode).
 */
export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly device: string;
  private plan: SimulationPlan | undefined;
  private layout: BufferLayout | undefined;
  private state: Float32Array | Float64Array = new Float32Array(0);
  private steps: StepFunction[] = [];
  private rt: RandomRuntime | undefined;
  /** Spike rings and delivery counters, laid out as in the GPU's events buffer. */
  private events = new Uint32Array(0);
  /** The generated source, for `compile --target js` and debugging. */
  source = '';

  constructor(
    readonly precision: Precision,
    private readonly printerFor: (precision: Precision) => KernelPrinter,
  ) {
    this.device = `${cpus()[0]?.model.trim() ?? 'CPU'} (JavaScript, ${precision === 'f32' ? 'float32' : 'float64'}, one thread)`;
  }

  async prepare(plan: SimulationPlan): Promise<void> {
    const layout = layoutOf(plan);
    const printer = this.printerFor(this.precision);
    const bodies = plan.kernels.map((k) => emitJsPopulation(k, layout, printer, this.precision));
    // Kernels first: the prelude holds only the helpers they call.
    const prelude = printer.prelude();
    this.source = [prelude, ...bodies].join('\n\n');
    this.steps = bodies.map(
      (b) =>
        new Function(...JS_KERNEL_PARAMETERS, `'use strict';\n${prelude}\n${b}`) as StepFunction,
    );
    const State = this.precision === 'f32' ? Float32Array : Float64Array;
    this.events = new Uint32Array(layout.ringWords + layout.countWords);
    this.state = new State(layout.totalStateFloats);
    for (const k of plan.kernels) {
      const initial = plan.initial.get(k.population);
      for (const s of k.states) {
        const values = initial?.get(s);
        if (values === undefined)
          throw new InternalError(`no initial values for ${k.population}.${s}`);
        this.state.set(values, layout.stateOffset(k.population, s));
      }
    }
    const seed = plan.network.seed;
    const round = this.precision === 'f32' ? Math.fround : (x: number): number => x;
    this.rt = {
      normal: (stream, index, step, purpose) => {
        const w = randomU32x4(seed, stream, index, step, purpose);
        return round(boxMuller(w[0], w[1])[0]);
      },
      uniform: (stream, index, step, purpose) =>
        u32ToUniform01(randomU32x4(seed, stream, index, step, purpose)[0]),
    };
    this.plan = plan;
    this.layout = layout;
  }

  maxChunkSteps(plan: SimulationPlan): number {
    // Bounded memory: at most about 8M recorded floats per chunk.
    const row = plan.traces.reduce((n, t) => n + t.range.end - t.range.start, 0);
    return Math.max(1, Math.min(plan.steps, Math.floor(8_000_000 / Math.max(1, row))));
  }

  async runChunk(firstStep: number, steps: number): Promise<Chunk> {
    const { plan, layout, rt } = this;
    if (plan === undefined || layout === undefined || rt === undefined)
      throw new InternalError('CPU backend used before prepare()');
    const record = new Float64Array(steps * layout.recordRow);
    const rowBuffer =
      this.precision === 'f32' ? new Float32Array(steps * layout.recordRow) : record;
    const spikes: number[] = [];
    const conn = layout.connectivity;
    for (let s = 0; s < steps; s++) {
      const step = firstStep + s;
      deliverOnHost(layout, this.events, step, plan.network.seed);
      for (const kernel of this.steps)
        kernel(this.state, rowBuffer, spikes, rt, step, s, this.events, conn);
    }
    if (rowBuffer !== record) record.set(rowBuffer);
    return {
      firstStep,
      steps,
      spikes: splitSpikes(spikes, firstStep, layout, plan.spikeRecords),
      traces: splitTraces(record, steps, layout),
    };
  }

  async readState(population: string): Promise<ReadonlyMap<string, Float64Array>> {
    const kernel = this.plan?.kernels.find((k) => k.population === population);
    if (kernel === undefined || this.layout === undefined)
      throw new InternalError(`no population ${population}`);
    return kernelStates(this.state, this.layout, kernel);
  }

  dispose(): void {
    this.steps = [];
  }
}

/**
 * Step 1 of language.md's step on the host, word for word what the delivery
 * kernels do (wgsl/kernel.ts emitDelivery): each spike emitted ringDelay steps
 * ago adds to its delivery's counter (1, or the synapse's integer weight, in
 * the row of its arrival step). Then this step's ring slots are emptied for
 * the spikes about to be emitted.
 */
export function deliverOnHost(
  layout: BufferLayout,
  events: Uint32Array,
  step: number,
  seed: number,
): void {
  for (const delivery of layout.deliveries) {
    const { route, range } = delivery;
    const p = route.projection;
    const ring = layout.ring(delivery.source)!;
    const d = delivery.ringDelay;
    const slot = ring.offset + ((step + ring.slots * d - d) % ring.slots) * ring.stride;
    const c = layout.counter(delivery.counter.name);
    const rows = route.connectivity.kind === 'rows' ? route.connectivity.rows : undefined;
    const { weights, delays } = delivery;
    // Uint32Array stores wrap modulo 2^32, like the GPU's u32 atomics.
    const arrivalRow = (k: number): number =>
      delays === undefined ? 0 : ((step + delays[k]! - d) % c.slots) * c.size;
    const nPost = p.postRange.end - p.postRange.start;
    const postBase = c.offset + p.postRange.start;
    const spikes = events[slot]!;
    for (let s = 0; s < spikes; s++) {
      const jl = events[slot + 1 + s]! - range.start;
      if (jl < 0 || jl >= range.end - range.start) continue;
      switch (delivery.targets) {
        case 'post':
          if (rows === undefined)
            forEachTarget(route.connectivity, jl, nPost, seed, (i) => {
              events[postBase + i]! += 1;
            });
          else {
            // The hot loop of a CPU run: no closure call per synapse in the common case.
            const { outStart, outTargets } = rows;
            const end = outStart[jl + 1]!;
            if (weights === undefined && delays === undefined)
              for (let k = outStart[jl]!; k < end; k++) events[postBase + outTargets[k]!]! += 1;
            else
              for (let k = outStart[jl]!; k < end; k++)
                events[postBase + arrivalRow(k) + outTargets[k]!]! += weights?.[k] ?? 1;
          }
          break;
        case 'self':
          events[c.offset + jl]! += 1;
          break;
        case 'outgoing':
          for (let k = rows!.outStart[jl]!; k < rows!.outStart[jl + 1]!; k++)
            events[c.offset + arrivalRow(k) + k]! += 1;
          break;
        case 'incoming':
          for (let k = rows!.inStart[jl]!; k < rows!.inStart[jl + 1]!; k++)
            events[c.offset + rows!.inSynapses[k]!]! += 1;
          break;
      }
    }
  }
  for (const population of layout.ringPopulations) {
    const ring = layout.ring(population)!;
    events[ring.offset + (step % ring.slots) * ring.stride] = 0;
  }
}

/** (chunk step, global index) pairs to per-population spike lists ordered by step then index, with absolute steps. */
export function splitSpikes(
  pairs: ArrayLike<number>,
  firstStep: number,
  layout: BufferLayout,
  recorded: readonly string[],
): Chunk['spikes'] {
  const lists = recorded.map((population) => ({
    population,
    offset: layout.neuronOffset(population),
    steps: [] as number[],
    indices: [] as number[],
  }));
  // Ranges of global indices, largest offset first, so that the first match is the owner.
  const byOffset = [...lists].sort((a, b) => b.offset - a.offset);
  for (let k = 0; k + 1 < pairs.length; k += 2) {
    const global = pairs[k + 1]!;
    const list = byOffset.find((l) => global >= l.offset);
    // Spikes of populations that are not recorded fall outside every recorded range.
    if (list === undefined || global - list.offset >= layout.sizeOf(list.population)) continue;
    const index = global - list.offset;
    list.steps.push(firstStep + pairs[k]!);
    list.indices.push(index);
  }
  return new Map(
    lists.map((l) => [
      l.population,
      sortSpikes(Uint32Array.from(l.steps), Uint32Array.from(l.indices)),
    ]),
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
