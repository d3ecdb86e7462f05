import { InternalError } from '../diagnostics/diagnostic.js';
import type { PopulationKernel } from './kernel-ir.js';

/** A trace as the kernels write it: which population, which state, which neurons. */
export interface TraceSlot {
  readonly population: string;
  readonly variable: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Where everything lives in the flat buffers every backend uses:
 * - state: all populations' states, structure of arrays (state-major, so a
 *   warp reads consecutive neurons' values: coalesced);
 * - spikes: a counter, then (step in chunk, global neuron index) pairs;
 * - record: per step a row of all traced values.
 * Few buffers keep WebGPU compatibility mode happy (limits on bindings).
 */
export class BufferLayout {
  readonly totalStateFloats: number;
  readonly totalNeurons: number;
  /** Floats per step in the record buffer. */
  readonly recordRow: number;
  private readonly stateOffsets = new Map<string, number>();
  private readonly neuronOffsets = new Map<string, number>();
  private readonly traceOffsets: number[] = [];

  constructor(kernels: readonly PopulationKernel[], readonly traces: readonly TraceSlot[]) {
    let floats = 0;
    let neurons = 0;
    for (const k of kernels) {
      this.neuronOffsets.set(k.population, neurons);
      neurons += k.size;
      for (const s of k.states) {
        this.stateOffsets.set(`${k.population}\u0000${s}`, floats);
        floats += k.size;
      }
    }
    this.totalStateFloats = floats;
    this.totalNeurons = neurons;
    let row = 0;
    for (const t of traces) {
      this.traceOffsets.push(row);
      row += t.end - t.start;
    }
    this.recordRow = row;
  }

  /** First float of a state of a population in the state buffer. */
  stateOffset(population: string, state: string): number {
    const o = this.stateOffsets.get(`${population}\u0000${state}`);
    if (o === undefined) throw new InternalError(`no state ${population}.${state} in the layout`);
    return o;
  }

  /** Global index of a population's first neuron (spike lists use global indices). */
  neuronOffset(population: string): number {
    const o = this.neuronOffsets.get(population);
    if (o === undefined) throw new InternalError(`no population ${population} in the layout`);
    return o;
  }

  /** Offset of a trace within a record row. */
  traceOffset(index: number): number {
    const o = this.traceOffsets[index];
    if (o === undefined) throw new InternalError(`no trace ${index} in the layout`);
    return o;
  }

  /** The population a global neuron index belongs to, and the local index. */
  locate(globalIndex: number): { population: string; index: number } {
    let found: { population: string; index: number } | undefined;
    for (const [population, offset] of this.neuronOffsets) {
      if (globalIndex >= offset) found = { population, index: globalIndex - offset };
    }
    if (found === undefined) throw new InternalError(`neuron ${globalIndex} is in no population`);
    return found;
  }
}
