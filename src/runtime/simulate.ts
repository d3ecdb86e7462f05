import { performance } from 'node:perf_hooks';
import { type NeuronUpdate, buildPopulationKernel } from '../codegen/population.js';
import { InternalError } from '../diagnostics/diagnostic.js';
import type { Network, NeuronModel } from '../ir/types.js';
import type { Backend, Chunk, SimulationPlan, TraceRequest } from './backend.js';
import { initialStates } from './initial-state.js';
import type { OutputWriter } from './output.js';

/** Builds the backend-independent plan: one kernel per population, initial values, recordings. */
export function buildPlan(network: Network, updateOf: (model: NeuronModel) => NeuronUpdate, steps: number): SimulationPlan {
  const kernels = network.populations.map((p) => {
    if (p.source.kind !== 'neuron') throw new InternalError(`spike source ${p.name}: sources run with the network kernels (not yet)`);
    return buildPopulationKernel(network, p, updateOf(p.source.model));
  });
  const initial = new Map(network.populations.map((p, k) => [p.name, initialStates(network, p, kernels[k]!.states)]));
  const traces: TraceRequest[] = network.recordings
    .filter((r) => r.variable !== 'spikes')
    .map((r) => ({ population: r.population, variable: r.variable, range: r.range }));
  const spikeRecords = network.recordings.filter((r) => r.variable === 'spikes').map((r) => r.population);
  return { network, kernels, initial, traces, spikeRecords, steps };
}

export interface SimulationResult {
  readonly chunks: readonly Chunk[];
  readonly wallSeconds: number;
}

/**
 * Runs a plan on a backend in chunks. With a writer, each chunk is written out
 * as it arrives and not kept (memory stays bounded); without one, the chunks
 * are returned (tests).
 */
export async function simulate(plan: SimulationPlan, backend: Backend, writer?: OutputWriter): Promise<SimulationResult> {
  const chunks: Chunk[] = [];
  const chunkSteps = Math.max(1, backend.maxChunkSteps(plan));
  const start = performance.now();
  for (let first = 0; first < plan.steps; first += chunkSteps) {
    const chunk = await backend.runChunk(first, Math.min(chunkSteps, plan.steps - first));
    if (writer === undefined) chunks.push(chunk);
    else writer.add(chunk);
  }
  return { chunks, wallSeconds: (performance.now() - start) / 1000 };
}

