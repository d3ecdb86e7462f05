import { WIENER_SYMBOL, subexpressionValues, toSymbolic } from '../integrate/to-symbolic.js';
import { freeSymbols } from '../symbolic/diff.js';
import { type Expr as SymExpr, sym } from '../symbolic/expr.js';
import { linearIn, linearSystem } from '../symbolic/linear.js';
import { formatMath } from '../symbolic/print.js';
import type { Expr, Placement, Statement, SynapseModel } from './types.js';
import { nodes, readsNeuron } from './walk.js';

/** Where a projection's synapse state lives, and why. */
export interface PlacementDecision {
  readonly placement: Placement;
  readonly reason: string;
  /**
   * For `post`: per state, the increment of one spike divided by w (`g += w` gives 1);
   * `post.X` for a jump of the post neuron's state X (`post.V += w`: a delta synapse).
   */
  readonly increments?: ReadonlyMap<string, SymExpr>;
}

/** The first of `names`, or of the neurons' variables (`post.` ones unless `postAllowed`), that e reads. */
function usesAny(e: SymExpr, names: ReadonlySet<string>, postAllowed = false): string | undefined {
  for (const s of freeSymbols(e))
    if (names.has(s) || (s.startsWith('post.') && !postAllowed) || s.startsWith('pre.')) return s;
  return undefined;
}

/** Whether event statements read or change the weight w. */
function mentionsWeight(body: readonly Statement[]): boolean {
  return body.some((s) =>
    s.kind === 'assign'
      ? s.target.kind === 'weight' || dependsOnWeight(s.value)
      : dependsOnWeight(s.condition) || mentionsWeight(s.then) || mentionsWeight(s.otherwise),
  );
}

function dependsOnWeight(e: Expr): boolean {
  for (const n of nodes(e)) if (n.kind === 'ref' && n.ref.kind === 'weight') return true;
  return false;
}

/** The per-spike increments of `on_pre` if it only adds multiples of w to states: `g += w`, `h += a * w`. */
function linearIncrements(
  onPre: readonly Statement[],
  model: SynapseModel,
  states: ReadonlySet<string>,
): Map<string, SymExpr> | string {
  const subexpressions = subexpressionValues(model);
  const increments = new Map<string, SymExpr>();
  for (const s of onPre) {
    if (
      s.kind !== 'assign' ||
      (s.target.kind !== 'state' && s.target.kind !== 'post') ||
      (s.op !== '+=' && s.op !== '-=')
    ) {
      return "on_pre does more than add to its states or its post neuron's (only 'x += c * w' and 'post.x += c * w' can be merged)";
    }
    const target = s.target.kind === 'post' ? `post.${s.target.name}` : s.target.name;
    const value = toSymbolic(s.value, { subexpressions });
    const lin = linearIn(value, 'w');
    if (lin.kind !== 'linear' || !(lin.rest.kind === 'num' && lin.rest.value === 0))
      return `on_pre adds ${formatMath(value)}, which is not a multiple of the weight w`;
    const other = usesAny(lin.coeff, new Set([...states, 'w', 't']));
    if (other !== undefined) return `the increment ${formatMath(value)} depends on ${other}`;
    if (increments.has(target)) return `on_pre changes ${target} twice`;
    increments.set(
      target,
      s.op === '+='
        ? lin.coeff
        : toSymbolic(
            { kind: 'unary', op: 'neg', operand: s.value, span: s.span },
            { subexpressions },
          ),
    );
  }
  return increments;
}

/**
 * Why a synapse's state cannot live per pre-synaptic neuron, or undefined where it can (for
 * weights and delays the same for every synapse). Such a state is shared by all the synapses
 * of one pre neuron, onto many post neurons: each synapse may only scale what the shared
 * state delivers by its weight, and the state itself must not depend on the weight or on a
 * post neuron.
 */
export function perPreProblem(model: SynapseModel): string | undefined {
  const subexpressions = subexpressionValues(model);
  if (model.delivers === undefined)
    return `${model.name} has no 'delivers' that the weight could scale`;
  const delivers = toSymbolic(model.delivers, { subexpressions });
  const lin = linearIn(delivers, 'w');
  if (
    lin.kind !== 'linear' ||
    !(lin.rest.kind === 'num' && lin.rest.value === 0) ||
    freeSymbols(lin.coeff).has('w')
  )
    return `${model.name} delivers ${formatMath(delivers)}, which the weight w does not scale (each synapse may only scale the shared value by its weight: delivers w * ...)`;
  if (model.onPost.length > 0) return `${model.name} has on_post, which differs per synapse`;
  if (mentionsWeight(model.onPre))
    return `on_pre of ${model.name} reads the weight w, which differs per synapse`;
  const wiener = sym(WIENER_SYMBOL);
  for (const e of model.equations)
    if (freeSymbols(toSymbolic(e.rhs, { subexpressions, wiener })).has('w'))
      return `d${e.state}/dt of ${model.name} reads the weight w`;
  if (readsNeuron(model, 'post'))
    return `${model.name} reads its post-synaptic neuron, which differs per synapse`;
  return undefined;
}

/**
 * Placement analysis (BrainPy's align-post merging, proven rather than assumed):
 * synapse state can live per post-synaptic neuron, shared by every projection
 * with the same synapse and output parameters, when its equations are linear
 * with constant coefficients, a spike adds a multiple of the weight, and what
 * it delivers does not involve the weight. Otherwise the state lives per
 * pre-synaptic neuron (when the weight only scales what is delivered, and the
 * projection's weights and delays are the same for every synapse) or per
 * synapse.
 */
export function analysePlacement(
  model: SynapseModel,
  projection: { readonly weightsVary?: boolean; readonly delaysVary?: boolean } = {},
): PlacementDecision {
  // A per-pre state is shared by every synapse of a pre neuron: it needs one weight factor and one arrival time.
  const varying = projection.weightsVary
    ? 'the weights vary per synapse'
    : projection.delaysVary
      ? 'the delays vary per synapse'
      : undefined;
  const states = new Set(model.states.map((s) => s.name));
  const subexpressions = subexpressionValues(model);
  const wiener = sym(WIENER_SYMBOL);
  const rhs = new Map(
    model.equations.map((e) => [e.state, toSymbolic(e.rhs, { subexpressions, wiener })]),
  );
  // Noise is independent for every synapse: a sum of many is not one noisy state of the sum.
  for (const [state, f] of rhs)
    if (freeSymbols(f).has(WIENER_SYMBOL))
      return {
        placement: 'synapse',
        reason: `d${state}/dt has noise (wiener()), independent for every synapse: the state is kept per synapse`,
      };
  const delivers =
    model.delivers === undefined ? undefined : toSymbolic(model.delivers, { subexpressions });
  const notMergeable = (why: string): PlacementDecision => {
    const problem = perPreProblem(model);
    if (problem !== undefined)
      return {
        placement: 'synapse',
        reason: `${why}; ${problem}: the state is kept per synapse`,
      };
    return varying === undefined
      ? {
          placement: 'pre',
          reason: `${why}; the weight only scales what it delivers, so the state is kept per pre-synaptic neuron`,
        }
      : {
          placement: 'synapse',
          reason: `${why}; the weight only scales what it delivers, but ${varying}: the state is kept per synapse`,
        };
  };
  // `wmax = 2 * w`: each synapse starts from its own weight.
  const startsFromWeight = model.states.find(
    (s) => s.init.kind !== 'zero' && dependsOnWeight(s.init.value),
  );
  if (startsFromWeight !== undefined)
    return {
      placement: 'synapse',
      reason: `the initial value of ${startsFromWeight.name} reads the weight w: the state is kept per synapse`,
    };
  if (model.onPost.length > 0) return notMergeable('it has on_post (plasticity)');
  // A merged state is shared by synapses from many pre neurons, a per-pre one by synapses onto many post neurons.
  if (readsNeuron(model, 'pre'))
    return readsNeuron(model, 'post')
      ? {
          placement: 'synapse',
          reason: 'it reads its pre- and its post-synaptic neuron: the state is kept per synapse',
        }
      : notMergeable('it reads its pre-synaptic neuron');
  const system = linearSystem(rhs, [...rhs.keys()]);
  if (system.kind === 'nonlinear')
    return notMergeable(`d${system.state}/dt has the non-linear term ${formatMath(system.term)}`);
  // The post neuron's variables are shared by every synapse merged into it: they may enter.
  for (const [state, f] of rhs) {
    const other = usesAny(f, new Set(['w', 't']), true);
    if (other !== undefined) return notMergeable(`d${state}/dt depends on ${other}`);
  }
  if (delivers !== undefined && freeSymbols(delivers).has('w'))
    return notMergeable(`it delivers ${formatMath(delivers)}, which involves the weight`);
  const increments = linearIncrements(model.onPre, model, states);
  if (typeof increments === 'string') return notMergeable(increments);
  const postReads = [...rhs.values(), ...(delivers === undefined ? [] : [delivers])].some((f) =>
    [...freeSymbols(f)].some((x) => x.startsWith('post.')),
  );
  if (states.size === 0)
    return {
      placement: 'post',
      reason:
        'it has no state: each spike adds a multiple of the weight to its post-synaptic neuron, merged per post-synaptic neuron',
      increments,
    };
  return {
    placement: 'post',
    reason: `linear in its state with ${postReads ? 'coefficients that depend on the post-synaptic neuron alone' : 'constant coefficients'} and the weight enters linearly: merged per post-synaptic neuron with every projection of the same synapse and output parameters`,
    increments,
  };
}
