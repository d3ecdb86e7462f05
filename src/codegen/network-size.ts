import { type Diagnostic, Diagnostics } from '../diagnostics/diagnostic.js';
import type { Network } from '../ir/types.js';
import { MAX_BUFFER_WORDS, bufferTooLargeMessage } from './layout.js';
import { storedSynapses } from './network.js';
import { perNeuronRefractory } from './population.js';

/**
 * Bytes of host memory per neuron state variable while a network is planned and run: its
 * initial value in float64 and its float32 copy in the state buffer (a run of 10^9 LifRef
 * neurons, one state variable, peaked at 12.1 GB).
 */
const BYTES_PER_STATE = 12;
/** Bytes per stored synapse: its out-row target, in-row source and in-row synapse id. */
const BYTES_PER_STORED_SYNAPSE = 12;

/** What a network needs at least, counted from its sizes before anything is allocated. */
export interface NetworkSize {
  /** Words of the state buffer (each neuron model's state variables and refractory counter; merged synapse state comes on top). */
  readonly stateWords: number;
  /** Bytes of host memory: states and stored connectivity (spike lists, weights, delays, rings and the kernels' copies come on top). */
  readonly hostBytes: number;
  /** What the bytes are, largest first: "N: 1,000 neurons x 4 state variables" (formatted when asked: the first number formatted costs 10 ms). */
  readonly parts: () => readonly string[];
}

export function networkSize(network: Network): NetworkSize {
  let stateWords = 0;
  const parts: { readonly bytes: number; readonly text: () => string }[] = [];
  for (const p of network.populations) {
    // A refractory neuron keeps its counter as one more state (REFRACTORY_STATE), and its
    // period too where that is set per neuron (REFRACTORY_STEPS_STATE).
    const states =
      p.source.kind === 'neuron'
        ? p.source.model.states.length +
          (p.source.model.refractory === undefined ? 0 : 1) +
          (perNeuronRefractory(p) ? 1 : 0)
        : 0;
    stateWords += p.size * states;
    if (states > 0)
      parts.push({
        bytes: p.size * states * BYTES_PER_STATE,
        text: () =>
          `${p.name}: ${p.size.toLocaleString('en-US')} neurons x ${states} state variable${states === 1 ? '' : 's'}`,
      });
  }
  for (const p of network.projections) {
    const nPre = p.preRange.end - p.preRange.start;
    const nPost = p.postRange.end - p.postRange.start;
    const synapses = storedSynapses(p.connector, p.procedural, false, nPre, nPost);
    if (synapses > 0)
      parts.push({
        bytes: synapses * BYTES_PER_STORED_SYNAPSE,
        text: () => `${p.name}: ${Math.round(synapses).toLocaleString('en-US')} stored synapses`,
      });
  }
  parts.sort((a, b) => b.bytes - a.bytes);
  return {
    stateWords,
    hostBytes: parts.reduce((sum, part) => sum + part.bytes, 0),
    parts: () => parts.map((part) => part.text()),
  };
}

const GIB = 2 ** 30;

/**
 * What makes a network impossible to plan, found before anything is allocated: a state buffer
 * past what 32-bit indices reach, or (given `availableBytes`, the machine's memory) more memory
 * than there is. Without this a huge population ran until an allocation failed or the system
 * killed the process. `check` asks without a machine: its answer is the same everywhere.
 */
export function networkSizeProblems(network: Network, availableBytes?: number): Diagnostic[] {
  const size = networkSize(network);
  const diagnostics = new Diagnostics();
  if (size.stateWords > MAX_BUFFER_WORDS)
    diagnostics.error(
      network.span,
      bufferTooLargeMessage(
        network.name,
        'state',
        `at least ${size.stateWords.toLocaleString('en-US')}`,
      ),
    );
  else if (availableBytes !== undefined && size.hostBytes > availableBytes)
    diagnostics.error(
      network.span,
      `network ${network.name} needs at least ${(size.hostBytes / GIB).toFixed(1)} GiB of memory, more than this machine's ${(availableBytes / GIB).toFixed(1)} GiB`,
      { notes: [`the largest parts: ${size.parts().slice(0, 3).join('; ')}`] },
    );
  return diagnostics.items;
}
