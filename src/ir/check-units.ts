import { type Diagnostics, assertNever } from '../diagnostics/diagnostic.js';
import { type Span, spanText } from '../diagnostics/source.js';
import {
  CAPACITANCE,
  CONCENTRATION,
  CONDUCTANCE,
  DIMENSIONLESS,
  type Dimension,
  RESISTANCE,
  VOLTAGE,
  dimDiv,
  dimEquals,
  dimMul,
  dimPow,
  dimSqrt,
  dimensionOf,
  formatDimension,
  hasWeight,
  isDimensionless,
  substituteWeight,
} from '../units/dimension.js';
import { constantValue } from './lower-expr.js';
import { dependencies } from './walk.js';
import type {
  Expr,
  Model,
  Parameter,
  Ref,
  StateVariable,
  Statement,
  Subexpression,
  SymbolDimensions,
} from './types.js';

/** The type of an expression: a condition, or a number whose dimension may be unknown (a generic model). */
export type ExprType =
  | { readonly kind: 'bool' }
  | { readonly kind: 'number'; readonly dimension: Dimension | undefined };

const TIME = dimensionOf({ s: 1 });
const WEIGHT = dimensionOf({ weight: 1 });
/** White noise has the unit 1/sqrt(time), so that sigma * wiener() * sqrt(dt) has the unit of sigma. */
const WHITE_NOISE = dimensionOf({ s: -0.5 });

/**
 * Stand-in dimension for a neuron's input current whose unit is not written.
 * Luminous intensity never occurs in neuron models, so its exponent in a
 * mismatch tells how the unknown current enters, and the mismatch gives its unit.
 */
const UNKNOWN_CURRENT = dimensionOf({ cd: 1 });

/** What a model's names mean at instantiation; absent fields stay generic (unknown). */
export interface InstanceEnvironment {
  readonly parameters?: ReadonlyMap<string, Dimension>;
  readonly post?: SymbolDimensions;
  readonly pre?: SymbolDimensions;
  readonly delivered?: Dimension;
  /** Dimension of wiener(): white noise in equations, a dimensionless increment in stimuli. */
  readonly wiener?: Dimension;
  /** The projection's weight unit: what `weight` is when a synapse changes post.X or pre.X (`post.V += w`). */
  readonly weight?: Dimension;
  /** Where the projection gives its weight: a mismatch that the weight's unit decides is reported there. */
  readonly weightSpan?: Span;
}

export interface CheckedModel {
  readonly dimensions: SymbolDimensions;
  /** Dimension of an output's current or a synapse's delivered value, when known. */
  readonly result?: Dimension;
}

function describe(d: Dimension): string {
  return isDimensionless(d) ? 'a dimensionless number' : formatDimension(d);
}

const FREQUENCY = dimensionOf({ s: -1 });

/** Kinds of quantity with a name of their own, for messages: "must be a time". */
const QUANTITY_KINDS: readonly (readonly [Dimension, string])[] = [
  [TIME, 'a time'],
  [FREQUENCY, 'a frequency'],
  [VOLTAGE, 'a voltage'],
  [dimensionOf({ A: 1 }), 'a current'],
  [CONDUCTANCE, 'a conductance'],
  [CAPACITANCE, 'a capacitance'],
  [RESISTANCE, 'a resistance'],
  [CONCENTRATION, 'a concentration'],
  [dimensionOf({ m: 1 }), 'a length'],
  [dimensionOf({ K: 1 }), 'a temperature'],
  [WEIGHT, 'a weight'],
];

/** "a time", "a voltage"...; undefined for a dimension without a name of its own. */
export function quantityKind(d: Dimension): string | undefined {
  return QUANTITY_KINDS.find(([k]) => dimEquals(k, d))?.[1];
}

/** A quantity as a message names it: its kind where it has one ("a voltage"), else its unit ("mV/ms"). */
function describeKind(d: Dimension): string {
  return isDimensionless(d) ? 'a dimensionless number' : (quantityKind(d) ?? formatDimension(d));
}

/**
 * The unit a hint such as "write 10 Hz" suggests: the unit users write for the
 * dimension, Hz for a frequency, the internal unit (mV, ms, nA...) otherwise.
 */
export function userUnit(d: Dimension): string {
  return dimEquals(d, FREQUENCY) ? 'Hz' : formatDimension(d);
}

/**
 * The hint for a bare number where a value in `d` belongs: the label "write 10 Hz", or, in the
 * unit of the weights (a placeholder that cannot follow a number), a note saying what to write.
 */
function bareNumberHint(bare: Expr, d: Dimension): { label?: string; notes: string[] } {
  if (!hasWeight(d)) return { label: `write ${spanText(bare.span)} ${userUnit(d)}`, notes: [] };
  return {
    notes: [
      "'weight' stands for the unit of each projection's weights and cannot be written after a number: make the value from the weight ('2 * w', per synapse) or start it at 0",
    ],
  };
}

/** What a value that should have been a condition is: "a number in mV". */
function describeNumber(d: Dimension | undefined): string {
  if (d === undefined) return 'a number';
  return isDimensionless(d) ? 'a dimensionless number' : `a number in ${formatDimension(d)}`;
}

/** `-50` or `50` written without a unit: such a literal gets a "write -50 mV" hint. */
function isBareNumber(e: Expr): boolean {
  if (e.kind === 'unary' && e.op === 'neg') return isBareNumber(e.operand);
  return (
    e.kind === 'literal' && isDimensionless(e.dimension) && /^[-\d.eE+\s]+$/.test(spanText(e.span))
  );
}

/** `items` by name; where a name is declared twice (an error reported by lowering), the first one. */
function byName<T extends { readonly name: string }>(items: readonly T[]): ReadonlyMap<string, T> {
  const map = new Map<string, T>();
  for (const item of items) if (!map.has(item.name)) map.set(item.name, item);
  return map;
}

class UnitChecker {
  // Looked up by name for every use of a name: a search of the lists would make the check quadratic.
  private readonly parameters: ReadonlyMap<string, Parameter>;
  private readonly states: ReadonlyMap<string, StateVariable>;
  private readonly subexpressions: ReadonlyMap<string, Subexpression>;
  private readonly cache = new Map<string, Dimension | undefined>();
  private readonly inProgress = new Set<string>();
  /** Above 0 while the dimension of a name is computed on first use: its problems are reported where run() checks it. */
  private silent = 0;
  /** The dimension of an output's current or a synapse's delivered value, found by run(). */
  private resultDimension: Dimension | undefined;
  /** In probe mode: the unit found for the unknown input current. */
  solvedCurrent: Dimension | undefined;

  constructor(
    private readonly model: Model | undefined,
    private readonly env: InstanceEnvironment,
    /** Undefined in probe mode, where problems are not reported. */
    private readonly diagnostics: Diagnostics | undefined,
    private readonly inputDimension: Dimension | undefined,
  ) {
    const dynamics = model === undefined || model.kind === 'output' ? undefined : model;
    this.parameters = byName(model?.parameters ?? []);
    this.states = byName(dynamics?.states ?? []);
    this.subexpressions = byName(dynamics?.subexpressions ?? []);
  }

  private error(span: Span, message: string, label?: string, notes: readonly string[] = []): void {
    if (this.silent > 0) return;
    this.diagnostics?.error(span, message, { ...(label === undefined ? {} : { label }), notes });
  }

  /**
   * Dimension of a declared name, computed on first use (state units may come
   * from initial values). Silently: run() checks every definition once, and
   * reports its problems there.
   */
  symbolDimension(name: string): Dimension | undefined {
    if (this.cache.has(name)) return this.cache.get(name);
    if (this.inProgress.has(name)) return undefined; // a cycle, already reported by lowering
    this.inProgress.add(name);
    this.silent++;
    let d: Dimension | undefined;
    try {
      d = this.computeSymbol(name);
    } finally {
      this.silent--;
    }
    this.inProgress.delete(name);
    this.cache.set(name, d);
    return d;
  }

  private computeSymbol(name: string): Dimension | undefined {
    const m = this.model;
    if (m === undefined) return undefined;
    const param = this.parameters.get(name);
    if (param !== undefined) {
      const given = this.env.parameters?.get(name);
      if (given !== undefined) return given;
      if (param.unit !== undefined) return param.unit;
      return param.value === undefined ? undefined : this.numberDimension(param.value);
    }
    if (m.kind === 'output') return undefined;
    if (m.kind === 'neuron' && m.input?.name === name) return this.inputDimension;
    const state = this.states.get(name);
    if (state !== undefined) {
      if (state.unit !== undefined) return state.unit;
      // The unit comes from the initial value; a bare number, 0 included, is dimensionless
      // (elsewhere a bare 0 fits any unit, but a state needs one).
      if (state.init.kind === 'zero' || isBareNumber(state.init.value)) return DIMENSIONLESS;
      return this.numberDimension(state.init.value);
    }
    const sub = this.subexpressions.get(name);
    return sub === undefined ? undefined : this.numberDimension(sub.value);
  }

  private refDimension(ref: Ref): Dimension | undefined {
    switch (ref.kind) {
      case 'parameter':
      case 'state':
      case 'subexpression':
      case 'input':
        return this.symbolDimension(ref.name);
      case 'time':
      case 'dt':
        return TIME;
      case 'weight':
        return WEIGHT;
      case 'delivered':
        return this.env.delivered;
      case 'post':
      case 'pre':
        return this.env[ref.kind]?.get(ref.name);
      case 'index':
        return DIMENSIONLESS;
      default:
        return assertNever(ref);
    }
  }

  /** The dimension of a numeric expression; a condition here is an error. */
  numberDimension(e: Expr): Dimension | undefined {
    const t = this.typeOf(e);
    if (t.kind === 'bool') {
      this.error(e.span, 'expected a number, found a condition');
      return undefined;
    }
    return t.dimension;
  }

  /**
   * Requires `found` to equal `expected` (both known). With an unknown input
   * current in play, a mismatch solves for its unit instead (probe mode).
   */
  same(found: Dimension | undefined, expected: Dimension | undefined): boolean {
    if (found === undefined || expected === undefined || dimEquals(found, expected)) return true;
    const k = found[6]! - expected[6]!;
    if (this.inputDimension === UNKNOWN_CURRENT && k !== 0 && this.solvedCurrent === undefined) {
      // found / expected = I^k  (the current appears k more times on the found side)
      const ratio = dimDiv(
        dimDiv(found, dimPow(UNKNOWN_CURRENT, found[6]!) ?? DIMENSIONLESS),
        dimDiv(expected, dimPow(UNKNOWN_CURRENT, expected[6]!) ?? DIMENSIONLESS),
      );
      this.solvedCurrent = dimPow(ratio, -1 / k);
      return true;
    }
    return false;
  }

  private mismatch(
    span: Span,
    message: string,
    bare: Expr | undefined,
    other: Dimension | undefined,
    notes: readonly string[] = [],
  ): void {
    const hint =
      bare !== undefined && other !== undefined ? bareNumberHint(bare, other) : { notes: [] };
    this.error(span, message, hint.label, [...notes, ...hint.notes]);
  }

  /**
   * A note for each state of `side` (one side of a sum that does not match the other; `here`
   * and `other` are the two sides' dimensions, computed once by the caller) that is
   * dimensionless only because its initial value has no unit. The unit suggested is the one
   * that would make the sum match when the state is a factor of its side (`ge * (E - V)` next
   * to a current: nS).
   */
  private unitlessStates(
    side: Expr,
    here: Dimension | undefined,
    other: Dimension | undefined,
  ): string[] {
    return dependencies(side, 'state').flatMap((name) =>
      this.unitlessNote(
        name,
        other === undefined || here === undefined ? undefined : dimDiv(other, here),
      ),
    );
  }

  /** The note for state `name` if it is dimensionless only because its initial value has no unit. */
  private unitlessNote(name: string, needed: Dimension | undefined): string[] {
    const state = this.states.get(name);
    if (state === undefined || state.unit !== undefined) return [];
    if (state.init.kind !== 'zero' && !isBareNumber(state.init.value)) return [];
    const init = state.init.kind === 'zero' ? '' : ` = ${spanText(state.init.value.span)}`;
    return [
      `state '${name}' is dimensionless: ${state.init.kind === 'zero' ? 'it has no initial value' : 'its initial value has no unit'}; to give it a unit, declare it as '${name} : ${needed === undefined ? 'UNIT' : userUnit(needed)}${init}'`,
    ];
  }

  /** Reports `e` unless it is a time: "WHAT must be a time, found ...", with a "write 5 ms" hint for bare numbers. */
  private requireTime(e: Expr, what: string): void {
    const d = this.numberDimension(e);
    if (!this.same(d, TIME)) {
      this.mismatch(
        e.span,
        `${what} must be a time, found ${describe(d!)}`,
        isBareNumber(e) ? e : undefined,
        TIME,
      );
    }
  }

  typeOf(e: Expr): ExprType {
    const num = (dimension: Dimension | undefined): ExprType => ({ kind: 'number', dimension });
    switch (e.kind) {
      case 'literal':
        // A bare 0 is zero in every unit: `g : weight = 0`, `x > 0`.
        return num(e.value === 0 && isBareNumber(e) ? undefined : e.dimension);
      case 'bool':
        return { kind: 'bool' };
      case 'ref':
        return num(this.refDimension(e.ref));
      case 'prev':
        return num(this.symbolDimension(e.state));
      case 'wiener':
        return num(this.env.wiener ?? WHITE_NOISE);
      case 'unary':
        if (e.op === 'not') {
          this.condition(e.operand, "'not'");
          return { kind: 'bool' };
        }
        return num(this.numberDimension(e.operand));
      case 'binary':
        return this.binaryType(e);
      case 'call':
        return this.callType(e);
      case 'random': {
        const [a, b] = e.args.map((x) => this.numberDimension(x));
        if (!this.same(a, b)) {
          this.error(
            e.span,
            `the arguments of ${e.distribution}(...) must have the same unit, found ${describe(a!)} and ${describe(b!)}`,
          );
        }
        return num(a ?? b);
      }
      case 'section': {
        const values = e.values.map((v) => this.numberDimension(v));
        const first = values.find((v) => v !== undefined);
        e.values.forEach((v, i) => {
          if (!this.same(values[i], first))
            this.error(
              v.span,
              `all section values must have the same unit: found ${describe(values[i]!)} and ${describe(first!)}`,
            );
        });
        for (const d of e.durations) this.requireTime(d, 'a section duration');
        return num(first);
      }
      default:
        return assertNever(e);
    }
  }

  condition(e: Expr, what: string): void {
    const t = this.typeOf(e);
    if (t.kind !== 'bool')
      this.error(
        e.span,
        `${what} needs a condition here (a comparison such as V >= V_th), found ${describeNumber(t.dimension)}`,
      );
  }

  private binaryType(e: Extract<Expr, { kind: 'binary' }>): ExprType {
    if (e.op === 'and' || e.op === 'or') {
      this.condition(e.left, `'${e.op}'`);
      this.condition(e.right, `'${e.op}'`);
      return { kind: 'bool' };
    }
    const a = this.numberDimension(e.left);
    const b = this.numberDimension(e.right);
    switch (e.op) {
      case '+':
      case '-':
      case '<':
      case '<=':
      case '>':
      case '>=':
      case '==':
      case '!=': {
        if (!this.same(a, b)) {
          const bare = isBareNumber(e.right) ? e.right : isBareNumber(e.left) ? e.left : undefined;
          const verb = e.op === '+' ? 'add' : e.op === '-' ? 'subtract' : 'compare';
          const [x, y] = e.op === '-' ? [b!, a!] : [a!, b!];
          const joiner = e.op === '+' ? 'and' : e.op === '-' ? 'from' : 'with';
          this.mismatch(
            bare?.span ?? e.span,
            `cannot ${verb} ${describe(x)} ${joiner} ${describe(y)}`,
            bare,
            bare === e.right ? a : b,
            this.unitlessStates(e.left, a, b).concat(this.unitlessStates(e.right, b, a)),
          );
        }
        if (e.op === '+' || e.op === '-') return { kind: 'number', dimension: a ?? b };
        return { kind: 'bool' };
      }
      case '*':
        return {
          kind: 'number',
          dimension: a === undefined || b === undefined ? undefined : dimMul(a, b),
        };
      case '/':
        return {
          kind: 'number',
          dimension: a === undefined || b === undefined ? undefined : dimDiv(a, b),
        };
      case '^': {
        if (b !== undefined && !isDimensionless(b)) {
          this.error(e.right.span, `an exponent must be dimensionless, found ${describe(b)}`);
          return { kind: 'number', dimension: undefined };
        }
        if (a === undefined || isDimensionless(a)) return { kind: 'number', dimension: a };
        const k = constantValue(e.right);
        if (k === undefined) {
          this.error(
            e.right.span,
            `a quantity with a unit (${describe(a)}) can only be raised to a constant power`,
          );
          return { kind: 'number', dimension: undefined };
        }
        const d = dimPow(a, k);
        if (d === undefined) this.error(e.span, `cannot raise ${describe(a)} to the power ${k}`);
        return { kind: 'number', dimension: d };
      }
      default:
        return assertNever(e.op);
    }
  }

  private callType(e: Extract<Expr, { kind: 'call' }>): ExprType {
    const dims = e.args.map((a, i) =>
      e.fn === 'where' && i === 0 ? undefined : this.numberDimension(a),
    );
    const [first, second, third] = dims;
    switch (e.fn) {
      case 'sqrt': {
        if (first === undefined) return { kind: 'number', dimension: undefined };
        const d = dimSqrt(first);
        if (d === undefined)
          this.error(e.span, `cannot take the square root of ${describe(first)}`);
        return { kind: 'number', dimension: d };
      }
      case 'abs':
        return { kind: 'number', dimension: first };
      case 'min':
      case 'max':
      case 'clip':
        for (const [i, d] of dims.entries()) {
          if (!this.same(d, first))
            this.error(
              e.args[i]!.span,
              `all arguments of ${e.fn}(...) must have the same unit: found ${describe(d!)} and ${describe(first!)}`,
            );
        }
        return { kind: 'number', dimension: first };
      case 'where': {
        this.condition(e.args[0]!, 'where(...)');
        if (!this.same(second, third)) {
          this.error(
            e.span,
            `both branches of where(...) must have the same unit: found ${describe(second!)} and ${describe(third!)}`,
          );
        }
        return { kind: 'number', dimension: second ?? third };
      }
      default: {
        if (!this.same(first, DIMENSIONLESS)) {
          const arg = e.args[0]!;
          this.error(
            arg.span,
            `${e.fn}(...) takes a dimensionless argument, found ${describe(first!)}`,
            undefined,
            [`divide by a quantity of the same unit, e.g. ${e.fn}(x / (1 ${userUnit(first!)}))`],
          );
        }
        return { kind: 'number', dimension: DIMENSIONLESS };
      }
    }
  }

  /** `d` with the projection's weight unit for `weight`; unchanged without one, or where it has no meaning (a fractional power). */
  private withWeightUnit(d: Dimension | undefined): Dimension | undefined {
    const weight = this.env.weight;
    if (d === undefined || weight === undefined) return d;
    try {
      return substituteWeight(d, weight);
    } catch (error) {
      if (error instanceof RangeError) return d;
      throw error;
    }
  }

  statements(body: readonly Statement[]): void {
    for (const s of body) {
      if (s.kind === 'if') {
        this.condition(s.condition, "'if'");
        this.statements(s.then);
        this.statements(s.otherwise);
        continue;
      }
      const target =
        s.target.kind === 'weight'
          ? WEIGHT
          : s.target.kind === 'state'
            ? this.symbolDimension(s.target.name)
            : this.env[s.target.kind]?.get(s.target.name);
      const found = this.numberDimension(s.value);
      // A neuron's variable has a real unit: the weight's stands in for `weight` there.
      const value =
        s.target.kind !== 'post' && s.target.kind !== 'pre' ? found : this.withWeightUnit(found);
      const scaling = s.op === '*=' || s.op === '/=';
      const expected = scaling ? DIMENSIONLESS : target;
      if (!this.same(value, expected)) {
        const bare = isBareNumber(s.value) ? s.value : undefined;
        const name =
          s.target.kind === 'weight'
            ? 'w'
            : s.target.kind === 'state'
              ? s.target.name
              : `${s.target.kind}.${s.target.name}`;
        const unit = isDimensionless(expected!)
          ? 'which is dimensionless'
          : `which is in ${formatDimension(expected!)}`;
        const message = scaling
          ? `'${s.op}' needs a dimensionless factor, found ${describe(value!)}`
          : `cannot ${s.op === '=' ? 'assign' : s.op === '+=' ? 'add' : 'subtract'} ${describe(value!)} ${s.op === '-=' ? 'from' : 'to'} ${name}, ${unit}`;
        // At a projection whose weight's unit decided the mismatch, the weight is what to fix.
        const { weight, weightSpan } = this.env;
        if (
          weight !== undefined &&
          weightSpan !== undefined &&
          value !== undefined &&
          found !== undefined &&
          !dimEquals(value, found)
        ) {
          if (this.silent === 0)
            this.diagnostics?.error(
              weightSpan,
              `weights in ${formatDimension(weight)} cannot be ${s.op === '-=' ? 'subtracted from' : s.op === '=' ? 'assigned to' : 'added to'} ${name}, which is in ${formatDimension(expected!)}`,
              {
                secondary: [
                  { span: s.value.span, message: `the synapse does ${name} ${s.op} this` },
                ],
                notes: [`give the weights in ${formatDimension(expected!)}`],
              },
            );
          continue;
        }
        const notes =
          s.target.kind === 'state' && !scaling ? this.unitlessNote(s.target.name, value) : [];
        this.mismatch(s.value.span, message, bare, expected, notes);
      }
    }
  }

  /**
   * Checks the whole model: every parameter default, initial value,
   * subexpression, equation, condition and statement exactly once, in the
   * order of the source, so that messages come in reading order.
   */
  run(m: Model): void {
    const checks: { readonly at: number; readonly check: () => void }[] = [];
    const add = (span: Span | undefined, check: () => void): void => {
      if (span !== undefined) checks.push({ at: span.start, check });
    };
    for (const p of m.parameters) {
      const value = p.value;
      if (value === undefined) continue;
      add(value.span, () => {
        const d = this.numberDimension(value);
        // A default in the weight's unit has no unit to write but 0: the projection gives the value.
        if (
          p.unit !== undefined &&
          hasWeight(p.unit) &&
          d !== undefined &&
          !hasWeight(d) &&
          !(isBareNumber(value) && constantValue(value) === 0)
        ) {
          this.error(
            value.span,
            constantValue(value) === 0
              ? `parameter '${p.name}' is in the unit of the weights, which each projection decides: write its default 0 without a unit`
              : `parameter '${p.name}' is in the unit of the weights, which each projection decides: it takes no default but 0`,
            undefined,
            [
              `give it at each projection, in the weights' unit: synapse ${m.name}(${p.name} = 10 nS)`,
            ],
          );
          return;
        }
        if (p.unit !== undefined && !this.same(d, p.unit)) {
          this.mismatch(
            value.span,
            `parameter '${p.name}' is declared in ${describe(p.unit)} but its default is ${describe(d!)}`,
            isBareNumber(value) ? value : undefined,
            p.unit,
          );
        }
      });
    }
    if (m.kind === 'output') {
      add(m.current.span, () => (this.resultDimension = this.numberDimension(m.current)));
    } else {
      for (const s of m.states) {
        if (s.init.kind === 'zero') continue;
        const value = s.init.value;
        add(value.span, () => {
          const d = this.numberDimension(value);
          // A start in real units for a state in the weight's unit (`g : weight ~ normal(4 nS, 1 nS)`)
          // is checked at each projection, which says what the weight's unit is.
          if (
            s.unit !== undefined &&
            hasWeight(s.unit) &&
            d !== undefined &&
            !hasWeight(d) &&
            !dimEquals(d, DIMENSIONLESS)
          ) {
            const { weight, weightSpan } = this.env;
            if (weight === undefined) return;
            // The projection's weights decide: they are what to fix.
            if (!this.same(d, this.withWeightUnit(s.unit)) && this.silent === 0)
              this.diagnostics?.error(
                weightSpan ?? value.span,
                `weights in ${formatDimension(weight)} cannot be the unit of state '${s.name}', which starts in ${formatDimension(d)}`,
                {
                  secondary: [{ span: value.span, message: `${m.name}'s '${s.name}' starts here` }],
                  notes: [`give the weights in ${formatDimension(d)}`],
                },
              );
            return;
          }
          if (s.unit !== undefined && !this.same(d, s.unit)) {
            this.mismatch(
              value.span,
              `state '${s.name}' is declared in ${describe(s.unit)} but its initial value is ${describe(d!)}`,
              isBareNumber(value) ? value : undefined,
              s.unit,
            );
          }
        });
      }
      for (const sub of m.subexpressions)
        add(sub.value.span, () => this.numberDimension(sub.value));
      for (const eq of m.equations) {
        add(eq.span, () => {
          const x = this.symbolDimension(eq.state);
          const expected = x === undefined ? undefined : dimDiv(x, TIME);
          const found = this.numberDimension(eq.rhs);
          if (!this.same(found, expected)) {
            this.error(
              eq.rhs.span,
              `the right-hand side of d${eq.state}/dt must have the unit of ${eq.state} per time, ${describe(expected!)}, but it has ${describe(found!)}`,
            );
          }
        });
      }
      const block = (body: readonly Statement[]): void =>
        add(body[0]?.span, () => this.statements(body));
      if (m.kind === 'neuron') {
        const spike = m.spike;
        if (spike !== undefined)
          add(spike.span, () => this.condition(spike, 'the spike condition'));
        block(m.reset);
        const refractory = m.refractory;
        if (refractory !== undefined) {
          add(refractory.span, () => this.requireTime(refractory, 'the refractory period'));
        }
      } else {
        block(m.onPre);
        block(m.onPost);
        const delivers = m.delivers;
        if (delivers !== undefined)
          add(delivers.span, () => (this.resultDimension = this.numberDimension(delivers)));
      }
    }
    // A stable sort: what starts at the same place keeps the order above.
    for (const { check } of checks.sort((a, b) => a.at - b.at)) check();
  }

  dimensions(m: Model): SymbolDimensions {
    const names = [
      ...m.parameters.map((p) => p.name),
      ...(m.kind === 'output'
        ? []
        : [...m.states.map((s) => s.name), ...m.subexpressions.map((s) => s.name)]),
      ...(m.kind === 'neuron' && m.input !== undefined ? [m.input.name] : []),
    ];
    const result = new Map<string, Dimension>();
    for (const n of names) {
      const d = this.symbolDimension(n);
      if (d !== undefined) result.set(n, d);
    }
    return result;
  }

  /** The dimension of an output's current or a synapse's delivered value; run() finds it. */
  result(): Dimension | undefined {
    return this.resultDimension;
  }
}

/**
 * The unit check: infers the dimension of every name and expression of a model
 * and reports every mismatch. A neuron's input current without a written unit
 * gets the unit its equations imply (R * I is a voltage: nA).
 */
export function checkModelUnits(
  model: Model,
  diagnostics: Diagnostics,
  env: InstanceEnvironment = {},
): CheckedModel {
  let inputDimension: Dimension | undefined;
  if (model.kind === 'neuron' && model.input !== undefined) {
    inputDimension = model.input.unit;
    if (inputDimension === undefined) {
      const probe = new UnitChecker(model, env, undefined, UNKNOWN_CURRENT);
      probe.run(model);
      inputDimension = probe.solvedCurrent;
      if (inputDimension === undefined) {
        diagnostics.error(
          model.input.span,
          `cannot infer the unit of current '${model.input.name}' from the equations`,
          {
            notes: [`write it out, e.g. current ${model.input.name} : nA`],
          },
        );
      }
    }
  }
  const checker = new UnitChecker(model, env, diagnostics, inputDimension);
  checker.run(model);
  const result = checker.result();
  return { dimensions: checker.dimensions(model), ...(result === undefined ? {} : { result }) };
}

/**
 * Checks one expression written in a network (a weight, a delay, a stimulus);
 * `model` resolves the state names a stimulus may use. Returns its type.
 */
export function checkExprUnits(
  e: Expr,
  model: Model | undefined,
  diagnostics: Diagnostics,
  env: InstanceEnvironment = {},
): ExprType {
  return new UnitChecker(model, env, diagnostics, undefined).typeOf(e);
}

/**
 * Reports a value whose dimension differs from what its place requires, naming
 * both by their kind where they have one ("a delay must be a time, found a
 * voltage"), with a hint in the unit users write for bare numbers ("write 10 Hz").
 */
export function requireDimension(
  e: Expr,
  found: ExprType,
  expected: Dimension,
  what: string,
  diagnostics: Diagnostics,
): boolean {
  if (
    found.kind === 'number' &&
    (found.dimension === undefined || dimEquals(found.dimension, expected))
  )
    return true;
  const description = found.kind === 'bool' ? 'a condition' : describeKind(found.dimension!);
  const kind = isDimensionless(expected)
    ? 'a dimensionless number'
    : (quantityKind(expected) ?? `in ${formatDimension(expected)}`);
  const hint = isBareNumber(e) ? bareNumberHint(e, expected) : { notes: [] };
  diagnostics.error(e.span, `${what} must be ${kind}, found ${description}`, {
    ...(hint.label === undefined ? {} : { label: hint.label }),
    notes: hint.notes,
  });
  return false;
}
