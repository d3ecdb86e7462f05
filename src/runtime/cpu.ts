import { cpus } from 'node:os';
import type { KernelPrinter } from '../codegen/emit.js';
import { JS_KERNEL_PARAMETERS, emitJsPopulation } from '../codegen/js/kernel.js';
import { BufferLayout } from '../codegen/layout.js';
import { InternalError } from '../diagnostics/diagnostic.js';
import { boxMuller, randomU32x4, u32ToUniform01 } from '../random/philox.js';
import { type Backend, type Chunk, type SimulationPlan, sortSpikes } from './backend.js';

export type Precision = 'float32' | 'float64';

type StepFunction = (state: Float32Array | Float64Array, record: Float32Array | Float64Array, spikes: number[], rt: RandomRuntime, step: number, chunkStep: number) => void;

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
  /** The generated source, for `compile --target js` and debugging. */
  source = '';

  constructor(
    private readonly precision: Precision,
    private readonly printerFor: (precision: Precision) => KernelPrinter,
  ) {
    this.device = `${cpus()[0]?.model.trim() ?? 'CPU'} (JavaScript, ${precision}, one thread)`;
  }

  async prepare(plan: SimulationPlan): Promise<void> {
    const layout = new BufferLayout(plan.kernels, plan.traces.map((t) => ({ population: t.population, variable: t.variable, start: t.range.start, end: t.range.end })));
    const printer = this.printerFor(this.precision);
    const bodies = plan.kernels.map((k) => emitJsPopulation(k, layout, printer));
    // Kernels first: the prelude holds only the helpers they call.
    const prelude = printer.prelude();
    this.source = [prelude, ...bodies].join('\n\n');
    this.steps = bodies.map((b) => new Function(...JS_KERNEL_PARAMETERS, `${prelude}\n${b}`) as StepFunction);
    const State = this.precision === 'float32' ? Float32Array : Float64Array;
    this.state = new State(layout.totalStateFloats);
    for (const k of plan.kernels) {
      const initial = plan.initial.get(k.population);
      for (const s of k.states) {
        const values = initial?.get(s);
        if (values === undefined) throw new InternalError(`no initial values for ${k.population}.${s}`);
        this.state.set(values, layout.stateOffset(k.population, s));
      }
    }
    const seed = plan.network.seed;
    const round = this.precision === 'float32' ? Math.fround : (x: number): number => x;
    this.rt = {
      normal: (stream, index, step, purpose) => {
        const w = randomU32x4(seed, stream, index, step, purpose);
        return round(boxMuller(w[0], w[1])[0]);
      },
      uniform: (stream, index, step, purpose) => u32ToUniform01(randomU32x4(seed, stream, index, step, purpose)[0]),
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
    if (plan === undefined || layout === undefined || rt === undefined) throw new InternalError('CPU backend used before prepare()');
    const record = new Float64Array(steps * layout.recordRow);
    const rowBuffer = this.precision === 'float32' ? new Float32Array(steps * layout.recordRow) : record;
    const spikes: number[] = [];
    for (let s = 0; s < steps; s++) {
      for (const step of this.steps) step(this.state, rowBuffer, spikes, rt, firstStep + s, s);
    }
    if (rowBuffer !== record) record.set(rowBuffer);
    return { firstStep, steps, spikes: splitSpikes(spikes, firstStep, layout, plan.spikeRecords), traces: splitTraces(record, steps, layout) };
  }

  async readState(population: string): Promise<ReadonlyMap<string, Float64Array>> {
    const kernel = this.plan?.kernels.find((k) => k.population === population);
    if (kernel === undefined || this.layout === undefined) throw new InternalError(`no population ${population}`);
    return new Map(kernel.states.map((s) => {
      const offset = this.layout!.stateOffset(population, s);
      return [s, Float64Array.from(this.state.subarray(offset, offset + kernel.size))];
    }));
  }

  dispose(): void {
    this.steps = [];
  }
}

/** (chunk step, global index) pairs to per-population sorted spike lists, with absolute steps. */
export function splitSpikes(pairs: ArrayLike<number>, firstStep: number, layout: BufferLayout, recorded: readonly string[]): Chunk['spikes'] {
  const lists = new Map<string, { steps: number[]; indices: number[] }>(recorded.map((p) => [p, { steps: [], indices: [] }]));
  for (let k = 0; k + 1 < pairs.length; k += 2) {
    const { population, index } = layout.locate(pairs[k + 1]!);
    const list = lists.get(population);
    if (list === undefined) continue;
    list.steps.push(firstStep + pairs[k]!);
    list.indices.push(index);
  }
  return new Map([...lists].map(([p, l]) => [p, sortSpikes(Uint32Array.from(l.steps), Uint32Array.from(l.indices))]));
}

/** The record buffer (steps x row) split into one steps x width array per trace. */
export function splitTraces(record: Float64Array, steps: number, layout: BufferLayout): Float64Array[] {
  return layout.traces.map((t, r) => {
    const width = t.end - t.start;
    const out = new Float64Array(steps * width);
    const offset = layout.traceOffset(r);
    for (let s = 0; s < steps; s++) out.set(record.subarray(s * layout.recordRow + offset, s * layout.recordRow + offset + width), s * width);
    return out;
  });
}
