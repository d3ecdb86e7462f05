import { InternalError } from '../diagnostics/diagnostic.js';
import type { Expr as SymExpr } from '../symbolic/expr.js';
import { CURSOR_STATE, type KernelStatement, type NeuronRead, nextName } from './kernel-ir.js';
import type { CLikePrinter } from './printer.js';
import { type BufferLayout, neuronIndexArray } from './layout.js';
import type { Delivery, Route } from './network.js';

/** What a target's kernel emitter needs from its expression printer. */
export interface KernelPrinter {
  /** Prints a float expression whose symbols are kernel locals. */
  expr(e: SymExpr): string;
  /** Prints a condition. */
  condition(e: SymExpr): string;
  /** Definitions of the helper functions printed expressions called so far, and of `extra`. */
  prelude(extra?: readonly string[]): string;
  /** The target identifier of a kernel local ('V@next' -> 'V_next'), free of reserved words. */
  local(name: string): string;
}

/** How a target spells declarations, assignments, branches and random draws. */
export interface StatementSyntax {
  declareFloat(name: string, value: string): string;
  declareBool(name: string, value: string): string;
  assign(name: string, value: string): string;
  ifOpen(condition: string): string;
  elseOpen: string;
  close: string;
  /** A random draw into a new float local. */
  random(name: string, distribution: 'normal' | 'uniform', stream: number, purpose: number): string;
  /** Lines that declare a float local with this element's entry of a delivery counter, clearing it. */
  count(name: string, counter: string): string[];
  /** Lines that declare a float local with a gather over a projection's incoming connections. */
  gather(
    name: string,
    route: number,
    owner: string,
    state: string,
    over: 'sources' | 'synapses',
  ): string[];
  /** Lines that declare a float local with a neuron's start-of-step state (see neuronStateSource). */
  neuronState(name: string, read: NeuronRead): string[];
  /**
   * Lines that declare the condition local `name` (the event the cursor `cursor`
   * points at in the table of SpikeTimes source `owner` is at this step) and the
   * float local `next` (the cursor, moved past that event when it fired).
   */
  spikeTime(name: string, cursor: string, next: string, owner: string): string[];
}

/**
 * Where a `neuronState` statement's value lives: the float `sf_state[base + n]`, where n is
 * the element index, or, with `row`, the connectivity word `sf_conn[row + element]` (a
 * synapse's neuron).
 */
export interface NeuronStateSource {
  readonly base: number;
  readonly row?: number;
}

export function neuronStateSource(s: NeuronRead, layout: BufferLayout): NeuronStateSource {
  const p = layout.route(s.route).projection;
  const [population, range] = s.side === 'pre' ? [p.pre, p.preRange] : [p.post, p.postRange];
  const base = layout.stateOffset(population, s.state) + range.start;
  const array = neuronIndexArray(layout.routes, s);
  return array === undefined ? { base } : { base, row: layout.rowArray(s.route, array) };
}

/** Prints kernel statements as target code lines, one statement per line, nested blocks indented. */
export function emitStatements(
  body: readonly KernelStatement[],
  printer: KernelPrinter,
  syntax: StatementSyntax,
  indent: string,
  boolLocals: Set<string> = new Set(),
): string[] {
  const lines: string[] = [];
  // A condition local is used as it is; any other condition is printed by the target's printer.
  const condition = (e: SymExpr): string =>
    e.kind === 'sym' && boolLocals.has(e.name) ? printer.local(e.name) : printer.condition(e);
  for (const s of body) {
    switch (s.kind) {
      case 'let':
        lines.push(indent + syntax.declareFloat(printer.local(s.name), printer.expr(s.value)));
        break;
      case 'letBool':
        lines.push(indent + syntax.declareBool(printer.local(s.name), condition(s.value)));
        boolLocals.add(s.name);
        break;
      case 'set':
        lines.push(indent + syntax.assign(printer.local(s.name), printer.expr(s.value)));
        break;
      case 'random':
        lines.push(
          indent + syntax.random(printer.local(s.name), s.distribution, s.stream, s.purpose),
        );
        break;
      case 'count':
        lines.push(...syntax.count(printer.local(s.name), s.counter).map((l) => indent + l));
        break;
      case 'gather':
        lines.push(
          ...syntax
            .gather(printer.local(s.name), s.route, s.owner, s.state, s.over)
            .map((l) => indent + l),
        );
        break;
      case 'neuronState':
        lines.push(...syntax.neuronState(printer.local(s.name), s).map((l) => indent + l));
        break;
      case 'spikeTime':
        lines.push(
          ...syntax
            .spikeTime(
              printer.local(s.name),
              printer.local(CURSOR_STATE),
              printer.local(nextName(CURSOR_STATE)),
              s.owner,
            )
            .map((l) => indent + l),
        );
        boolLocals.add(s.name);
        break;
      case 'if':
        lines.push(indent + syntax.ifOpen(condition(s.condition)));
        lines.push(...emitStatements(s.then, printer, syntax, `${indent}  `, boolLocals));
        if (s.otherwise.length > 0) {
          lines.push(indent + syntax.elseOpen);
          lines.push(...emitStatements(s.otherwise, printer, syntax, `${indent}  `, boolLocals));
        }
        lines.push(indent + syntax.close);
        break;
    }
  }
  return lines;
}

/** Adapts a target's expression printer to the kernel emitters. */
export function kernelPrinter(printer: CLikePrinter): KernelPrinter {
  return {
    expr: (e) => printer.printExpr(e),
    condition: (e) => printer.printCondition(e),
    local: (name) => printer.namer.identifier(name),
    prelude: (extra = []) => printer.prelude([...printer.helpers, ...extra]),
  };
}

/**
 * A condition that an index lies in [start, end), leaving out what always
 * holds (`i >= 0` for unsigned indices: a compiler warning; `i < size` when the
 * range ends at the element count). `suffix` is the target's unsigned literal
 * suffix. Undefined when the whole range is covered.
 */
export function rangeCondition(
  index: string,
  start: number,
  end: number,
  count: number,
  suffix: string,
): string | undefined {
  const parts = [
    ...(start > 0 ? [`${index} >= ${start}${suffix}`] : []),
    ...(end < count ? [`${index} < ${end}${suffix}`] : []),
  ];
  return parts.length === 0 ? undefined : parts.join(' && ');
}

/**
 * The word a delivery adds to for synapse `k` (a local) at counter index
 * `index`: the row of the arrival step when delays vary per synapse.
 */
function counterWord(
  layout: BufferLayout,
  delivery: Delivery,
  dataIndex: number,
  index: string,
  step: string,
  suffix: string,
): string {
  const c = layout.counter(delivery.counter.name);
  const delays = layout.dataOf(dataIndex).delays;
  if (delays === undefined || c.slots === 1) return `${c.offset}${suffix} + ${index}`;
  // delay >= ringDelay, so the sum never goes below zero.
  return `${c.offset}${suffix} + ((${step} + sf_conn[${delays}${suffix} + k] - ${delivery.ringDelay}${suffix}) % ${c.slots}${suffix}) * ${c.size}${suffix} + ${index}`;
}

/** The word a kernel reads (and clears) for its element of a counter: row step % slots. */
export function counterRead(
  layout: BufferLayout,
  counter: string,
  step: string,
  suffix: string,
): string {
  const c = layout.counter(counter);
  return c.slots === 1
    ? `${c.offset}${suffix} + sf_i`
    : `${c.offset}${suffix} + (${step} % ${c.slots}${suffix}) * ${c.size}${suffix} + sf_i`;
}

/**
 * What a gather (kernel-ir.ts) of projection `route` adds up for post neuron il: the value of
 * every pre-synaptic element (all_to_all), of element il (one_to_one), or of the elements
 * listed in il's in-row of stored connectivity (words inStart[il] .. inStart[il + 1] of the
 * connectivity buffer index `element`: sources for per-pre state, synapse ids for per-synapse
 * state). Procedural rows cannot be gathered (routing keeps such state off them).
 */
export type GatherSource =
  | { readonly kind: 'all'; readonly count: number }
  | { readonly kind: 'one' }
  | { readonly kind: 'rows'; readonly inStart: number; readonly element: number };

export function gatherSource(
  layout: BufferLayout,
  route: number,
  over: 'sources' | 'synapses',
): GatherSource {
  const r = layout.route(route);
  switch (r.connectivity.kind) {
    case 'all':
      return { kind: 'all', count: r.projection.preRange.end - r.projection.preRange.start };
    case 'one':
      return { kind: 'one' };
    case 'geometric':
      throw new InternalError(
        'procedural rows cannot be gathered by post neuron (routing refuses them)',
      );
    case 'rows':
      return {
        kind: 'rows',
        inStart: layout.rowArray(route, 'inStart'),
        element: layout.rowArray(route, over === 'sources' ? 'inSources' : 'inSynapses'),
      };
  }
}

/** How a target spells the parts of a delivery kernel's body that differ between targets. */
export interface DeliverySyntax {
  /** The step counter's expression. */
  readonly step: string;
  /** Lines running `body` for every `k` in [from, to). */
  loop(from: string, to: string, body: string, indent: string): string[];
  /**
   * Lines running `visit(il, drawn)` for every post target `il` of pre neuron `jl` (the
   * target's forEachTarget); `drawn` is the u32 local with the connection's drawn weight in
   * quanta (procedural rows with drawn weights; see DrawnWeights), else undefined.
   */
  forEachTarget(
    route: Route,
    visit: (il: string, drawn: string | undefined) => string,
    indent: string,
  ): string[];
}

/**
 * Whether a delivery kernel needs the spiking neuron's local index `jl`: all but an
 * all-to-all delivery onto the post population, which reaches every target whoever spiked.
 * The kernel reads the index `j` itself where it needs `jl` or tests j's range.
 */
export function deliveryReadsLocalIndex(delivery: Delivery): boolean {
  return !(delivery.route.connectivity.kind === 'all' && delivery.targets === 'post');
}

/** What a delivery kernel does, for the comment at its top. */
export function deliveryDescription(delivery: Delivery, ringDelay: number): string {
  const p = delivery.route.projection;
  const to =
    delivery.targets === 'post'
      ? p.post
      : delivery.targets === 'self'
        ? 'their own pre-synaptic state'
        : delivery.targets === 'outgoing'
          ? 'their synapses'
          : 'the synapses that end on them (on_post)';
  return `projection ${p.name}: spikes of ${delivery.source} from ${ringDelay} step(s) ago to ${to}`;
}

/**
 * The body of delivery kernel `index` once the spiking neuron's local index
 * `jl` is known: the counter additions for its targets (see Delivery in
 * network.ts), the same on every GPU target (u32 atomics on `sf_events`).
 */
export function deliveryAdds(
  delivery: Delivery,
  index: number,
  layout: BufferLayout,
  syntax: DeliverySyntax,
): string[] {
  const route = delivery.route;
  const word = (il: string): string => counterWord(layout, delivery, index, il, syntax.step, 'u');
  switch (delivery.targets) {
    case 'post': {
      const weights = layout.dataOf(index).weights;
      const stored = weights === undefined ? '1u' : `sf_conn[${weights}u + k]`;
      const start = route.projection.postRange.start;
      return syntax.forEachTarget(
        route,
        (il, drawn) => `atomicAdd(&sf_events[${word(`${start}u + ${il}`)}], ${drawn ?? stored});`,
        '  ',
      );
    }
    case 'self':
      return [`  atomicAdd(&sf_events[${word('jl')}], 1u);`];
    case 'outgoing': {
      const outStart = layout.rowArray(route.index, 'outStart');
      return syntax.loop(
        `sf_conn[${outStart}u + jl]`,
        `sf_conn[${outStart}u + jl + 1u]`,
        `atomicAdd(&sf_events[${word('k')}], 1u);`,
        '  ',
      );
    }
    case 'incoming': {
      const inStart = layout.rowArray(route.index, 'inStart');
      const inSynapses = layout.rowArray(route.index, 'inSynapses');
      return syntax.loop(
        `sf_conn[${inStart}u + jl]`,
        `sf_conn[${inStart}u + jl + 1u]`,
        `atomicAdd(&sf_events[${word(`sf_conn[${inSynapses}u + k]`)}], 1u);`,
        '  ',
      );
    }
  }
}
