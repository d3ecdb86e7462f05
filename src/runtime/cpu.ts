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
  counts: Uint32Array,
  ring: Uint32Array,
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
  private counts = new Uint32Array(0);
  private ring = new Uint32Array(0);
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
    this.counts = new Uint32Array(layout.countWords);
    this.ring = new Uint32Array(layout.ringWords);
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
      this.deliver(layout, plan, step);
      for (const kernel of this.steps)
        kernel(this.state, rowBuffer, spikes, rt, step, s, this.counts, this.ring, conn);
    }
    if (rowBuffer !== record) record.set(rowBuffer);
    return {
      firstStep,
      steps,
      spikes: splitSpikes(spikes, firstStep, layout, plan.spikeRecords),
      traces: splitTraces(record, steps, layout),
    };
  }

  /**
   * Step 1 of language.md's step: spikes emitted d steps ago reach every merged
   * projection (counted per post neuron; the post kernel adds count * weight).
   * Then this step's ring slots are emptied for the spikes about to be emitted.
   */
  private deliver(layout: BufferLayout, plan: SimulationPlan, step: number): void {
    const seed = plan.network.seed;
    for (const group of plan.routing.groups) {
      for (const route of group.routes) {
        const p = route.projection;
        const ring = layout.ring(p.pre)!;
        const slot =
          ring.offset +
          ((step - route.delaySteps + ring.slots * route.delaySteps) % ring.slots) * ring.stride;
        const counts = layout.countOffset(route.index) + p.postRange.start;
        const nPost = p.postRange.end - p.postRange.start;
        for (let k = 0; k < this.ring[slot]!; k++) {
          const j = this.ring[slot + 1 + k]! - p.preRange.start;
          if (j < 0 || j >= p.preRange.end - p.preRange.start) continue;
          forEachTarget(route.connectivity, j, nPost, seed, (i) => {
            this.counts[counts + i]! += 1;
          });
        }
      }
    }
    for (const population of plan.routing.ringSlots.keys()) {
      const ring = layout.ring(population)!;
      this.ring[ring.offset + (step % ring.slots) * ring.stride] = 0;
    }
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
