import type { Precision } from '../printer.js';
import {
  type KernelPrinter,
  type StatementSyntax,
  counterRead,
  emitStatements,
  rangeCondition,
  gatherSource,
  neuronStateSource,
} from '../emit.js';
import { readLocals } from '../legalize.js';
import { INDEX, type PopulationKernel, SPIKED, STEP, nextName } from '../kernel-ir.js';
import type { BufferLayout } from '../layout.js';

/** Parameters of every generated step function; the `sf_` prefix keeps them apart from model names. */
export const JS_KERNEL_PARAMETERS = [
  'sf_state',
  'sf_record',
  'sf_spikes',
  'sf_rt',
  'sf_step',
  'sf_chunk_step',
  'sf_events',
  'sf_conn',
] as const;

/** JavaScript spelling of kernel statements; random draws and Bernoulli connections call the runtime's Philox helpers. */
function jsSyntax(layout: BufferLayout, precision: Precision): StatementSyntax {
  const add = (a: string, b: string): string =>
    precision === 'f32' ? `Math.fround(${a} + ${b})` : `${a} + ${b}`;
  return {
    declareFloat: (name, value) => `let ${name} = ${value};`,
    declareBool: (name, value) => `const ${name} = ${value};`,
    assign: (name, value) => `${name} = ${value};`,
    ifOpen: (condition) => `if (${condition}) {`,
    elseOpen: '} else {',
    close: '}',
    random: (name, distribution, stream, purpose) =>
      `let ${name} = sf_rt.${distribution}(${stream}, sf_i, sf_step, ${purpose});`,
    count: (name, counter) => {
      const at = counterRead(layout, counter, 'sf_step', '');
      // A signed counter holds a two's-complement sum: `| 0` reads it as int32.
      const value = layout.counter(counter).signed ? `sf_events[${at}] | 0` : `sf_events[${at}]`;
      return [`let ${name} = ${value};`, `sf_events[${at}] = 0;`];
    },
    gather: (name, route, owner, state, over) => {
      const p = layout.route(route).projection;
      const source = layout.stateOffset(owner, state);
      const local = `(sf_i - ${p.postRange.start})`;
      const from = gatherSource(layout, route, over);
      const lines = [
        `let ${name} = 0;`,
        `if (sf_i >= ${p.postRange.start} && sf_i < ${p.postRange.end}) {`,
      ];
      switch (from.kind) {
        case 'all':
          lines.push(
            `  for (let j = 0; j < ${from.count}; j++) ${name} = ${add(name, `sf_state[${source} + j]`)};`,
          );
          break;
        case 'one':
          lines.push(`  ${name} = sf_state[${source} + ${local}];`);
          break;
        case 'rows':
          lines.push(
            `  for (let k = sf_conn[${from.inStart} + ${local}]; k < sf_conn[${from.inStart} + ${local} + 1]; k++) ${name} = ${add(name, `sf_state[${source} + sf_conn[${from.element} + k]]`)};`,
          );
          break;
      }
      lines.push('}');
      return lines;
    },
    neuronState: (name, read) => {
      const { base, row } = neuronStateSource(read, layout);
      const index = row === undefined ? 'sf_i' : `sf_conn[${row} + sf_i]`;
      return [`let ${name} = sf_state[${base} + ${index}];`];
    },
    spikeTime: (name, cursor, next, owner) => {
      const o = layout.spikeTimeOffsets(owner);
      return [
        `const sf_event = ${o.steps} + sf_conn[${o.start} + sf_i] + ${cursor};`,
        `const ${name} = sf_event < ${o.steps} + sf_conn[${o.start} + sf_i + 1] && sf_conn[sf_event] === sf_step;`,
        `let ${next} = ${name} ? ${cursor} + 1 : ${cursor};`,
      ];
    },
  };
}

/**
 * The body of a JavaScript function that runs one step of one kernel, taking
 * JS_KERNEL_PARAMETERS. `sf_events` holds the spike rings and delivery
 * counters as on the GPU; `sf_spikes` is the recording append buffer
 * (`push(chunk step, global index)`); `sf_rt` holds the Philox draws. The CPU
 * backend compiles it with `new Function`.
 */
export function emitJsPopulation(
  kernel: PopulationKernel,
  layout: BufferLayout,
  printer: KernelPrinter,
  precision: Precision,
): string {
  const i = 'sf_i';
  const used = readLocals(kernel.body);
  const lines = [
    `// ${kernel.population}: ${kernel.size} threads`,
    `for (let ${i} = 0; ${i} < ${kernel.size}; ${i}++) {`,
  ];
  if (used.has(INDEX)) lines.push(`  const ${printer.local(INDEX)} = ${i};`);
  if (used.has(STEP)) lines.push(`  const ${printer.local(STEP)} = sf_step;`);
  // A state's start-of-step value is loaded only where the step reads it.
  for (const s of kernel.states)
    if (used.has(s))
      lines.push(
        `  const ${printer.local(s)} = sf_state[${layout.stateOffset(kernel.population, s)} + ${i}];`,
      );
  lines.push(...emitStatements(kernel.body, printer, jsSyntax(layout, precision), '  '));
  for (const s of kernel.states)
    lines.push(
      `  sf_state[${layout.stateOffset(kernel.population, s)} + ${i}] = ${printer.local(nextName(s))};`,
    );
  if (kernel.spikes) {
    lines.push(
      `  if (${printer.local(SPIKED)}) {`,
      `    sf_spikes.push(sf_chunk_step, ${layout.neuronOffset(kernel.population)} + ${i});`,
    );
    const ring = layout.ring(kernel.population);
    if (ring !== undefined) {
      lines.push(
        `    const sf_slot = ${ring.offset} + (sf_step % ${ring.slots}) * ${ring.stride};`,
        `    sf_events[sf_slot + 1 + sf_events[sf_slot]] = ${i};`,
        '    sf_events[sf_slot] += 1;',
      );
    }
    lines.push('  }');
  }
  layout.traces.forEach((t, r) => {
    if (t.population !== kernel.population) return;
    const inRange = rangeCondition(i, t.start, t.end, kernel.size, '');
    lines.push(
      `  ${inRange === undefined ? '' : `if (${inRange}) `}sf_record[sf_chunk_step * ${layout.recordRow} + ${layout.traceOffset(r) - t.start} + ${i}] = ${printer.local(recordedLocal(kernel, t.variable))};`,
    );
  });
  lines.push('}');
  return lines.join('\n');
}

/** The local a trace reads: a state's end-of-step value, or a value computed in the step (the input current). */
export function recordedLocal(kernel: PopulationKernel, variable: string): string {
  return kernel.states.includes(variable)
    ? nextName(variable)
    : (kernel.values?.get(variable) ?? variable);
}
