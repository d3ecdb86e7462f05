/**
 * `spikeforge inspect --stage update`: the derived update of a model as readable math, with
 * the method chosen for each state and why.
 */

import { UsageError } from '../cli/io.js';
import { DiagnosticError } from '../diagnostics/diagnostic.js';
import type { Model, Network, NeuronModel, Program, SynapseModel } from '../ir/types.js';
import { formatMath } from '../symbolic/print.js';
import { type DeriveOptions, type DerivedUpdate, deriveUpdate } from './derive.js';
import { ltcInputForPopulation } from './ltc.js';

/** Prints the update derived for `model`. */
function formatUpdate(
  model: NeuronModel | SynapseModel,
  result: DerivedUpdate,
  note?: string,
): string {
  const lines = [`${model.kind} ${model.name}: one step, method ${model.method}`];
  if (note !== undefined) lines.push(`  (${note})`);
  if (model.states.length === 0) {
    lines.push('  no state to integrate');
    return lines.join('\n');
  }
  const updated = new Set(result.states.map((s) => s.state));
  for (const s of result.states) lines.push(`  ${s.state}: ${s.method} (${s.reason})`);
  for (const s of model.states)
    if (!updated.has(s.name)) lines.push(`  ${s.name}: no equation (kept; changed only by events)`);
  if (model.kind === 'neuron' && model.input?.ltc === true) {
    lines.push(
      `  ${model.input.name} (ltc): the synaptic currents enter f and J when the neuron is wired in a network`,
    );
  }
  if (result.temporaries.length > 0) {
    lines.push('  temporaries:');
    for (const t of result.temporaries) lines.push(`    ${t.name} = ${formatMath(t.value)}`);
  }
  lines.push('  update (every right-hand side uses start-of-step values):');
  for (const s of result.states) lines.push(`    ${s.state} <- ${formatMath(s.value)}`);
  if (result.noise.length > 0) {
    lines.push('  noise (Euler-Maruyama, after the update; xi ~ N(0, 1) per element and step):');
    for (const n of result.noise)
      lines.push(`    ${n.state} += ${formatMath(n.amplitude)} * sqrt(dt) * xi`);
  }
  return lines.join('\n');
}

/** The update of one model, or of every neuron and synapse model a network uses. */
export function formatUpdateStage(program: Program, name: string): string | undefined {
  const model = program.models.get(name);
  if (model !== undefined) return formatModelUpdate(model);
  const network = program.networks.get(name);
  if (network !== undefined) return formatNetworkUpdates(network);
  return undefined;
}

/** The update of a model; a model whose update cannot be derived is an error (exit 1), as in `run`. */
function formatModelUpdate(model: Model, options: DeriveOptions = {}, note?: string): string {
  if (model.kind === 'output')
    return `output ${model.name}: no state to integrate (current = an expression of g and post.V)`;
  const derived = deriveUpdate(model, options);
  if (derived.kind === 'error') throw new DiagnosticError(derived.diagnostics);
  return formatUpdate(model, derived, note);
}

function formatNetworkUpdates(network: Network): string {
  const parts: string[] = [];
  for (const pop of network.populations) {
    if (pop.source.kind !== 'neuron') continue;
    const model = pop.source.model;
    const ltc = model.input?.ltc === true ? ltcInputForPopulation(network, pop.name) : undefined;
    const note =
      ltc === undefined
        ? `population ${pop.name}`
        : `population ${pop.name}; ${model.input!.name} = ${formatMath(ltc.input)} inside the derivative, ${ltc.legend}`;
    parts.push(formatModelUpdate(model, ltc === undefined ? {} : { ltcInput: ltc.input }, note));
  }
  for (const proj of network.projections) {
    parts.push(formatModelUpdate(proj.synapse.model, {}, `projection ${proj.name}`));
  }
  return parts.join('\n\n');
}

/** The `update` stage printer of `spikeforge inspect` (src/cli/stages.ts). */
export function printUpdateStage(compiled: { readonly program: Program }, name: string): string {
  const text = formatUpdateStage(compiled.program, name);
  if (text === undefined) throw new UsageError(`no model or network named '${name}'`);
  return text;
}
