import { performance } from 'node:perf_hooks';
import type { Backend, Chunk, SimulationPlan } from './backend.js';
import { type NonFiniteState, NonFiniteWatch } from './non-finite.js';
import type { OutputWriter } from './output.js';

export interface SimulationResult {
  readonly chunks: readonly Chunk[];
  readonly wallSeconds: number;
  /** The states that are NaN or infinite at the end (read once after the run, not timed). */
  readonly nonFinite: readonly NonFiniteState[];
}

/**
 * Runs a plan on a backend in chunks. With a writer, each chunk is written out
 * as it arrives and not kept (memory stays bounded); without one, the chunks
 * are returned (tests). `progress` hears how many steps are done after each chunk. After the
 * last chunk, the final state is checked for NaN and infinite values (non-finite.ts).
 */
export async function simulate(
  plan: SimulationPlan,
  backend: Backend,
  writer?: OutputWriter,
  progress?: (stepsDone: number) => void,
): Promise<SimulationResult> {
  const chunks: Chunk[] = [];
  const chunkSteps = Math.max(1, backend.maxChunkSteps(plan));
  const watch = new NonFiniteWatch(plan);
  const start = performance.now();
  for (let first = 0; first < plan.steps; first += chunkSteps) {
    const chunk = await backend.runChunk(first, Math.min(chunkSteps, plan.steps - first));
    if (writer === undefined) chunks.push(chunk);
    else writer.add(chunk);
    watch.add(chunk);
    progress?.(chunk.firstStep + chunk.steps);
    // Let pending events run (a Ctrl-C's handler) before the next chunk.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const wallSeconds = (performance.now() - start) / 1000;
  return { chunks, wallSeconds, nonFinite: await watch.finish(backend) };
}
