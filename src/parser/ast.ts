import type { Span } from '../diagnostics/source.js';

/**
 * The abstract syntax tree: what the user wrote, with spans, before names are
 * resolved. The IR (src/ir) is built from it by the lowering pass.
 */

/** One factor of a unit: `cm^2` is { name: 'cm', exponent: 2 }; `/ms` gives exponent -1. */
export interface UnitFactor {
  readonly name: string;
  readonly exponent: number;
  readonly span: Span;
}

export interface UnitExpr {
  readonly factors: readonly UnitFactor[];
  readonly span: Span;
}

export type BinaryOperator =
  '+' | '-' | '*' | '/' | '^' | '<' | '<=' | '>' | '>=' | '==' | '!=' | 'and' | 'or';

export type Expression =
  | {
      readonly kind: 'number';
      readonly text: string;
      readonly unit?: UnitExpr;
      readonly span: Span;
    }
  | { readonly kind: 'bool'; readonly value: boolean; readonly span: Span }
  | { readonly kind: 'string'; readonly value: string; readonly span: Span }
  | { readonly kind: 'name'; readonly name: string; readonly span: Span }
  | {
      readonly kind: 'member';
      readonly object: string;
      readonly member: string;
      readonly memberSpan: Span;
      readonly span: Span;
    }
  | {
      readonly kind: 'call';
      readonly callee: string;
      readonly calleeSpan: Span;
      readonly args: readonly Argument[];
      readonly span: Span;
    }
  | {
      readonly kind: 'unary';
      readonly op: '-' | '+' | 'not';
      readonly operand: Expression;
      readonly span: Span;
    }
  | {
      readonly kind: 'binary';
      readonly op: BinaryOperator;
      readonly left: Expression;
      readonly right: Expression;
      readonly span: Span;
    }
  | { readonly kind: 'list'; readonly items: readonly Expression[]; readonly span: Span };

/** A call argument, positional or named (`rate = 10 Hz`). */
export interface Argument {
  readonly name?: string;
  readonly nameSpan?: Span;
  readonly value: Expression;
  readonly span: Span;
}

export interface Name {
  readonly name: string;
  readonly span: Span;
}

export type AssignOperator = '=' | '+=' | '-=' | '*=' | '/=';

export type Statement =
  | {
      readonly kind: 'assign';
      readonly target: Name;
      /** Set for `post.x = ...`: the object before the dot. */
      readonly qualifier?: Name;
      readonly op: AssignOperator;
      readonly value: Expression;
      readonly span: Span;
    }
  | {
      readonly kind: 'if';
      readonly condition: Expression;
      readonly then: readonly Statement[];
      readonly otherwise: readonly Statement[];
      readonly span: Span;
    };

export interface ParameterDecl {
  readonly name: Name;
  readonly unit?: UnitExpr;
  readonly value?: Expression;
  readonly span: Span;
}

export interface StateDecl {
  readonly name: Name;
  readonly unit?: UnitExpr;
  /** `=` gives an initial value, `~` a distribution. */
  readonly init?: { readonly op: '=' | '~'; readonly value: Expression };
  readonly span: Span;
}

export interface EquationDecl {
  /** `dX/dt = ...` for differential equations, a plain name for subexpressions. */
  readonly kind: 'ode' | 'subexpression';
  readonly name: Name;
  readonly value: Expression;
  readonly span: Span;
}

export type ModelItem =
  | { readonly kind: 'parameters'; readonly decls: readonly ParameterDecl[]; readonly span: Span }
  | { readonly kind: 'state'; readonly decls: readonly StateDecl[]; readonly span: Span }
  | {
      readonly kind: 'currentInput';
      readonly name: Name;
      readonly flag?: Name;
      readonly unit?: UnitExpr;
      readonly span: Span;
    }
  | { readonly kind: 'outputCurrent'; readonly value: Expression; readonly span: Span }
  | { readonly kind: 'equations'; readonly equations: readonly EquationDecl[]; readonly span: Span }
  | { readonly kind: 'spike'; readonly condition: Expression; readonly span: Span }
  | { readonly kind: 'reset'; readonly body: readonly Statement[]; readonly span: Span }
  | { readonly kind: 'refractory'; readonly value: Expression; readonly span: Span }
  | { readonly kind: 'method'; readonly name: Name; readonly span: Span }
  | { readonly kind: 'onPre'; readonly body: readonly Statement[]; readonly span: Span }
  | { readonly kind: 'onPost'; readonly body: readonly Statement[]; readonly span: Span }
  | { readonly kind: 'delivers'; readonly value: Expression; readonly span: Span };

export type ModelKind = 'neuron' | 'synapse' | 'output';

export interface ModelDef {
  readonly kind: ModelKind;
  readonly name: Name;
  readonly items: readonly ModelItem[];
  readonly span: Span;
}

/** `Model(args)` in a population, connector, synapse or output line. */
export interface Instantiation {
  readonly name: Name;
  readonly args: readonly Argument[];
  /** False for a bare `Model` without parentheses. */
  readonly hasArgs: boolean;
  readonly span: Span;
}

export interface Slice {
  readonly start?: Expression;
  readonly end?: Expression;
  readonly span: Span;
}

export interface PopulationRef {
  readonly name: Name;
  readonly slice?: Slice;
  readonly span: Span;
}

export type ProjectionItem =
  | {
      readonly kind: 'connect';
      readonly connector: Instantiation;
      readonly procedural: boolean;
      readonly span: Span;
    }
  | { readonly kind: 'weight'; readonly value: Expression; readonly span: Span }
  | { readonly kind: 'delay'; readonly value: Expression; readonly span: Span }
  | { readonly kind: 'synapse'; readonly model: Instantiation; readonly span: Span }
  | { readonly kind: 'output'; readonly model: Instantiation; readonly span: Span }
  | { readonly kind: 'placement'; readonly choice: Name; readonly span: Span };

export interface Override {
  readonly name: Name;
  readonly op: '=' | '~';
  readonly value: Expression;
  readonly span: Span;
}

export type NetworkItem =
  | {
      readonly kind: 'setting';
      readonly name: Name;
      readonly value: Expression;
      readonly span: Span;
    }
  | {
      readonly kind: 'population';
      readonly name: Name;
      readonly model: Instantiation;
      readonly overrides: readonly Override[];
      readonly span: Span;
    }
  | {
      readonly kind: 'projection';
      readonly name: Name;
      readonly pre: PopulationRef;
      readonly post: PopulationRef;
      readonly items: readonly ProjectionItem[];
      readonly span: Span;
    }
  | {
      readonly kind: 'stimulus';
      readonly target: PopulationRef;
      readonly variable: Name;
      readonly value: Expression;
      readonly span: Span;
    }
  | {
      readonly kind: 'record';
      readonly population: Name;
      readonly variable: Name;
      readonly slice?: Slice;
      /** `every 1 ms`: the interval between recorded rows (Brian2's StateMonitor dt). */
      readonly every?: Expression;
      readonly span: Span;
    };

export interface NetworkDef {
  readonly name: Name;
  readonly items: readonly NetworkItem[];
  readonly span: Span;
}

export interface ImportDecl {
  readonly path: string;
  readonly span: Span;
}

export interface FileAst {
  readonly imports: readonly ImportDecl[];
  readonly models: readonly ModelDef[];
  readonly networks: readonly NetworkDef[];
}
