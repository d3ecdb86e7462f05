import { performance } from 'node:perf_hooks';
import type { Backend, Chunk, SimulationPlan } from './backend.js';
import type { OutputWriter } from './output.js';

export interface SimulationResult {
  readonly chunks: readonly Chunk[];
  readonly wallSeconds: number;
}

/**
 * Runs a plan on a backend in chunks. With a writer, each chunk is written out
 * as it arrives and not kept (memory stays bounded); without one, the chunks
 * are returned (tests). `progress` hears how many steps are done after each chunk.
 */
export async function simulate(
  plan: SimulationPlan,
  backend: Backend,
  writer?: OutputWriter,
  progress?: (stepsDone: number) => void,
): Promise<SimulationResult> {
  const chunks: Chunk[] = [];
  const chunkSteps = Math.max(1, backend.maxChunkSteps(plan));
  const start = performance.now();
  for (let first = 0; first < plan.steps; first += chunkSteps) {
    const chunk = await backend.runChunk(first, Math.min(chunkSteps, plan.steps - first));
    if (writer === undefined) chunks.push(chunk);
    else writer.add(chunk);
    progress?.(chunk.firstStep + chunk.steps);
    // Let pending events run (a Ctrl-C's handler) before the next chunk.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { chunks, wallSeconds: (performance.now() - start) / 1000 };
}
