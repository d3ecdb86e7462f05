import { InternalError } from '../diagnostics/diagnostic.js';
import { type CompressedRows, SKIP_GUIDE_BITS } from './connectivity.js';
import type { KernelStatement, NeuronRead, PopulationKernel } from './kernel-ir.js';
import type { Delivery, NetworkRouting, Route } from './network.js';

/** One of the arrays of a route's stored rows (see CompressedRows). */
export type RowArray = keyof CompressedRows;

/** The row arrays in the order they are placed in the connectivity buffer. */
const ROW_ARRAYS: readonly RowArray[] = [
  'outStart',
  'outTargets',
  'outSources',
  'inStart',
  'inSources',
  'inSynapses',
];

/** A delivery counter's place in the events buffer (absolute word offset) and shape (see Counter). */
export interface CounterPlace {
  readonly offset: number;
  readonly size: number;
  readonly slots: number;
  readonly signed: boolean;
}

/** Where a delivery's per-synapse integers live in the connectivity buffer (u32 words). */
export interface DeliveryData {
  readonly weights?: number;
  readonly delays?: number;
}

/** Where a SpikeTimes source's event table lives in the connectivity buffer (u32 words; see SpikeTimeTable). */
export interface SpikeTimeOffsets {
  readonly start: number;
  readonly steps: number;
}

/** A trace as the kernels write it: which population, which state, which neurons. */
export interface TraceSlot {
  readonly population: string;
  readonly variable: string;
  readonly start: number;
  readonly end: number;
}

/** Where a procedural route's tables start in the connectivity buffer (words). */
export interface TableOffsets {
  /** The skip table's entries and guide (see SkipTable). */
  readonly entries: number;
  readonly guide: number;
  /** The knots of drawn weights (see DrawnWeights), when the weights vary. */
  readonly knots?: number;
}

/** What an array of the connectivity buffer holds: a route's row array, or one of these. */
export type ConnectivityArray =
  | RowArray
  | 'skipEntries'
  | 'skipGuide'
  | 'weightKnots'
  | 'weights'
  | 'delays'
  | 'spikeTimeStart'
  | 'spikeTimeSteps';

/**
 * What each kind of array holds, word by word (the manifest's words). Neuron indices are local:
 * counted from the first neuron of the projection's pre or post range (of the SpikeTimes
 * population).
 */
export const CONNECTIVITY_ARRAYS: Readonly<Record<ConnectivityArray, string>> = {
  outStart:
    'per pre neuron j, and one more word: its synapses are the out-row entries outStart[j] to outStart[j + 1] - 1',
  outTargets:
    "per synapse, in out-row order (by pre neuron, then post neuron ascending): its post neuron; a synapse's id is its position here",
  outSources: 'per synapse, in out-row order: its pre neuron',
  inStart:
    'per post neuron i, and one more word: its in-row entries are inStart[i] to inStart[i + 1] - 1',
  inSources:
    'per in-row entry (by post neuron, then pre neuron ascending): the pre neuron of the synapse',
  inSynapses: "per in-row entry: the synapse's id (its position in outTargets)",
  skipEntries:
    'procedural fixed_probability: T[k - 1] = floor((1 - p)^k * 2^32) for k = 1, 2, ..., decreasing; one Philox word x skips K = #{k >= 1 : x < T[k - 1]} candidates before the next connection',
  skipGuide: `procedural fixed_probability: 2^${SKIP_GUIDE_BITS} + 1 words, guide[b] = K for x = b * 2^${32 - SKIP_GUIDE_BITS} (the search for a draw x in bucket b = x >> ${32 - SKIP_GUIDE_BITS} stays within entries guide[b + 1] to guide[b]); the last word is 0`,
  weightKnots:
    "procedural weights drawn per connection: 2^bits + 1 nondecreasing signed integers, the weight's quantile function in quanta (quantum)",
  weights:
    "per synapse, in out-row order: the signed integer a spike adds to its post neuron's counter, the synapse's weight in quanta (quantum)",
  delays: 'per synapse, in out-row order: its delay in steps (round(delay / dt), at least 1)',
  spikeTimeStart:
    'per neuron i of a SpikeTimes population, and one more word: its spike steps are spikeTimeSteps[start[i]] to spikeTimeSteps[start[i + 1] - 1]',
  spikeTimeSteps: 'the steps in which each neuron fires, ascending per neuron',
};

/**
 * One array of the connectivity buffer, as the layout placed it: the manifest describes
 * conn.bin with these, from the same placement that writes it.
 */
export interface ConnectivitySegment {
  readonly array: ConnectivityArray;
  /** First word and length in words. */
  readonly offset: number;
  readonly words: number;
  /** Unsigned words, or two's complement signed integers. */
  readonly type: 'u32' | 'i32';
  /** The route whose array it is (a route's index is its projection's position in the network). */
  readonly route?: number;
  /** The delivery (index in `deliveries`) that reads per-synapse weights or delays. */
  readonly delivery?: number;
  /** The SpikeTimes population of an event table. */
  readonly population?: string;
}

/** The words of signed integers, two's complement, as the u32 connectivity buffer holds them. */
function asWords(values: Int32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/**
 * Where everything lives in the flat buffers every backend uses:
 * - state: every kernel's states, structure of arrays (state-major, so a
 *   warp reads consecutive neurons' values: coalesced);
 * - spikes: a counter, then (step in chunk, global neuron index) pairs;
 * - record: per step a row of all traced values;
 * - ring: per spiking population that feeds merged synapses, `slots` spike
 *   lists (count, then local indices), slot = step mod slots;
 * - counters: the deliveries' counters (see Counter in network.ts; u32 atomics);
 * - connectivity: stored rows and procedural skip tables (entries, then
 *   guide, then drawn weights' knots) of the routes, the deliveries'
 *   per-synapse weights and delays, then the event tables of SpikeTimes
 *   sources (row starts, then steps) (u32).
 * Few buffers keep WebGPU compatibility mode happy (limits on bindings).
 */
export class BufferLayout {
  readonly totalStateFloats: number;
  readonly totalNeurons: number;
  /** Floats per step in the record buffer. */
  readonly recordRow: number;
  private readonly stateOffsets = new Map<string, number>();
  private readonly neuronOffsets = new Map<string, number>();
  private readonly sizes = new Map<string, number>();
  private readonly traceOffsets: number[] = [];

  readonly routes: readonly Route[];
  readonly deliveries: readonly Delivery[];
  /** Populations with a spike ring, in layout order. */
  readonly ringPopulations: readonly string[];
  readonly ringWords: number;
  readonly countWords: number;
  /** Words of the connectivity buffer. */
  readonly connectivityWords: number;
  /** The connectivity buffer's arrays, in order (the routes' own arrays, not copies). */
  private readonly connectivityPieces: readonly Uint32Array[];
  /** What each of connectivityPieces is, in the same order. */
  readonly connectivitySegments: readonly ConnectivitySegment[];
  private joinedConnectivity: Uint32Array | undefined;
  private readonly rings = new Map<string, { offset: number; slots: number; size: number }>();
  private readonly counters = new Map<string, CounterPlace>();
  private readonly deliveryData: DeliveryData[] = [];
  /** Word offsets of the placed row arrays, by route index. */
  private readonly rows = new Map<number, Map<RowArray, number>>();
  private readonly tables = new Map<number, TableOffsets>();
  private readonly spikeTimes = new Map<string, SpikeTimeOffsets>();

  constructor(
    kernels: readonly PopulationKernel[],
    readonly traces: readonly TraceSlot[],
    routing?: NetworkRouting,
  ) {
    let floats = 0;
    let neurons = 0;
    for (const k of kernels) {
      this.neuronOffsets.set(k.population, neurons);
      this.sizes.set(k.population, k.size);
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

    this.routes = routing?.routes ?? [];
    this.deliveries = routing?.deliveries ?? [];
    this.ringPopulations = [...(routing?.ringSlots.keys() ?? [])];
    let ring = 0;
    for (const [population, slots] of routing?.ringSlots ?? []) {
      const size = kernels.find((k) => k.population === population)?.size ?? 0;
      this.rings.set(population, { offset: ring, slots, size });
      ring += slots * (1 + size);
    }
    this.ringWords = ring;
    let counts = 0;
    for (const { counter } of this.deliveries) {
      if (this.counters.has(counter.name)) continue;
      this.counters.set(counter.name, {
        offset: ring + counts,
        size: counter.size,
        slots: counter.slots,
        signed: counter.signed,
      });
      counts += counter.size * counter.slots;
    }
    this.countWords = counts;
    // Placed first and copied only where a backend wants them (see writeConnectivity).
    const pieces: Uint32Array[] = [];
    const segments: ConnectivitySegment[] = [];
    let length = 0;
    const at = (
      data: Uint32Array | Int32Array,
      what: Omit<ConnectivitySegment, 'offset' | 'words' | 'type'>,
    ): number => {
      const offset = length;
      pieces.push(data instanceof Int32Array ? asWords(data) : data);
      segments.push({
        ...what,
        offset,
        words: data.length,
        type: data instanceof Int32Array ? 'i32' : 'u32',
      });
      length += data.length;
      return offset;
    };
    // Only the arrays some kernel reads: the connectivity is most of the memory of a large network.
    const inUse = rowArraysInUse(kernels, this.deliveries, this.routes);
    for (const r of this.routes) {
      const c = r.connectivity;
      if (c.kind === 'rows') {
        const used = inUse.get(r.index);
        const placed = new Map<RowArray, number>();
        for (const array of ROW_ARRAYS)
          if (used?.has(array) === true)
            placed.set(array, at(c.rows[array], { array, route: r.index }));
        this.rows.set(r.index, placed);
      }
      if (c.kind === 'geometric')
        this.tables.set(r.index, {
          entries: at(c.table.entries, { array: 'skipEntries', route: r.index }),
          guide: at(c.table.guide, { array: 'skipGuide', route: r.index }),
          ...(c.weights === undefined
            ? {}
            : { knots: at(c.weights.knots, { array: 'weightKnots', route: r.index }) }),
        });
    }
    this.deliveries.forEach((d, delivery) => {
      const of = { route: d.route.index, delivery };
      this.deliveryData.push({
        ...(d.weights === undefined ? {} : { weights: at(d.weights, { array: 'weights', ...of }) }),
        ...(d.delays === undefined ? {} : { delays: at(d.delays, { array: 'delays', ...of }) }),
      });
    });
    for (const [population, t] of routing?.spikeTimes ?? [])
      this.spikeTimes.set(population, {
        start: at(t.start, { array: 'spikeTimeStart', population }),
        steps: at(t.steps, { array: 'spikeTimeSteps', population }),
      });
    bufferWords('state', floats);
    bufferWords('spike rings and delivery counters', ring + counts);
    bufferWords('connectivity', length);
    this.connectivityWords = length;
    this.connectivityPieces = pieces;
    this.connectivitySegments = segments;
  }

  /**
   * Calls `write` with each array of the connectivity buffer and the word it starts at, for a
   * backend to copy them into its own memory without a joined copy on the host.
   */
  forEachConnectivityPiece(write: (piece: Uint32Array, offset: number) => void): void {
    let offset = 0;
    for (const piece of this.connectivityPieces) {
      if (piece.length > 0) write(piece, offset);
      offset += piece.length;
    }
  }

  /** Writes the connectivity buffer's words at the start of `target`. */
  writeConnectivity(target: Uint32Array): void {
    this.forEachConnectivityPiece((piece, offset) => target.set(piece, offset));
  }

  /** The connectivity buffer as one array, made when first asked for (a copy of the rows). */
  get connectivity(): Uint32Array {
    if (this.joinedConnectivity === undefined) {
      this.joinedConnectivity = new Uint32Array(this.connectivityWords);
      this.writeConnectivity(this.joinedConnectivity);
    }
    return this.joinedConnectivity;
  }

  /** The spike-list ring of a population: first word, slots, and words per slot (1 + size). */
  ring(
    population: string,
  ): { readonly offset: number; readonly slots: number; readonly stride: number } | undefined {
    const r = this.rings.get(population);
    return r === undefined ? undefined : { offset: r.offset, slots: r.slots, stride: 1 + r.size };
  }

  /** Where a delivery counter lives in the events buffer. */
  counter(name: string): CounterPlace {
    const c = this.counters.get(name);
    if (c === undefined) throw new InternalError(`no counter ${name}`);
    return c;
  }

  /** Where the per-synapse weights and delays of delivery `index` (in `deliveries`) live. */
  dataOf(index: number): DeliveryData {
    const d = this.deliveryData[index];
    if (d === undefined) throw new InternalError(`no delivery ${index}`);
    return d;
  }

  /** First word of one array of a route's stored rows (placed only when a kernel or delivery reads it). */
  rowArray(route: number, array: RowArray): number {
    const o = this.rows.get(route)?.get(array);
    if (o === undefined) throw new InternalError(`route ${route} has no ${array} in the layout`);
    return o;
  }

  /** Where a SpikeTimes source's event table lives. */
  spikeTimeOffsets(population: string): SpikeTimeOffsets {
    const o = this.spikeTimes.get(population);
    if (o === undefined)
      throw new InternalError(`population ${population} has no spike-time table`);
    return o;
  }

  /** Where a procedural route's tables start (see TableOffsets). */
  tableOffsets(route: number): TableOffsets {
    const o = this.tables.get(route);
    if (o === undefined) throw new InternalError(`route ${route} has no skip table`);
    return o;
  }

  route(index: number): Route {
    const r = this.routes.find((x) => x.index === index);
    if (r === undefined) throw new InternalError(`no route ${index}`);
    return r;
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

  /** Number of elements of a kernel (neurons of a population). */
  sizeOf(owner: string): number {
    const size = this.sizes.get(owner);
    if (size === undefined) throw new InternalError(`no kernel ${owner} in the layout`);
    return size;
  }
}

/**
 * The row array that holds the neuron a `neuronState` statement reads, per element of its
 * kernel: a synapse's post target or pre source; undefined for a per-pre element, which is
 * its own pre neuron.
 */
export function neuronIndexArray(
  routes: readonly Route[],
  s: NeuronRead,
): 'outTargets' | 'outSources' | undefined {
  const route = routes.find((r) => r.index === s.route);
  if (route === undefined) throw new InternalError(`no route ${s.route}`);
  if (route.placement.placement === 'synapse')
    return s.side === 'post' ? 'outTargets' : 'outSources';
  if (route.placement.placement === 'pre' && s.side === 'pre') return undefined;
  throw new InternalError(`a ${route.placement.placement} kernel cannot read the ${s.side} neuron`);
}

/** Which stored-row arrays of each route the deliveries and the kernels' gathers and neuron reads use. */
function rowArraysInUse(
  kernels: readonly PopulationKernel[],
  deliveries: readonly Delivery[],
  routes: readonly Route[],
): Map<number, Set<RowArray>> {
  const inUse = new Map<number, Set<RowArray>>();
  const use = (route: number, ...arrays: RowArray[]): void => {
    const set = inUse.get(route) ?? new Set<RowArray>();
    for (const a of arrays) set.add(a);
    inUse.set(route, set);
  };
  for (const { route, targets } of deliveries) {
    switch (targets) {
      case 'post':
        use(route.index, 'outStart', 'outTargets');
        break;
      case 'outgoing':
        use(route.index, 'outStart');
        break;
      case 'incoming':
        use(route.index, 'inStart', 'inSynapses');
        break;
      case 'self':
        break;
    }
  }
  const visit = (statements: readonly KernelStatement[]): void => {
    for (const s of statements) {
      if (s.kind === 'gather')
        use(s.route, 'inStart', s.over === 'sources' ? 'inSources' : 'inSynapses');
      if (s.kind === 'neuronState') {
        const array = neuronIndexArray(routes, s);
        if (array !== undefined) use(s.route, array);
      }
      if (s.kind === 'if') {
        visit(s.then);
        visit(s.otherwise);
      }
    }
  };
  for (const k of kernels) visit(k.body);
  return inUse;
}

/** The most words one buffer may hold: the kernels index every buffer with 32-bit integers. */
export const MAX_BUFFER_WORDS = 2 ** 32 - 1;

/** A network whose buffer would hold more than MAX_BUFFER_WORDS words (`what`: which buffer). */
export class BufferTooLargeError extends Error {
  override readonly name = 'BufferTooLargeError';
  constructor(
    readonly what: string,
    readonly words: number,
  ) {
    super(`the network's ${what} needs ${words} words in one buffer`);
  }
}

/**
 * The diagnostic's message for a buffer past MAX_BUFFER_WORDS: `words` is the count as the
 * message shows it ("4,294,967,296", or "at least ..." where only a lower bound is known).
 */
export function bufferTooLargeMessage(network: string, what: string, words: string): string {
  return `network ${network} is too large: its ${what} would need ${words} words in one buffer, and the kernels index buffers with 32-bit integers (at most ${MAX_BUFFER_WORDS.toLocaleString('en-US')} words)`;
}

function bufferWords(what: string, words: number): void {
  if (words > MAX_BUFFER_WORDS) throw new BufferTooLargeError(what, words);
}
