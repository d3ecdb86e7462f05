import type { PopulationKernel } from '../codegen/kernel-ir.js';
import type { BufferLayout } from '../codegen/layout.js';
import type { NetworkRouting } from '../codegen/network.js';
import type { Precision } from '../codegen/printer.js';
import type { IndexRange, Network } from '../ir/types.js';

/** A trace to record: one value of a kernel (a state or the input current), for a range of its elements. */
export interface TraceRequest {
  /** The kernel that holds the value: a population, or `@pre<k>` for per-pre synapse state. */
  readonly population: string;
  /** The kernel's name for the value (`V`, or `@syn0.g` for a merged synapse state). */
  readonly variable: string;
  readonly range: IndexRange;
  /** What the user wrote: `N.V`, `E.g`; names the output files. */
  readonly label: string;
  /**
   * A row is written after every `every`-th step (`record ... every T`, round(T / dt) steps):
   * steps n with (n + 1) % every == 0. Backends record every step; the output thins.
   */
  readonly every: number;
}

/** Everything a backend needs to run a network: kernels, initial values, what to record. */
export interface SimulationPlan {
  readonly network: Network;
  /** Projections: where synapse state lives, delays, connectivity. */
  readonly routing: NetworkRouting;
  /** In dispatch order within a step: per-pre synapse kernels, then populations. */
  readonly kernels: readonly PopulationKernel[];
  /** Per kernel owner, per state, the initial values (float64, rounded by the backend). */
  readonly initial: ReadonlyMap<string, ReadonlyMap<string, Float64Array>>;
  readonly traces: readonly TraceRequest[];
  /** Populations whose spikes are recorded. */
  readonly spikeRecords: readonly string[];
  readonly steps: number;
}

/** What a run of consecutive steps recorded. */
export interface Chunk {
  readonly firstStep: number;
  readonly steps: number;
  /** Per population: the step and index of each spike, ordered by step then index. */
  readonly spikes: ReadonlyMap<
    string,
    { readonly steps: Uint32Array; readonly indices: Uint32Array }
  >;
  /** Per trace request (same order): steps x neurons values, row-major, post-step state. */
  readonly traces: readonly Float64Array[];
}

/**
 * One interface for every place a network runs. A backend compiles the plan's
 * kernels, owns the state, runs steps in chunks and hands back what was
 * recorded; the driver (simulate.ts) writes it out.
 */
export interface Backend {
  readonly name: 'cpu' | 'webgpu' | 'cuda';
  /** The device in words, for summary.json. */
  readonly device: string;
  /** The float type the kernels compute in. */
  readonly precision: Precision;
  /**
   * Set by prepare() when the backend runs the network otherwise than it was asked to, and
   * slower: why, in a sentence for stderr (the CPU's JavaScript kernels for a network too
   * large for WebAssembly).
   */
  readonly note?: string | undefined;
  /** Compiles the kernels and uploads the initial state. */
  prepare(plan: SimulationPlan): Promise<void>;
  /** The longest chunk the backend can record at once (bounded memory). */
  maxChunkSteps(plan: SimulationPlan): number;
  runChunk(firstStep: number, steps: number): Promise<Chunk>;
  /** Reads back the current value of every state of a population (tests use it). */
  readState(population: string): Promise<ReadonlyMap<string, Float64Array>>;
  /**
   * Hands the whole state buffer (every kernel's states, in BufferLayout order) to `visit` in
   * consecutive slices, `offset` being the slice's first float: the CPU's own memory, a GPU's
   * copied back once, in pieces of bounded size. A slice is valid only during its call.
   */
  visitState(visit: (offset: number, values: Float32Array | Float64Array) => void): Promise<void>;
  /** Frees the device so that node can exit. */
  dispose(): void;
}

/** Sorts spike (step, index) pairs so that every backend reports them in one order (GPU appends arrive in any order). */
export function sortSpikes(
  steps: Uint32Array,
  indices: Uint32Array,
): { steps: Uint32Array; indices: Uint32Array } {
  let sorted = true;
  for (let k = 1; k < steps.length && sorted; k++)
    sorted =
      steps[k - 1]! < steps[k]! || (steps[k - 1] === steps[k] && indices[k - 1]! < indices[k]!);
  if (sorted) return { steps, indices };
  const order = Array.from(steps.keys()).sort(
    (a, b) => steps[a]! - steps[b]! || indices[a]! - indices[b]!,
  );
  return {
    steps: Uint32Array.from(order, (k) => steps[k]!),
    indices: Uint32Array.from(order, (k) => indices[k]!),
  };
}

/** The most state floats a GPU backend copies back at once in visitState (64 MiB of float32). */
export const STATE_SLICE_FLOATS = 16 * 1024 * 1024;

/** The states of one kernel, cut out of a copy of the whole state buffer. */
export function kernelStates(
  all: Float32Array | Float64Array,
  layout: BufferLayout,
  kernel: PopulationKernel,
): Map<string, Float64Array> {
  return new Map(
    kernel.states.map((s) => {
      const offset = layout.stateOffset(kernel.population, s);
      return [s, Float64Array.from(all.subarray(offset, offset + kernel.size))];
    }),
  );
}
