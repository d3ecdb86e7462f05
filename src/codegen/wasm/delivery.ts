import { InternalError, assertNever } from '../../diagnostics/diagnostic.js';
import { deliveryDescription } from '../emit.js';
import type { BufferLayout } from '../layout.js';
import type { Delivery } from '../network.js';
import { get, i32 } from './element.js';
import type { WasmMemoryPlan } from './kernel.js';

/**
 * Step 1 of language.md's step for the CPU backend, `sf_deliver(step)`: what the delivery
 * kernels of the GPU targets do (emit.ts deliveryAdds), one spike after another on one thread,
 * then the emptying of this step's ring slots. Each spike emitted ringDelay steps ago adds to
 * its delivery's counters: 1, or the synapse's integer weight, in the row of its arrival step.
 * u32 additions wrap as the GPUs' atomics do.
 */
export function emitWasmDelivery(layout: BufferLayout, plan: WasmMemoryPlan): string {
  const body = [
    ...layout.deliveries.flatMap((d, index) => deliverySpikes(d, index, layout, plan)),
    ...layout.ringPopulations.map((population) => {
      const ring = layout.ring(population)!;
      return `(i32.store ${slotAddress(plan, ring.offset, ring.slots, ring.stride, 0)} (i32.const 0))`;
    }),
  ];
  return [
    '(func $sf_deliver (export "sf_deliver") (param $sf_step i32)',
    ...['slot', 'count', 's', 'jl', 'k', 'end', 'at'].map((n) => `  (local $sf_${n} i32)`),
    ...body.map((l) => `  ${l}`),
    ')',
  ].join('\n');
}

/** Byte address of word `offset + ((step - d) mod slots) * stride` of the events buffer. */
function slotAddress(
  plan: WasmMemoryPlan,
  offset: number,
  slots: number,
  stride: number,
  d: number,
): string {
  // (step - d) mod slots, kept non-negative by adding slots (d < slots); no product that could
  // pass 2^32.
  const row = `(i32.rem_u ${plus((slots - d) % slots, get('sf_step'))} ${i32(slots)})`;
  return `(i32.add ${i32(plan.events + 4 * offset)} (i32.mul ${row} ${i32(4 * stride)}))`;
}

/** `value + n` (an i32 expression), without adding a zero. */
const plus = (n: number, value: string): string =>
  n === 0 ? value : n > 0 ? `(i32.add ${value} ${i32(n)})` : `(i32.sub ${value} ${i32(-n)})`;

/** Adds `amount` to the events word at byte address `address`. */
const addTo = (address: string, amount: string): string[] => [
  `(local.set $sf_at ${address})`,
  `(i32.store ${get('sf_at')} (i32.add (i32.load ${get('sf_at')}) ${amount}))`,
];

/** Word `first + index` of the connectivity buffer (`index` an i32 expression). */
const connWord = (plan: WasmMemoryPlan, first: number, index: string): string =>
  `(i32.load offset=${plan.conn + 4 * first} (i32.shl ${index} (i32.const 2)))`;

/** The first and end word of spiking neuron sf_jl's row of its route's out- or in-rows. */
function rowOf(
  layout: BufferLayout,
  plan: WasmMemoryPlan,
  delivery: Delivery,
  array: 'outStart' | 'inStart',
): [string, string] {
  const first = layout.rowArray(delivery.route.index, array);
  return [connWord(plan, first, get('sf_jl')), connWord(plan, first + 1, get('sf_jl'))];
}

/** `body` for every `index` (a local) in [from, to), `to` evaluated once into the local `end`. */
function loop(
  label: string,
  index: string,
  end: string,
  from: string,
  to: string,
  body: readonly string[],
): string[] {
  return [
    `(local.set $${index} ${from})`,
    `(local.set $${end} ${to})`,
    `(block $${label}_done (loop $${label}`,
    `  (br_if $${label}_done (i32.ge_u ${get(index)} ${get(end)}))`,
    ...body.map((l) => `  ${l}`),
    `  (local.set $${index} (i32.add ${get(index)} (i32.const 1)))`,
    `  (br $${label})))`,
  ];
}

/** `body` for every sf_k in [from, to). */
const synapseLoop = (label: string, from: string, to: string, body: readonly string[]): string[] =>
  loop(label, 'sf_k', 'sf_end', from, to, body);

/** One delivery: every spike of its source's ring slot from ringDelay steps ago, within its range. */
function deliverySpikes(
  delivery: Delivery,
  index: number,
  layout: BufferLayout,
  plan: WasmMemoryPlan,
): string[] {
  const ring = layout.ring(delivery.source)!;
  const { start, end } = delivery.range;
  const label = `sf_d${index}`;
  const slot = slotAddress(plan, ring.offset, ring.slots, ring.stride, delivery.ringDelay);
  // Unsigned: an index below the range wraps above it.
  const local = plus(
    -start,
    `(i32.load offset=4 (i32.add ${get('sf_slot')} (i32.shl ${get('sf_s')} (i32.const 2))))`,
  );
  return [
    `;; ${deliveryDescription(delivery, delivery.ringDelay)}`,
    `(local.set $sf_slot ${slot})`,
    ...loop(label, 'sf_s', 'sf_count', i32(0), `(i32.load ${get('sf_slot')})`, [
      `(local.set $sf_jl ${local})`,
      `(if (i32.lt_u ${get('sf_jl')} ${i32(end - start)}) (then`,
      ...deliveryAdds(delivery, index, layout, plan, `${label}_k`).map((l) => `  ${l}`),
      '))',
    ]),
  ];
}

/** The additions for spiking neuron sf_jl of one delivery (emit.ts deliveryAdds). */
function deliveryAdds(
  delivery: Delivery,
  index: number,
  layout: BufferLayout,
  plan: WasmMemoryPlan,
  label: string,
): string[] {
  const route = delivery.route;
  const c = layout.counter(delivery.counter.name);
  const data = layout.dataOf(index);
  const counterBase = plan.events + 4 * c.offset;
  // Byte address of word `first + element` of the counter, in the row of synapse sf_k's
  // arrival step where the synapses have delays of their own.
  const counterAt = (element: string, first = 0): string => {
    const word = `(i32.shl ${element} (i32.const 2))`;
    const base = counterBase + 4 * first;
    if (data.delays === undefined || c.slots === 1) return `(i32.add ${i32(base)} ${word})`;
    // delay >= ringDelay, so the sum never goes below zero.
    const arrival = `(i32.rem_u (i32.sub (i32.add ${get('sf_step')} ${connWord(plan, data.delays, get('sf_k'))}) ${i32(delivery.ringDelay)}) ${i32(c.slots)})`;
    return `(i32.add (i32.add ${i32(base)} (i32.mul ${arrival} ${i32(4 * c.size)})) ${word})`;
  };
  switch (delivery.targets) {
    case 'post':
      return postAdds(delivery, index, layout, plan, label, counterAt);
    case 'self':
      return addTo(`(i32.add ${i32(counterBase)} (i32.shl ${get('sf_jl')} (i32.const 2)))`, i32(1));
    case 'outgoing':
      return synapseLoop(
        label,
        ...rowOf(layout, plan, delivery, 'outStart'),
        addTo(counterAt(get('sf_k')), i32(1)),
      );
    case 'incoming': {
      const synapse = connWord(plan, layout.rowArray(route.index, 'inSynapses'), get('sf_k'));
      const at = `(i32.add ${i32(counterBase)} (i32.shl ${synapse} (i32.const 2)))`;
      return synapseLoop(label, ...rowOf(layout, plan, delivery, 'inStart'), addTo(at, i32(1)));
    }
    default:
      return assertNever(delivery.targets);
  }
}

/** A 'post' delivery: 1 (or the synapse's weight) to each post target of sf_jl. */
function postAdds(
  delivery: Delivery,
  index: number,
  layout: BufferLayout,
  plan: WasmMemoryPlan,
  label: string,
  counterAt: (element: string, first?: number) => string,
): string[] {
  const route = delivery.route;
  const p = route.projection;
  const data = layout.dataOf(index);
  const nPost = p.postRange.end - p.postRange.start;
  const first = p.postRange.start;
  const c = route.connectivity;
  if (c.kind !== 'rows' && (data.weights !== undefined || data.delays !== undefined))
    throw new InternalError(`projection ${p.name}: per-synapse data without stored rows`);
  switch (c.kind) {
    case 'all':
      return synapseLoop(label, i32(0), i32(nPost), addTo(counterAt(get('sf_k'), first), i32(1)));
    case 'one':
      return [
        `(if (i32.lt_u ${get('sf_jl')} ${i32(nPost)}) (then`,
        ...addTo(counterAt(get('sf_jl'), first), i32(1)).map((l) => `  ${l}`),
        '))',
      ];
    case 'geometric': {
      const table = layout.tableOffsets(route.index);
      const base = plan.events + 4 * (layout.counter(delivery.counter.name).offset + first);
      return [
        `(call $sf_add_geometric ${i32(plan.conn + 4 * table.entries)} ${i32(plan.conn + 4 * table.guide)} ${i32(c.stream)} ${get('sf_jl')} ${i32(nPost)} ${i32(base)} ${i32(table.knots === undefined ? 0 : plan.conn + 4 * table.knots)} ${i32(c.weights?.bits ?? 0)})`,
      ];
    }
    case 'rows': {
      const target = connWord(plan, layout.rowArray(route.index, 'outTargets'), get('sf_k'));
      const amount =
        data.weights === undefined ? i32(1) : connWord(plan, data.weights, get('sf_k'));
      return synapseLoop(
        label,
        ...rowOf(layout, plan, delivery, 'outStart'),
        addTo(counterAt(target, first), amount),
      );
    }
    default:
      return assertNever(c);
  }
}
