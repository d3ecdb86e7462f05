import { assertNever } from '../diagnostics/diagnostic.js';
import type { Expr, NeuronModel, Statement, StateVariable } from './types.js';

/**
 * A neuron model in which the parameters `names` are states without an equation: what a
 * population that sets them per neuron (`tau ~ normal(10 ms, 1 ms)`, `V_th = -55 mV + i * 0.1 mV`)
 * runs, as Brian2 runs a parameter declared without `(shared)`. Such a state never changes, so
 * every integrator treats it as it treated the parameter, now read per neuron instead of folded
 * into the kernel as a constant. Its initial value is the population's; the default, if any,
 * stays as the state's own.
 */
export function perNeuronModel(model: NeuronModel, names: ReadonlySet<string>): NeuronModel {
  const promoted = model.parameters.filter((p) => names.has(p.name));
  const states: StateVariable[] = promoted.map((p) => ({
    name: p.name,
    span: p.span,
    ...(p.unit === undefined ? {} : { unit: p.unit }),
    init: p.value === undefined ? { kind: 'zero' } : { kind: 'value', value: p.value },
  }));
  const expr = (e: Expr): Expr => asStates(e, names);
  const body = (statements: readonly Statement[]): Statement[] =>
    statements.map((s) => statementAsStates(s, names));
  return {
    ...model,
    parameters: model.parameters.filter((p) => !names.has(p.name)),
    states: [
      ...model.states.map((s) =>
        s.init.kind === 'zero' ? s : { ...s, init: { ...s.init, value: expr(s.init.value) } },
      ),
      ...states,
    ],
    subexpressions: model.subexpressions.map((s) => ({ ...s, value: expr(s.value) })),
    equations: model.equations.map((eq) => ({ ...eq, rhs: expr(eq.rhs) })),
    ...(model.spike === undefined ? {} : { spike: expr(model.spike) }),
    reset: body(model.reset),
    ...(model.refractory === undefined ? {} : { refractory: expr(model.refractory) }),
  };
}

/** `e` with every reference to a parameter in `names` made a reference to the state of that name. */
function asStates(e: Expr, names: ReadonlySet<string>): Expr {
  const rec = (x: Expr): Expr => asStates(x, names);
  switch (e.kind) {
    case 'literal':
    case 'bool':
    case 'prev':
    case 'wiener':
      return e;
    case 'ref':
      return e.ref.kind === 'parameter' && names.has(e.ref.name)
        ? { ...e, ref: { kind: 'state', name: e.ref.name } }
        : e;
    case 'unary':
      return { ...e, operand: rec(e.operand) };
    case 'binary':
      return { ...e, left: rec(e.left), right: rec(e.right) };
    case 'call':
      return { ...e, args: e.args.map(rec) };
    case 'random':
      return { ...e, args: [rec(e.args[0]), rec(e.args[1])] };
    case 'section':
      return { ...e, values: e.values.map(rec), durations: e.durations.map(rec) };
    default:
      return assertNever(e);
  }
}

function statementAsStates(s: Statement, names: ReadonlySet<string>): Statement {
  switch (s.kind) {
    case 'assign':
      return { ...s, value: asStates(s.value, names) };
    case 'if':
      return {
        ...s,
        condition: asStates(s.condition, names),
        then: s.then.map((x) => statementAsStates(x, names)),
        otherwise: s.otherwise.map((x) => statementAsStates(x, names)),
      };
    default:
      return assertNever(s);
  }
}
