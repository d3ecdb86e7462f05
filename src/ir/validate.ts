import { InternalError } from '../diagnostics/diagnostic.js';
import { nodes, statementExprs } from './walk.js';
import type { Expr, Model, Program } from './types.js';

/**
 * Checks IR invariants that the passes promise each other: every reference
 * names something the model declares, subexpressions come after what they use,
 * literals are finite. A failure is a bug in spikeforge, never the user's
 * mistake, so it throws an InternalError.
 */
export function validateModel(model: Model): void {
  const declared = new Map<string, string>();
  for (const p of model.parameters) declared.set(p.name, 'parameter');
  const exprs: Expr[] = model.parameters.flatMap((p) => (p.value === undefined ? [] : [p.value]));
  if (model.kind === 'output') exprs.push(model.current);
  else {
    for (const s of model.states) declared.set(s.name, 'state');
    if (model.kind === 'neuron' && model.input !== undefined)
      declared.set(model.input.name, 'input');
    const available = new Set<string>();
    for (const s of model.subexpressions) {
      for (const n of nodes(s.value)) {
        if (n.kind === 'ref' && n.ref.kind === 'subexpression' && !available.has(n.ref.name)) {
          throw new InternalError(
            `${model.name}: subexpression ${s.name} uses ${n.ref.name} before it is defined`,
          );
        }
      }
      available.add(s.name);
      declared.set(s.name, 'subexpression');
      exprs.push(s.value);
    }
    for (const s of model.states) if (s.init.kind !== 'zero') exprs.push(s.init.value);
    for (const e of model.equations) {
      if (declared.get(e.state) !== 'state')
        throw new InternalError(`${model.name}: equation for non-state ${e.state}`);
      exprs.push(e.rhs);
    }
    if (model.kind === 'neuron') {
      if (model.spike !== undefined) exprs.push(model.spike);
      if (model.refractory !== undefined) exprs.push(model.refractory);
      for (const e of statementExprs(model.reset)) exprs.push(e);
    } else {
      if (model.delivers !== undefined) exprs.push(model.delivers);
      for (const e of statementExprs(model.onPre)) exprs.push(e);
      for (const e of statementExprs(model.onPost)) exprs.push(e);
    }
  }
  for (const e of exprs) {
    for (const n of nodes(e)) {
      if (n.kind === 'literal' && !Number.isFinite(n.value))
        throw new InternalError(`${model.name}: non-finite literal`);
      if (n.kind === 'ref' && 'name' in n.ref && n.ref.kind !== 'post' && n.ref.kind !== 'pre') {
        if (declared.get(n.ref.name) !== n.ref.kind)
          throw new InternalError(`${model.name}: dangling ${n.ref.kind} reference ${n.ref.name}`);
      }
      if (n.kind === 'prev' && declared.get(n.state) !== 'state')
        throw new InternalError(`${model.name}: prev of non-state ${n.state}`);
    }
  }
}

export function validateProgram(program: Program): void {
  for (const m of program.models.values()) validateModel(m);
  for (const n of program.networks.values()) {
    const sizes = new Map(n.populations.map((p) => [p.name, p.size]));
    for (const p of n.projections) {
      for (const [pop, range] of [
        [p.pre, p.preRange],
        [p.post, p.postRange],
      ] as const) {
        const size = sizes.get(pop);
        if (size === undefined || range.start < 0 || range.end > size || range.start >= range.end) {
          throw new InternalError(`${n.name}: projection ${p.name} has an invalid range on ${pop}`);
        }
      }
    }
  }
}
