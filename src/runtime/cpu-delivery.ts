import { forEachTarget } from '../codegen/connectivity.js';
import type { BufferLayout } from '../codegen/layout.js';

/**
 * Step 1 of language.md's step in JavaScript, for the JavaScript kernels: word for word what
 * the delivery kernels do (emit.ts deliveryAdds; WebAssembly: wasm/delivery.ts). Each spike
 * emitted ringDelay steps ago adds to its delivery's counter (1, or the synapse's integer
 * weight, stored or drawn, in the row of its arrival step). Then this step's ring slots are emptied for the
 * spikes about to be emitted.
 */
export function deliverInJs(
  layout: BufferLayout,
  events: Uint32Array,
  step: number,
  seed: number,
): void {
  for (const delivery of layout.deliveries) {
    const { route, range } = delivery;
    const p = route.projection;
    const ring = layout.ring(delivery.source)!;
    const d = delivery.ringDelay;
    // (step - d) mod slots, kept non-negative by adding slots (d < slots).
    const slot = ring.offset + ((step + ring.slots - d) % ring.slots) * ring.stride;
    const c = layout.counter(delivery.counter.name);
    const rows = route.connectivity.kind === 'rows' ? route.connectivity.rows : undefined;
    const { weights, delays } = delivery;
    // Uint32Array stores wrap modulo 2^32, like the GPU's u32 atomics.
    const arrivalRow = (k: number): number =>
      delays === undefined ? 0 : ((step + delays[k]! - d) % c.slots) * c.size;
    const nPost = p.postRange.end - p.postRange.start;
    const postBase = c.offset + p.postRange.start;
    const spikes = events[slot]!;
    for (let s = 0; s < spikes; s++) {
      const jl = events[slot + 1 + s]! - range.start;
      if (jl < 0 || jl >= range.end - range.start) continue;
      switch (delivery.targets) {
        case 'post':
          if (rows === undefined)
            forEachTarget(route.connectivity, jl, nPost, seed, (i, weight) => {
              events[postBase + i]! += weight;
            });
          else {
            // The hot loop of a CPU run: no closure call per synapse in the common case.
            const { outStart, outTargets } = rows;
            const end = outStart[jl + 1]!;
            if (weights === undefined && delays === undefined)
              for (let k = outStart[jl]!; k < end; k++) events[postBase + outTargets[k]!]! += 1;
            else
              for (let k = outStart[jl]!; k < end; k++)
                events[postBase + arrivalRow(k) + outTargets[k]!]! += weights?.[k] ?? 1;
          }
          break;
        case 'self':
          events[c.offset + jl]! += 1;
          break;
        case 'outgoing':
          for (let k = rows!.outStart[jl]!; k < rows!.outStart[jl + 1]!; k++)
            events[c.offset + arrivalRow(k) + k]! += 1;
          break;
        case 'incoming':
          for (let k = rows!.inStart[jl]!; k < rows!.inStart[jl + 1]!; k++)
            events[c.offset + rows!.inSynapses[k]!]! += 1;
          break;
      }
    }
  }
  for (const population of layout.ringPopulations) {
    const ring = layout.ring(population)!;
    events[ring.offset + (step % ring.slots) * ring.stride] = 0;
  }
}
