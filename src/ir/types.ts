import type { Span } from '../diagnostics/source.js';
import type { Dimension } from '../units/dimension.js';

/**
 * The intermediate representation: models and networks with every name
 * resolved, every literal converted to the internal unit system (ms, mV, nA,
 * uS, nF, Mohm, mM, um), and every node carrying the span it came from.
 * Expressions have no side effects; effects live in statements.
 */

/** What a name in an expression stands for. */
export type Ref =
  /** A model parameter (value fixed per population or projection). */
  | { readonly kind: 'parameter'; readonly name: string }
  /** A state variable, integrated or changed by events. */
  | { readonly kind: 'state'; readonly name: string }
  /** A named subexpression from the equations block. */
  | { readonly kind: 'subexpression'; readonly name: string }
  /** The neuron's summed input current (`current I`). */
  | { readonly kind: 'input'; readonly name: string }
  /** Simulation time at the start of the step, t_n. */
  | { readonly kind: 'time' }
  /** The time step. */
  | { readonly kind: 'dt' }
  /** The weight of the synapse that carries the spike (`w`, synapses only). */
  | { readonly kind: 'weight' }
  /** The value the synapse delivers (`g`, outputs only). */
  | { readonly kind: 'delivered' }
  /** A variable of the post- or pre-synaptic neuron (`post.V`). */
  | { readonly kind: 'post' | 'pre'; readonly name: string }
  /**
   * In a weight or delay: the index of the synapse's pre- (`i`) or post-synaptic (`j`)
   * neuron, counted from the start of the projection's slice (Brian2's i and j). In a
   * population's initial values and a Poisson rate, `i` is the neuron's index in its
   * population; in a stimulus, counted from the start of the stimulus's slice.
   */
  | { readonly kind: 'index'; readonly side: 'pre' | 'post' };

export type ArithmeticOperator = '+' | '-' | '*' | '/' | '^';
export type ComparisonOperator = '<' | '<=' | '>' | '>=' | '==' | '!=';
export type LogicalOperator = 'and' | 'or';
export type BinaryOperator = ArithmeticOperator | ComparisonOperator | LogicalOperator;

/** Pure mathematical functions known to every backend. */
export type MathFunction =
  | 'exp'
  | 'log'
  | 'log10'
  | 'exprel'
  | 'sqrt'
  | 'abs'
  | 'sin'
  | 'cos'
  | 'tan'
  | 'tanh'
  | 'sinh'
  | 'cosh'
  | 'atan'
  | 'floor'
  | 'ceil'
  | 'min'
  | 'max'
  | 'clip'
  | 'where';

export type Distribution = 'normal' | 'uniform';

export type Expr =
  /** A number in internal units, with the dimension of its unit. */
  | {
      readonly kind: 'literal';
      readonly value: number;
      readonly dimension: Dimension;
      readonly span: Span;
    }
  | { readonly kind: 'bool'; readonly value: boolean; readonly span: Span }
  | { readonly kind: 'ref'; readonly ref: Ref; readonly span: Span }
  | {
      readonly kind: 'unary';
      readonly op: 'neg' | 'not';
      readonly operand: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: 'binary';
      readonly op: BinaryOperator;
      readonly left: Expr;
      readonly right: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: 'call';
      readonly fn: MathFunction;
      readonly args: readonly Expr[];
      readonly span: Span;
    }
  /** The start-of-step value of a state (`prev(V)`). */
  | { readonly kind: 'prev'; readonly state: string; readonly span: Span }
  /** A random draw, per element; allowed in initial values, weights, delays and stimuli. */
  | {
      readonly kind: 'random';
      readonly distribution: Distribution;
      readonly args: readonly [Expr, Expr];
      readonly span: Span;
    }
  /** White noise in an equation; the Wiener increment over the step in a stimulus. */
  | { readonly kind: 'wiener'; readonly span: Span }
  /** Piecewise-constant input: values[k] during durations[k], 0 afterwards (stimuli only). */
  | {
      readonly kind: 'section';
      readonly values: readonly Expr[];
      readonly durations: readonly Expr[];
      readonly span: Span;
    };

export type AssignOperator = '=' | '+=' | '-=' | '*=' | '/=';

/** Assignment targets: own states, the synapse weight, or a state of the post/pre neuron. */
export type AssignTarget =
  | { readonly kind: 'state'; readonly name: string }
  | { readonly kind: 'weight' }
  | { readonly kind: 'post' | 'pre'; readonly name: string };

export type Statement =
  | {
      readonly kind: 'assign';
      readonly target: AssignTarget;
      readonly op: AssignOperator;
      readonly value: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: 'if';
      readonly condition: Expr;
      readonly then: readonly Statement[];
      readonly otherwise: readonly Statement[];
      readonly span: Span;
    };

export interface Parameter {
  readonly name: string;
  readonly span: Span;
  /** The unit written in the declaration, if any. */
  readonly unit?: Dimension;
  /** The default value; a parameter without one must be given at instantiation. */
  readonly value?: Expr;
}

export type StateInit =
  | { readonly kind: 'zero' }
  | { readonly kind: 'value'; readonly value: Expr }
  | { readonly kind: 'distribution'; readonly value: Expr };

export interface StateVariable {
  readonly name: string;
  readonly span: Span;
  readonly unit?: Dimension;
  readonly init: StateInit;
}

export interface Subexpression {
  readonly name: string;
  readonly span: Span;
  readonly value: Expr;
}

/** dX/dt = rhs. */
export interface DifferentialEquation {
  readonly state: string;
  readonly span: Span;
  readonly rhs: Expr;
}

/** The neuron's summed input current; `ltc` puts synaptic currents inside the derivative. */
export interface CurrentInput {
  readonly name: string;
  readonly span: Span;
  readonly ltc: boolean;
  readonly unit?: Dimension;
}

export type IntegrationMethod = 'exp_euler' | 'exact' | 'euler' | 'rk2' | 'rk4';

export const INTEGRATION_METHODS: readonly IntegrationMethod[] = [
  'exp_euler',
  'exact',
  'euler',
  'rk2',
  'rk4',
];

/** What neurons and synapses share: parameters, state and its dynamics. */
export interface DynamicsModel {
  readonly name: string;
  readonly span: Span;
  readonly parameters: readonly Parameter[];
  readonly states: readonly StateVariable[];
  /** In dependency order: each may use only those before it. */
  readonly subexpressions: readonly Subexpression[];
  readonly equations: readonly DifferentialEquation[];
  readonly method: IntegrationMethod;
}

export interface NeuronModel extends DynamicsModel {
  readonly kind: 'neuron';
  readonly input?: CurrentInput;
  readonly spike?: Expr;
  readonly reset: readonly Statement[];
  readonly refractory?: Expr;
}

export interface SynapseModel extends DynamicsModel {
  readonly kind: 'synapse';
  readonly onPre: readonly Statement[];
  readonly onPost: readonly Statement[];
  /** What the synapse hands to its output; absent for a synapse that only jumps its post neuron's state (`post.V += w`). */
  readonly delivers?: Expr;
}

export interface OutputModel {
  readonly kind: 'output';
  readonly name: string;
  readonly span: Span;
  readonly parameters: readonly Parameter[];
  readonly current: Expr;
}

export type Model = NeuronModel | SynapseModel | OutputModel;

/** Dimensions of a model's names (parameters, states, subexpressions, input), found by the check pass. */
export type SymbolDimensions = ReadonlyMap<string, Dimension>;

/** A half-open index range [start, end) into a population. */
export interface IndexRange {
  readonly start: number;
  readonly end: number;
}

/** A value given at instantiation: `tau = 5 ms` (parameter) or `V ~ normal(...)` (state). */
export interface Override {
  readonly name: string;
  readonly span: Span;
  readonly value: Expr;
}

export type PopulationSource =
  | {
      readonly kind: 'neuron';
      /**
       * The model the population runs: the declared one, or with `perNeuronParameters` made
       * states without an equation (ir/per-neuron-parameters.ts).
       */
      readonly model: NeuronModel;
      /** The parameters this population sets per neuron (`tau ~ normal(...)`); now states of `model`. */
      readonly perNeuronParameters: readonly string[];
    }
  | { readonly kind: 'poisson'; readonly rate: Expr }
  | {
      readonly kind: 'spikeTimes';
      readonly indices: readonly number[];
      readonly times: readonly number[];
    };

export interface Population {
  readonly name: string;
  readonly span: Span;
  readonly size: number;
  readonly source: PopulationSource;
  readonly parameters: readonly Override[];
  readonly states: readonly Override[];
}

export type Connector =
  | { readonly kind: 'all_to_all' }
  | { readonly kind: 'one_to_one' }
  | { readonly kind: 'fixed_probability'; readonly p: number }
  /**
   * `fixed_probability(EXPR)` with EXPR of `i` and `j` (Brian2's `connect(p='...')`): pair
   * (i, j) of the projection's slices is connected with probability p(i, j), a Bernoulli
   * trial each (values below 0 count as 0, above 1 as 1). Stored, never procedural.
   */
  | { readonly kind: 'pairwise_probability'; readonly p: Expr }
  | { readonly kind: 'fixed_in_degree'; readonly k: number }
  | { readonly kind: 'fixed_out_degree'; readonly k: number }
  /**
   * Pairs read from a CSV file when the network was lowered (ir/connection-file.ts); `path` is
   * resolved beside the .spk file that names it. Synapse k joins pre[k] to post[k], indices
   * within the projection's slices, in file order.
   */
  | {
      readonly kind: 'from_file';
      readonly path: string;
      readonly pre: Uint32Array;
      readonly post: Uint32Array;
    };

export type Placement = 'pre' | 'post' | 'synapse';

/** A synapse or output model with its parameter values. */
export interface ModelUse<M extends Model> {
  readonly model: M;
  readonly arguments: readonly Override[];
  readonly span: Span;
}

export interface Projection {
  readonly name: string;
  readonly span: Span;
  readonly pre: string;
  readonly preRange: IndexRange;
  readonly post: string;
  readonly postRange: IndexRange;
  readonly connector: Connector;
  readonly procedural: boolean;
  /** A constant, a distribution or an expression; its dimension replaces `weight`. */
  readonly weight: Expr;
  readonly weightDimension: Dimension;
  readonly delay?: Expr;
  readonly synapse: ModelUse<SynapseModel>;
  /** Absent exactly when the synapse delivers nothing (a delta synapse). */
  readonly output?: ModelUse<OutputModel>;
  /** A `placement` line: where the projection asks its synapse state to live. */
  readonly placement?: { readonly choice: Placement; readonly span: Span };
}

export interface Stimulus {
  readonly population: string;
  readonly range: IndexRange;
  readonly variable: string;
  readonly value: Expr;
  readonly span: Span;
}

export interface Recording {
  /** What is recorded: a population's spikes or variable, or a projection's synapse state. */
  readonly of: 'population' | 'projection';
  /** The population's or projection's name. */
  readonly population: string;
  /** `spikes`, or the name of a state or of the input current (a synapse state for projections). */
  readonly variable: string;
  /**
   * Neurons recorded. For a projection: post neurons when its state is merged
   * per post neuron, pre neurons (of its pre range) when it lives per pre
   * neuron; undefined means all (the placement decides later which).
   */
  readonly range: IndexRange | undefined;
  /** The whole `record` item. */
  readonly span: Span;
  /** The recorded variable's name in it, and its slice (undefined without one). */
  readonly variableSpan: Span;
  readonly sliceSpan: Span | undefined;
  /**
   * `every T`, in ms: a row every round(T / dt) steps (at least 1), the post-step state of
   * the steps that end at a multiple of it. Undefined: every step.
   */
  readonly every: number | undefined;
}

export interface Network {
  readonly name: string;
  readonly span: Span;
  /** In internal units (ms). */
  readonly dt: number;
  readonly duration: number;
  readonly seed: number;
  readonly populations: readonly Population[];
  readonly projections: readonly Projection[];
  readonly stimuli: readonly Stimulus[];
  readonly recordings: readonly Recording[];
}

/** Everything a compilation unit defines, imports included. */
export interface Program {
  readonly models: ReadonlyMap<string, Model>;
  readonly dimensions: ReadonlyMap<string, SymbolDimensions>;
  readonly networks: ReadonlyMap<string, Network>;
}
