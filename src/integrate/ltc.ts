/**
 * The summed input current of an `ltc` neuron as a symbolic expression of its own state, for
 * `deriveUpdate(model, { ltcInput })`: the external input plus the current of every output
 * that targets the population, each with its parameter values and the value its synapse
 * delivers (brainpy-semantics.md §4.2).
 */

import type { Network, Override, Parameter } from '../ir/types.js';
import { type Expr as SymExpr, add, sym } from '../symbolic/expr.js';
import { substitute } from '../symbolic/diff.js';
import { toSymbolic } from './to-symbolic.js';

export interface LtcInput {
  /** `I.ext + sum_k current_k`, with `post.X` as the neuron's state X. */
  readonly input: SymExpr;
  /** The symbols it introduces, for messages: `I.ext` (stimuli), `P.g` (what projection P delivers). */
  readonly legend: string;
}

function parameterValue(p: Parameter, args: readonly Override[]): SymExpr | undefined {
  const given = args.find((a) => a.name === p.name)?.value ?? p.value;
  return given === undefined ? undefined : toSymbolic(given);
}

/**
 * The ltc input of population `population` of `network`: symbols `${I}.ext` for the external
 * input (stimuli) and `${projection}.g` for the value each projection's synapse delivers
 * (summed over the synapses onto one neuron); output parameters take their values.
 */
export function ltcInputForPopulation(network: Network, population: string): LtcInput | undefined {
  const pop = network.populations.find((p) => p.name === population);
  if (pop === undefined || pop.source.kind !== 'neuron') return undefined;
  const input = pop.source.model.input;
  if (input === undefined) return undefined;
  const terms: SymExpr[] = [sym(`${input.name}.ext`)];
  const legend = [`${input.name}.ext = the external input`];
  const own = new Map(pop.source.model.states.map((s) => [`post.${s.name}`, sym(s.name)]));
  for (const proj of network.projections) {
    if (proj.post !== population || proj.output === undefined) continue;
    const use = proj.output;
    const output = use.model;
    const values = new Map<string, SymExpr>([['g', sym(`${proj.name}.g`)], ...own]);
    for (const p of output.parameters) {
      const v = parameterValue(p, use.arguments);
      values.set(p.name, v ?? sym(`${proj.name}.${p.name}`));
    }
    terms.push(substitute(toSymbolic(output.current), values));
    legend.push(`${proj.name}.g = what projection ${proj.name} delivers`);
  }
  return { input: add(...terms), legend: legend.join(', ') };
}
