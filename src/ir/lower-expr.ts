import { type Diagnostics, count } from '../diagnostics/diagnostic.js';
import { type Span, spanText } from '../diagnostics/source.js';
import type * as A from '../parser/ast.js';
import { DIMENSIONLESS, formatDimension } from '../units/dimension.js';
import {
  DIMENSIONLESS_UNIT,
  type UnitValue,
  isUnitSpelling,
  literalToInternal,
  lookupUnit,
  unitMul,
  unitPow,
} from '../units/units.js';
import { foreignFunctionNote, foreignNameNote, suggestUnit, suggestion } from './suggest.js';
import type { ArithmeticOperator, Expr, MathFunction, Ref } from './types.js';

/** Functions with their number of arguments. */
export const MATH_FUNCTIONS: ReadonlyMap<MathFunction, number> = new Map<MathFunction, number>([
  ['exp', 1],
  ['log', 1],
  ['log10', 1],
  ['exprel', 1],
  ['sqrt', 1],
  ['abs', 1],
  ['sin', 1],
  ['cos', 1],
  ['tan', 1],
  ['tanh', 1],
  ['sinh', 1],
  ['cosh', 1],
  ['atan', 1],
  ['floor', 1],
  ['ceil', 1],
  ['min', 2],
  ['max', 2],
  ['clip', 3],
  ['where', 3],
]);

const SPECIAL_FUNCTIONS = ['prev', 'normal', 'uniform', 'wiener', 'section'] as const;

/** Where an expression stands decides which special forms it may use. */
export interface ExprContext {
  /** Resolves a plain name; undefined when the scope does not know it. */
  readonly resolve: (name: string) => Ref | undefined;
  /** Resolves `post.X` / `pre.X`; undefined means members are not allowed here. */
  readonly member?: (object: string, member: string) => Ref | undefined;
  /** Names of states `prev()` may take; undefined when `prev` is not allowed. */
  readonly prevStates?: ReadonlySet<string>;
  readonly allowRandom?: boolean;
  /** Inside the arguments of a draw, where another draw is refused with its own message. */
  readonly drawArguments?: boolean;
  readonly allowWiener?: boolean;
  readonly allowSection?: boolean;
  /** Set inside the lists of a section(...), where another section is not allowed. */
  readonly inSection?: boolean;
  /** Names a user may have meant, for "did you mean" hints. */
  readonly candidates: () => readonly string[];
  /** Describes the place, for messages: "in a parameter default". */
  readonly where: string;
  /**
   * Names this scope cannot see although the user may mean them (a model's states, in a
   * population's initial values): why, as an error, before a unit of the same spelling
   * (`V`, volt) is taken instead.
   */
  readonly unseen?: (name: string) => { message: string; note: string } | undefined;
  /** Set where only the host uses the value (sizes, slices, settings, spike times), never a float32 kernel. */
  readonly hostOnly?: boolean;
}

/** Converts a unit written in source to its value in internal units, reporting unknown names. */
export function lowerUnit(unit: A.UnitExpr, diagnostics: Diagnostics): UnitValue | undefined {
  let result: UnitValue = DIMENSIONLESS_UNIT;
  for (const f of unit.factors) {
    const base = lookupUnit(f.name);
    if (base === undefined) {
      const hint = suggestUnit(f.name);
      diagnostics.error(f.span, `unknown unit '${f.name}'`, {
        ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
        notes: [
          'units are an SI prefix (p n u m k M G) followed by V, A, S, ohm, F, s, Hz, M (molar), m, mol, l, g or K',
        ],
      });
      return undefined;
    }
    const powered = unitPow(base, f.exponent);
    if (powered === undefined) {
      diagnostics.error(f.span, `cannot raise the unit '${f.name}' to the power ${f.exponent}`);
      return undefined;
    }
    result = unitMul(result, powered);
  }
  return result;
}

export function lowerExpr(
  e: A.Expression,
  ctx: ExprContext,
  diagnostics: Diagnostics,
): Expr | undefined {
  const lower = (x: A.Expression): Expr | undefined => lowerExpr(x, ctx, diagnostics);
  switch (e.kind) {
    case 'number': {
      const unit = e.unit === undefined ? DIMENSIONLESS_UNIT : lowerUnit(e.unit, diagnostics);
      if (unit === undefined) return undefined;
      const value = literalToInternal(e.text, unit.pow10);
      if (!Number.isFinite(value)) {
        diagnostics.error(e.span, 'number too large', {
          notes: [
            e.unit === undefined || unit.pow10 <= 0
              ? 'the largest number is about 1.8e308'
              : `converted to ${formatDimension(unit.dimension)}, the unit the compiler computes in, it is beyond the largest number, about 1.8e308`,
          ],
        });
        return undefined;
      }
      const single = Math.fround(value);
      if (ctx.hostOnly !== true && (!Number.isFinite(single) || (single === 0 && value !== 0)))
        diagnostics.warning(
          e.span,
          `${spanText(e.span)} is ${single === 0 ? 'below the smallest' : 'beyond the largest'} float32 number: it is ${single === 0 ? '0' : 'infinite'} in float32 runs`,
          {
            notes: [
              `float32 numbers lie between about 1.4e-45 and 3.4e38${e.unit === undefined ? '' : ` (here in ${formatDimension(unit.dimension)})`}; every backend computes in float32 but --backend cpu64 and --precision f64`,
            ],
          },
        );
      return { kind: 'literal', value, dimension: unit.dimension, span: e.span };
    }
    case 'bool':
      return { kind: 'bool', value: e.value, span: e.span };
    case 'string':
      diagnostics.error(e.span, `a string is not allowed ${ctx.where}`);
      return undefined;
    case 'list':
      diagnostics.error(e.span, 'a list is only allowed as an argument of section(...)');
      return undefined;
    case 'name':
      return lowerName(e.name, e.span, ctx, diagnostics);
    case 'member': {
      const ref = ctx.member?.(e.object, e.member);
      if (ref !== undefined) return { kind: 'ref', ref, span: e.span };
      if (ctx.member === undefined || (e.object !== 'post' && e.object !== 'pre')) {
        diagnostics.error(e.span, `'${e.object}.${e.member}' is not allowed ${ctx.where}`, {
          notes: ["'post.X' and 'pre.X' are allowed in synapse and output models"],
        });
      } else {
        // The model's own scope does not check member names (a projection does); here the object itself is not available.
        diagnostics.error(e.span, `'${e.object}.${e.member}' is not allowed ${ctx.where}`, {
          notes: [
            "an output model sees only the post-synaptic neuron ('post.X'); 'pre.X' is allowed in synapse models",
          ],
        });
      }
      return undefined;
    }
    case 'unary': {
      const operand = lower(e.operand);
      if (operand === undefined) return undefined;
      if (e.op === '+') return operand;
      return { kind: 'unary', op: e.op === '-' ? 'neg' : 'not', operand, span: e.span };
    }
    case 'binary': {
      const left = lower(e.left);
      const right = lower(e.right);
      if (left === undefined || right === undefined) return undefined;
      return { kind: 'binary', op: e.op, left, right, span: e.span };
    }
    case 'call':
      return lowerCall(e, ctx, diagnostics);
  }
}

function lowerName(
  name: string,
  span: Span,
  ctx: ExprContext,
  diagnostics: Diagnostics,
): Expr | undefined {
  const ref = ctx.resolve(name);
  if (ref !== undefined) return { kind: 'ref', ref, span };
  const unseen = ctx.unseen?.(name);
  if (unseen !== undefined) {
    diagnostics.error(span, unseen.message, { notes: [unseen.note] });
    return undefined;
  }
  // A unit name alone is a quantity of 1 of that unit: `1 / exprel(x) / ms`.
  const unit = isUnitSpelling(name) ? lookupUnit(name) : undefined;
  if (unit !== undefined) {
    return {
      kind: 'literal',
      value: literalToInternal('1', unit.pow10),
      dimension: unit.dimension,
      span,
    };
  }
  // The one named constant (Brian2 has it too); a declared `pi` is found first, above.
  if (name === 'pi') return { kind: 'literal', value: Math.PI, dimension: DIMENSIONLESS, span };
  // A Brian2 spelling gets the note that says how it is written here, instead of a near name.
  const note = foreignNameNote(name);
  const hint = note === undefined ? suggestion(name, ctx.candidates()) : undefined;
  diagnostics.error(span, `unknown name '${name}' ${ctx.where}`, {
    ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
    ...(note === undefined ? {} : { notes: [note] }),
  });
  return undefined;
}

function lowerCall(
  e: Extract<A.Expression, { kind: 'call' }>,
  ctx: ExprContext,
  diagnostics: Diagnostics,
): Expr | undefined {
  const named = e.args.find((a) => a.name !== undefined);
  if (named !== undefined) {
    diagnostics.error(named.nameSpan ?? named.span, `${e.callee}(...) takes no named arguments`);
    return undefined;
  }
  const arity = MATH_FUNCTIONS.get(e.callee as MathFunction);
  const expected =
    arity ??
    { prev: 1, normal: 2, uniform: 2, wiener: 0, section: 2 }[
      e.callee as (typeof SPECIAL_FUNCTIONS)[number]
    ];
  if (expected === undefined) {
    const note = foreignFunctionNote(e.callee);
    const hint =
      note === undefined
        ? suggestion(e.callee, [...MATH_FUNCTIONS.keys(), ...SPECIAL_FUNCTIONS])
        : undefined;
    diagnostics.error(e.calleeSpan, `unknown function '${e.callee}'`, {
      ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
      ...(note === undefined ? {} : { notes: [note] }),
    });
    return undefined;
  }
  if (e.args.length !== expected) {
    diagnostics.error(
      e.span,
      `${e.callee}(...) takes ${expected} argument${expected === 1 ? '' : 's'}, found ${e.args.length}`,
    );
    return undefined;
  }
  const values = e.args.map((a) => a.value);
  switch (e.callee) {
    case 'prev': {
      const arg = values[0];
      if (ctx.prevStates === undefined) {
        diagnostics.error(e.span, `prev(...) is not allowed ${ctx.where}`, {
          notes: ['prev(X) is allowed in spike conditions and event blocks'],
        });
        return undefined;
      }
      if (arg?.kind !== 'name' || !ctx.prevStates.has(arg.name)) {
        diagnostics.error(arg?.span ?? e.span, 'prev(...) takes the name of a state variable');
        return undefined;
      }
      return { kind: 'prev', state: arg.name, span: e.span };
    }
    case 'normal':
    case 'uniform': {
      if (ctx.allowRandom !== true) {
        diagnostics.error(
          e.span,
          `a random ${e.callee}(...) draw is not allowed ${ctx.drawArguments === true ? "in another draw's arguments" : ctx.where}`,
          {
            notes: [
              ctx.drawArguments === true
                ? 'add draws instead: V = normal(-65 mV, 1 mV) + uniform(0 mV, 5 mV)'
                : 'draws are allowed in initial states (`V ~ normal(...)`, `V = -70 mV + uniform(0 mV, 5 mV)`), weights, delays and stimuli',
            ],
          },
        );
        return undefined;
      }
      const [a, b] = values.map((v) =>
        lowerExpr(v, { ...ctx, allowRandom: false, drawArguments: true }, diagnostics),
      );
      if (a === undefined || b === undefined) return undefined;
      return { kind: 'random', distribution: e.callee, args: [a, b], span: e.span };
    }
    case 'wiener':
      if (ctx.allowWiener !== true) {
        diagnostics.error(e.span, `wiener() is not allowed ${ctx.where}`, {
          notes: ['wiener() is allowed in differential equations and stimuli'],
        });
        return undefined;
      }
      return { kind: 'wiener', span: e.span };
    case 'section': {
      const [valuesList, durationsList] = values;
      if (ctx.inSection === true) {
        diagnostics.error(
          e.span,
          'sections cannot be nested: section(...) is not allowed inside the lists of another section(...)',
          {
            notes: ['to combine two sections, add them: section(...) + section(...)'],
          },
        );
        return undefined;
      }
      if (ctx.allowSection !== true) {
        diagnostics.error(e.span, `section(...) is not allowed ${ctx.where}`, {
          notes: ['section(...) is allowed in stimuli and Poisson rates'],
        });
        return undefined;
      }
      if (valuesList?.kind !== 'list' || durationsList?.kind !== 'list') {
        diagnostics.error(
          e.span,
          'section(...) takes two lists: section([values...], [durations...])',
        );
        return undefined;
      }
      if (valuesList.items.length === 0) {
        diagnostics.error(valuesList.span, 'a section needs at least one value', {
          notes: [
            'give each value and how long it lasts: section([0 nA, 22 nA], [100 ms, 300 ms])',
          ],
        });
        return undefined;
      }
      if (valuesList.items.length !== durationsList.items.length) {
        diagnostics.error(
          e.span,
          `section(...) needs as many durations as values (found ${count(valuesList.items.length, 'value')} and ${count(durationsList.items.length, 'duration')})`,
        );
        return undefined;
      }
      const inner = {
        ...ctx,
        allowSection: false,
        inSection: true,
        allowWiener: false,
        allowRandom: false,
      };
      const vs = valuesList.items.map((v) => lowerExpr(v, inner, diagnostics));
      const ds = durationsList.items.map((v) => lowerExpr(v, inner, diagnostics));
      if (vs.some((v) => v === undefined) || ds.some((v) => v === undefined)) return undefined;
      return { kind: 'section', values: vs as Expr[], durations: ds as Expr[], span: e.span };
    }
    default: {
      const args = values.map((v) => lowerExpr(v, ctx, diagnostics));
      if (args.some((a) => a === undefined)) return undefined;
      return { kind: 'call', fn: e.callee as MathFunction, args: args as Expr[], span: e.span };
    }
  }
}

/** The value of an arithmetic operator in float64 (constant folding, the reference evaluator). */
export function arithmetic(op: ArithmeticOperator, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '^':
      return a ** b;
  }
}

/** Evaluates a constant expression (literals and arithmetic only) in internal units; undefined if not constant. */
export function constantValue(e: Expr): number | undefined {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'unary': {
      const v = constantValue(e.operand);
      return v === undefined || e.op !== 'neg' ? undefined : -v;
    }
    case 'binary': {
      const a = constantValue(e.left);
      const b = constantValue(e.right);
      if (a === undefined || b === undefined) return undefined;
      return e.op === '+' || e.op === '-' || e.op === '*' || e.op === '/' || e.op === '^'
        ? arithmetic(e.op, a, b)
        : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * For a constant expression whose value is not a finite number (`1 / 0`,
 * `1e200 * 1e200`), how to say so: "infinite" or "not a number (NaN)";
 * undefined for a finite constant or an expression that is not constant.
 */
export function nonFinite(e: Expr): string | undefined {
  const v = constantValue(e);
  if (v === undefined || Number.isFinite(v)) return undefined;
  return Number.isNaN(v) ? 'not a number (NaN)' : 'infinite';
}

/** The note for a {@link nonFinite} constant. */
export const NON_FINITE_NOTE =
  'is there a division by zero, or a result beyond the largest number (about 1.8e308)?';
