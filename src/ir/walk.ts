import { assertNever } from '../diagnostics/diagnostic.js';
import type { Expr, NeuronModel, Ref, Statement, SynapseModel } from './types.js';

/** The direct subexpressions of an expression. */
export function children(e: Expr): readonly Expr[] {
  switch (e.kind) {
    case 'literal':
    case 'bool':
    case 'ref':
    case 'prev':
    case 'wiener':
      return [];
    case 'unary':
      return [e.operand];
    case 'binary':
      return [e.left, e.right];
    case 'call':
      return e.args;
    case 'random':
      return e.args;
    case 'section':
      return [...e.values, ...e.durations];
    default:
      return assertNever(e);
  }
}

/** Every node of an expression, parents before children. */
export function* nodes(e: Expr): Generator<Expr> {
  yield e;
  for (const c of children(e)) yield* nodes(c);
}

/** Names of the given kind referenced anywhere in an expression, in order of first use. */
export function dependencies(e: Expr, kind: Extract<Ref, { name: string }>['kind']): string[] {
  const names = new Set<string>();
  for (const n of nodes(e)) if (n.kind === 'ref' && n.ref.kind === kind) names.add(n.ref.name);
  return [...names];
}

/**
 * The state a refractory neuron holds (language.md: "V is held; other states keep
 * integrating"): V (or v), else the first state its spike condition names, else its first
 * state. An adaptive threshold in the condition (`spike when v > vt`) keeps integrating.
 */
export function heldState(model: NeuronModel): string | undefined {
  const named =
    model.states.find((s) => s.name === 'V') ?? model.states.find((s) => s.name === 'v');
  if (named !== undefined) return named.name;
  if (model.spike !== undefined)
    for (const n of nodes(model.spike)) {
      if (n.kind === 'prev') return n.state;
      if (n.kind === 'ref' && n.ref.kind === 'state') return n.ref.name;
    }
  return model.states[0]?.name;
}

/** Every expression inside statements (conditions and assigned values), depth first. */
export function* statementExprs(body: readonly Statement[]): Generator<Expr> {
  for (const s of body) {
    if (s.kind === 'assign') yield s.value;
    else {
      yield s.condition;
      yield* statementExprs(s.then);
      yield* statementExprs(s.otherwise);
    }
  }
}

/** Every assignment inside statements, in every branch, depth first. */
export function* assignments(
  body: readonly Statement[],
): Generator<Extract<Statement, { kind: 'assign' }>> {
  for (const s of body) {
    if (s.kind === 'assign') yield s;
    else {
      yield* assignments(s.then);
      yield* assignments(s.otherwise);
    }
  }
}

/** The name a reference is written with (and its symbol in symbolic form) (`V`, `tau`, `I`, `t`, `dt`, `w`, `g`, `post.V`). */
export function refName(ref: Ref): string {
  switch (ref.kind) {
    case 'parameter':
    case 'state':
    case 'subexpression':
    case 'input':
      return ref.name;
    case 'time':
      return 't';
    case 'dt':
      return 'dt';
    case 'weight':
      return 'w';
    case 'delivered':
      return 'g';
    case 'post':
    case 'pre':
      return `${ref.kind}.${ref.name}`;
    case 'index':
      return ref.side === 'pre' ? 'i' : 'j';
    default:
      return assertNever(ref);
  }
}

/** The initial values a synapse model's states start from (a zero start has none). */
export function initialValueExprs(model: SynapseModel): Expr[] {
  return model.states.flatMap((s) => (s.init.kind === 'zero' ? [] : [s.init.value]));
}

/** The variables of their neurons that expressions read, as written (`post.V`, `pre.depol`). */
export function neuronVariablesRead(exprs: readonly Expr[]): Set<string> {
  const read = new Set<string>();
  for (const e of exprs)
    for (const n of nodes(e))
      if (n.kind === 'ref' && (n.ref.kind === 'pre' || n.ref.kind === 'post'))
        read.add(refName(n.ref));
  return read;
}

/**
 * Whether a synapse model reads a variable of its pre- or post-synaptic neuron (`pre.X`,
 * `post.X`), in its kernels or in the initial values of its states.
 */
export function readsNeuron(model: SynapseModel, side: 'pre' | 'post'): boolean {
  const exprs = [
    ...model.subexpressions.map((x) => x.value),
    ...model.equations.map((x) => x.rhs),
    ...statementExprs(model.onPre),
    ...statementExprs(model.onPost),
    ...(model.delivers === undefined ? [] : [model.delivers]),
    ...initialValueExprs(model),
  ];
  return [...neuronVariablesRead(exprs)].some((x) => x.startsWith(`${side}.`));
}

/**
 * The parameters, states and subexpressions of a neuron model whose values a state's values
 * depend on, the state itself included: what its initial value and equation read, and, where
 * an event changes it (its reset, the refractory hold), the spike condition, the reset and the
 * refractory period; followed through everything those read.
 */
export function stateDependencies(model: NeuronModel, state: string): Set<string> {
  const found = new Set<string>();
  const pending = [state];
  const read = (e: Expr | undefined): void => {
    if (e === undefined) return;
    for (const n of nodes(e)) {
      if (n.kind === 'prev') pending.push(n.state);
      else if (
        n.kind === 'ref' &&
        (n.ref.kind === 'parameter' || n.ref.kind === 'state' || n.ref.kind === 'subexpression')
      )
        pending.push(n.ref.name);
    }
  };
  const reset = [...assignments(model.reset)];
  const held = model.refractory === undefined ? undefined : heldState(model);
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (found.has(name)) continue;
    found.add(name);
    read(model.parameters.find((p) => p.name === name)?.value);
    read(model.subexpressions.find((s) => s.name === name)?.value);
    const own = model.states.find((s) => s.name === name);
    if (own === undefined) continue;
    if (own.init.kind !== 'zero') read(own.init.value);
    for (const eq of model.equations) if (eq.state === name) read(eq.rhs);
    const reassigned = reset.some((s) => s.target.kind === 'state' && s.target.name === name);
    if (reassigned) for (const e of statementExprs(model.reset)) read(e);
    if (reassigned || name === held) {
      read(model.spike);
      read(model.refractory);
    }
  }
  return found;
}
