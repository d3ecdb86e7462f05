import { InternalError } from '../diagnostics/diagnostic.js';
import type { CompressedRows } from './connectivity.js';
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
    let length = 0;
    const at = (data: Uint32Array): number => {
      const offset = length;
      pieces.push(data);
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
          if (used?.has(array) === true) placed.set(array, at(c.rows[array]));
        this.rows.set(r.index, placed);
      }
      if (c.kind === 'geometric')
        this.tables.set(r.index, {
          entries: at(c.table.entries),
          guide: at(c.table.guide),
          ...(c.weights === undefined ? {} : { knots: at(asWords(c.weights.knots)) }),
        });
    }
    for (const d of this.deliveries)
      this.deliveryData.push({
        ...(d.weights === undefined
          ? {}
          : {
              weights: at(asWords(d.weights)),
            }),
        ...(d.delays === undefined ? {} : { delays: at(d.delays) }),
      });
    for (const [population, t] of routing?.spikeTimes ?? [])
      this.spikeTimes.set(population, { start: at(t.start), steps: at(t.steps) });
    bufferWords('state', floats);
    bufferWords('spike rings and delivery counters', ring + counts);
    bufferWords('connectivity', length);
    this.connectivityWords = length;
    this.connectivityPieces = pieces;
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
