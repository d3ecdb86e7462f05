import { type KernelPrinter, type StatementSyntax, emitStatements } from '../emit.js';
import { INDEX, type PopulationKernel, SPIKED, STEP, nextName } from '../kernel-ir.js';
import type { BufferLayout } from '../layout.js';

/** JavaScript spelling of kernel statements; random draws call the runtime's Philox helpers. */
const JS_SYNTAX: StatementSyntax = {
  declareFloat: (name, value) => `let ${name} = ${value};`,
  declareBool: (name, value) => `const ${name} = ${value};`,
  assign: (name, value) => `${name} = ${value};`,
  ifOpen: (condition) => `if (${condition}) {`,
  elseOpen: '} else {',
  close: '}',
  random: (name, distribution, stream, purpose) => `let ${name} = sf_rt.${distribution}(${stream}, sf_i, sf_step, ${purpose});`,
};

/** Parameters of every generated step function; the `sf_` prefix keeps them apart from model names. */
export const JS_KERNEL_PARAMETERS = ['sf_state', 'sf_record', 'sf_spikes', 'sf_rt', 'sf_step', 'sf_chunk_step'] as const;

/**
 * The body of a JavaScript function that runs one step of one population,
 * taking JS_KERNEL_PARAMETERS. `sf_spikes` is the runtime's append buffer
 * (`push(chunk step, global index)`); `sf_rt` holds the Philox draws. The CPU
 * backend compiles it with `new Function`.
 */
export function emitJsPopulation(kernel: PopulationKernel, layout: BufferLayout, printer: KernelPrinter): string {
  const i = 'sf_i';
  const lines = [
    `// population ${kernel.population}: ${kernel.size} neurons`,
    `for (let ${i} = 0; ${i} < ${kernel.size}; ${i}++) {`,
    `  const ${printer.local(INDEX)} = ${i};`,
    `  const ${printer.local(STEP)} = sf_step;`,
  ];
  for (const s of kernel.states) lines.push(`  const ${printer.local(s)} = sf_state[${layout.stateOffset(kernel.population, s)} + ${i}];`);
  lines.push(...emitStatements(kernel.body, printer, JS_SYNTAX, '  '));
  for (const s of kernel.states) lines.push(`  sf_state[${layout.stateOffset(kernel.population, s)} + ${i}] = ${printer.local(nextName(s))};`);
  if (kernel.spikes) lines.push(`  if (${printer.local(SPIKED)}) sf_spikes.push(sf_chunk_step, ${layout.neuronOffset(kernel.population)} + ${i});`);
  layout.traces.forEach((t, r) => {
    if (t.population !== kernel.population) return;
    lines.push(`  if (${i} >= ${t.start} && ${i} < ${t.end}) sf_record[sf_chunk_step * ${layout.recordRow} + ${layout.traceOffset(r) - t.start} + ${i}] = ${printer.local(nextName(t.variable))};`);
  });
  lines.push('}');
  return lines.join('\n');
}
