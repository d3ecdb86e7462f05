import type { Diagnostics } from '../diagnostics/diagnostic.js';
import { type Span, spanText } from '../diagnostics/source.js';
import type * as A from '../parser/ast.js';
import {
  type ExprContext,
  NON_FINITE_NOTE,
  constantValue,
  lowerExpr,
  lowerUnit,
  nonFinite,
} from './lower-expr.js';
import { foreignNameNote, suggestUnit } from './suggest.js';
import { assignments, dependencies, heldState } from './walk.js';
import {
  type AssignTarget,
  type CurrentInput,
  type DifferentialEquation,
  type Expr,
  INTEGRATION_METHODS,
  type IntegrationMethod,
  type Model,
  type NeuronModel,
  type Parameter,
  type Ref,
  type StateInit,
  type StateVariable,
  type Statement,
  type Subexpression,
} from './types.js';

type SymbolKind = 'parameter' | 'state' | 'subexpression' | 'input';

interface Declared {
  readonly kind: SymbolKind;
  readonly span: Span;
}

/** Names every model of a kind provides; users may not declare them. */
const BUILTIN_NAMES: Readonly<Record<A.ModelKind, readonly string[]>> = {
  neuron: ['t', 'dt'],
  synapse: ['t', 'dt', 'w'],
  output: ['t', 'dt', 'g'],
};

/** Items each kind of model may contain. */
const ALLOWED_ITEMS: Readonly<Record<A.ModelKind, ReadonlySet<A.ModelItem['kind']>>> = {
  neuron: new Set([
    'parameters',
    'state',
    'currentInput',
    'equations',
    'spike',
    'reset',
    'refractory',
    'method',
  ]),
  synapse: new Set(['parameters', 'state', 'equations', 'method', 'onPre', 'onPost', 'delivers']),
  output: new Set(['parameters', 'outputCurrent']),
};

const ITEM_WORDS: Readonly<Record<A.ModelItem['kind'], string>> = {
  parameters: "'parameters'",
  state: "'state'",
  currentInput: "'current NAME'",
  outputCurrent: "'current = ...'",
  equations: "'equations'",
  spike: "'spike when'",
  reset: "'reset'",
  refractory: "'refractory'",
  method: "'method'",
  onPre: "'on_pre'",
  onPost: "'on_post'",
  delivers: "'delivers'",
};

/** Items that may appear at most once. */
const SINGLE_ITEMS: ReadonlySet<A.ModelItem['kind']> = new Set([
  'currentInput',
  'outputCurrent',
  'spike',
  'reset',
  'refractory',
  'method',
  'onPre',
  'onPost',
  'delivers',
]);

/**
 * Lowers one model definition to IR: resolves every name, converts literals to
 * internal units, and checks the structure (duplicates, undefined names,
 * cycles, assignments to non-states, items a kind of model cannot have).
 * Returns undefined when anything was wrong; every problem is in `diagnostics`.
 */
export function lowerModel(def: A.ModelDef, diagnostics: Diagnostics): Model | undefined {
  const errorsBefore = diagnostics.errorCount;
  const items = checkItems(def, diagnostics);
  items.parameters = withoutMisspeltUnits(
    items.parameters,
    (p) => p.value,
    'parameter',
    diagnostics,
  );
  items.state = withoutMisspeltUnits(items.state, (s) => s.init?.value, 'state', diagnostics);
  const symbols = declareSymbols(def, items, diagnostics);
  const builtins = BUILTIN_NAMES[def.kind];

  const resolve = (name: string): Ref | undefined => {
    const d = symbols.get(name);
    if (d !== undefined)
      return d.kind === 'input' ? { kind: 'input', name } : { kind: d.kind, name };
    if (!builtins.includes(name)) return undefined;
    if (name === 't') return { kind: 'time' };
    if (name === 'dt') return { kind: 'dt' };
    return name === 'w' ? { kind: 'weight' } : { kind: 'delivered' };
  };
  const member =
    def.kind === 'neuron'
      ? undefined
      : (object: string, name: string): Ref | undefined =>
          object === 'post' || (object === 'pre' && def.kind === 'synapse')
            ? { kind: object, name }
            : undefined;
  const states = new Set([...symbols].filter(([, d]) => d.kind === 'state').map(([n]) => n));
  const base: ExprContext = {
    resolve,
    ...(member === undefined ? {} : { member }),
    candidates: () => [...symbols.keys(), ...builtins],
    where: 'here',
  };
  const lower = (
    e: A.Expression,
    ctx: Partial<ExprContext> & { where: string },
  ): Expr | undefined => lowerExpr(e, { ...base, ...ctx }, diagnostics);

  const parameters = lowerParameters(items, lower, def.kind, diagnostics);
  const stateVars = lowerStates(items, lower, def.kind, diagnostics);
  const subexpressions = lowerSubexpressions(items, lower, diagnostics);
  const equations = lowerEquations(items, symbols, lower, diagnostics);

  const statementContext = { prevStates: states, where: 'in an event block' };
  const lowerBlock = (body: readonly A.Statement[], allowWeight: boolean): Statement[] =>
    lowerStatements(
      body,
      symbols,
      def.kind,
      allowWeight,
      (e) => lower(e, statementContext),
      diagnostics,
    );

  const method = lowerMethod(items.method, diagnostics);
  const name = def.name.name;
  const span = def.name.span;
  let model: Model | undefined;
  switch (def.kind) {
    case 'neuron': {
      const spike =
        items.spike === undefined
          ? undefined
          : lower(items.spike.condition, { prevStates: states, where: 'in a spike condition' });
      if (items.reset !== undefined && items.spike === undefined) {
        diagnostics.error(items.reset.span, "'reset' needs a spike condition", {
          notes: ["add 'spike when CONDITION' to say when the reset happens"],
        });
      }
      if (items.refractory !== undefined && items.spike === undefined) {
        diagnostics.error(items.refractory.span, "'refractory' needs a spike condition", {
          notes: ["add 'spike when CONDITION'"],
        });
      }
      const refractory =
        items.refractory === undefined
          ? undefined
          : lower(items.refractory.value, { where: 'in a refractory period' });
      const input =
        items.currentInput === undefined
          ? undefined
          : lowerCurrentInput(items.currentInput, def.kind, diagnostics);
      model = {
        kind: 'neuron',
        name,
        span,
        parameters,
        states: stateVars,
        subexpressions,
        equations,
        method,
        ...(input === undefined ? {} : { input }),
        ...(spike === undefined ? {} : { spike }),
        reset: items.reset === undefined ? [] : lowerBlock(items.reset.body, false),
        ...(refractory === undefined ? {} : { refractory }),
      };
      if (items.refractory !== undefined && spike !== undefined)
        warnHeldAboveThreshold(model, items.refractory.span, diagnostics);
      break;
    }
    case 'synapse': {
      // Without `delivers` the synapse hands nothing to an output: it can only jump post.X in its events.
      const delivers =
        items.delivers === undefined
          ? undefined
          : lower(items.delivers.value, { where: "in 'delivers'" });
      if (items.delivers !== undefined && delivers === undefined) break;
      model = {
        kind: 'synapse',
        name,
        span,
        parameters,
        states: stateVars,
        subexpressions,
        equations,
        method,
        onPre: items.onPre === undefined ? [] : lowerBlock(items.onPre.body, true),
        onPost: items.onPost === undefined ? [] : lowerBlock(items.onPost.body, true),
        ...(delivers === undefined ? {} : { delivers }),
      };
      break;
    }
    case 'output': {
      if (items.outputCurrent === undefined) {
        diagnostics.error(def.name.span, `output '${name}' has no 'current = ...' line`);
      }
      const current =
        items.outputCurrent === undefined
          ? undefined
          : lower(items.outputCurrent.value, { where: 'in an output current' });
      if (current === undefined) break;
      model = { kind: 'output', name, span, parameters, current };
      break;
    }
  }
  if (model !== undefined && model.kind !== 'output') checkInitCycles(model, diagnostics);
  return diagnostics.errorCount > errorsBefore ? undefined : model;
}

/** The model's items by kind, with lists merged and duplicates of single items reported. */
interface Items {
  parameters: A.ParameterDecl[];
  state: A.StateDecl[];
  readonly equations: A.EquationDecl[];
  currentInput?: Extract<A.ModelItem, { kind: 'currentInput' }>;
  outputCurrent?: Extract<A.ModelItem, { kind: 'outputCurrent' }>;
  spike?: Extract<A.ModelItem, { kind: 'spike' }>;
  reset?: Extract<A.ModelItem, { kind: 'reset' }>;
  refractory?: Extract<A.ModelItem, { kind: 'refractory' }>;
  method?: Extract<A.ModelItem, { kind: 'method' }>;
  onPre?: Extract<A.ModelItem, { kind: 'onPre' }>;
  onPost?: Extract<A.ModelItem, { kind: 'onPost' }>;
  delivers?: Extract<A.ModelItem, { kind: 'delivers' }>;
}

function checkItems(def: A.ModelDef, diagnostics: Diagnostics): Items {
  const items: Items = { parameters: [], state: [], equations: [] };
  const seen = new Map<A.ModelItem['kind'], Span>();
  for (const item of def.items) {
    if (!ALLOWED_ITEMS[def.kind].has(item.kind)) {
      diagnostics.error(
        item.span,
        `${def.kind === 'output' ? 'an' : 'a'} ${def.kind} cannot have ${ITEM_WORDS[item.kind]}`,
      );
      continue;
    }
    const first = seen.get(item.kind);
    if (first !== undefined && SINGLE_ITEMS.has(item.kind)) {
      diagnostics.error(
        item.span,
        `${ITEM_WORDS[item.kind]} is given twice in ${def.kind} '${def.name.name}'`,
        {
          secondary: [{ span: first, message: 'first given here' }],
        },
      );
      continue;
    }
    seen.set(item.kind, item.span);
    // A loop, not push(...decls): spreading a block of 100k declarations overflows the stack.
    switch (item.kind) {
      case 'parameters':
        for (const d of item.decls) items.parameters.push(d);
        break;
      case 'state':
        for (const d of item.decls) items.state.push(d);
        break;
      case 'equations':
        for (const e of item.equations) items.equations.push(e);
        break;
      default:
        (items as unknown as Record<string, A.ModelItem>)[item.kind] = item;
    }
  }
  return items;
}

function declareSymbols(
  def: A.ModelDef,
  items: Items,
  diagnostics: Diagnostics,
): Map<string, Declared> {
  const symbols = new Map<string, Declared>();
  const declare = (name: A.Name, kind: SymbolKind): void => {
    if (BUILTIN_NAMES[def.kind].includes(name.name)) {
      diagnostics.error(
        name.span,
        `'${name.name}' is a built-in name in a ${def.kind} and cannot be declared`,
      );
      return;
    }
    const previous = symbols.get(name.name);
    if (previous !== undefined) {
      diagnostics.error(
        name.span,
        `'${name.name}' is already defined in ${def.kind} '${def.name.name}'`,
        {
          secondary: [
            {
              span: previous.span,
              message: `'${name.name}' is first defined here as a ${previous.kind}`,
            },
          ],
        },
      );
      return;
    }
    symbols.set(name.name, { kind, span: name.span });
  };
  for (const p of items.parameters) declare(p.name, 'parameter');
  for (const s of items.state) declare(s.name, 'state');
  if (items.currentInput !== undefined) declare(items.currentInput.name, 'input');
  for (const e of items.equations) if (e.kind === 'subexpression') declare(e.name, 'subexpression');
  return symbols;
}

type Lower = (e: A.Expression, ctx: Partial<ExprContext> & { where: string }) => Expr | undefined;

/** The innermost expression that `e` ends with: `10` in `2 * 10`. */
function lastOperand(e: A.Expression): A.Expression {
  if (e.kind === 'binary') return lastOperand(e.right);
  if (e.kind === 'unary') return lastOperand(e.operand);
  return e;
}

/**
 * `tau = 10 msec` parses as `tau = 10` followed by a second declaration `msec`
 * with neither unit nor value, since `msec` is not a unit. Such a declaration,
 * right after a value that ends with a bare number on the same line, is taken
 * for what it most likely is, a misspelt unit: reported, and left out.
 */
function withoutMisspeltUnits<D extends A.ParameterDecl | A.StateDecl>(
  decls: readonly D[],
  valueOf: (d: D) => A.Expression | undefined,
  what: 'parameter' | 'state',
  diagnostics: Diagnostics,
): D[] {
  const kept: D[] = [];
  decls.forEach((d, i) => {
    const before = i > 0 ? decls[i - 1] : undefined;
    const value = before === undefined ? undefined : valueOf(before);
    const last = value === undefined ? undefined : lastOperand(value);
    const bare = d.unit === undefined && valueOf(d) === undefined;
    if (
      !bare ||
      value === undefined ||
      last?.kind !== 'number' ||
      last.unit !== undefined ||
      last.span.end !== value.span.end
    ) {
      kept.push(d);
      return;
    }
    const file = d.name.span.file;
    if (
      file !== value.span.file ||
      !/^[ \t]+$/.test(file.text.slice(value.span.end, d.name.span.start))
    ) {
      kept.push(d);
      return;
    }
    const hint = suggestUnit(d.name.name);
    diagnostics.error(d.name.span, `unknown unit '${d.name.name}'`, {
      ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
      notes: [
        `'${d.name.name}' follows the number ${/^[-+\s\d.eE]+$/.test(spanText(value.span)) ? spanText(value.span) : spanText(last.span)}, so it is read as its unit`,
        `if '${d.name.name}' is meant as a new ${what}, it needs its own declaration: put it on a line of its own, or write ${d.name.name} : UNIT or ${d.name.name} = VALUE`,
      ],
    });
  });
  return kept;
}

/** `weight` is the unit of a projection's weights, which only a synapse's states take on. */
function checkWeightUnit(
  unit: A.UnitExpr | undefined,
  allowed: boolean,
  diagnostics: Diagnostics,
): void {
  const factor = unit?.factors.find((f) => f.name === 'weight');
  if (factor === undefined || allowed) return;
  diagnostics.error(factor.span, "the unit 'weight' can only be used in a synapse", {
    notes: [
      "'weight' stands for the unit of the weights of a projection, which only the states and parameters of its synapse model take on",
    ],
  });
}

function lowerParameters(
  items: Items,
  lower: Lower,
  kind: A.ModelKind,
  diagnostics: Diagnostics,
): Parameter[] {
  const result: Parameter[] = [];
  for (const p of items.parameters) {
    checkWeightUnit(p.unit, kind === 'synapse', diagnostics);
    const unit = p.unit === undefined ? undefined : lowerUnit(p.unit, diagnostics);
    let value: Expr | undefined;
    if (p.value !== undefined) {
      // The model's names resolve here, so that a default that uses them gets the message below, not "unknown name".
      value = lower(p.value, { where: 'in a parameter default' });
      if (value !== undefined && constantValue(value) === undefined) {
        diagnostics.error(p.value.span, 'the default of a parameter must be a constant', {
          notes: [
            'to compute a value from parameters, write a named subexpression in equations { }',
          ],
        });
        value = undefined;
      }
      const problem = value === undefined ? undefined : nonFinite(value);
      if (problem !== undefined) {
        diagnostics.error(p.value.span, `the default of parameter '${p.name.name}' is ${problem}`, {
          notes: [NON_FINITE_NOTE],
        });
        value = undefined;
      }
    }
    result.push({
      name: p.name.name,
      span: p.name.span,
      ...(unit === undefined ? {} : { unit: unit.dimension }),
      ...(value === undefined ? {} : { value }),
    });
  }
  return result;
}

function lowerStates(
  items: Items,
  lower: Lower,
  kind: A.ModelKind,
  diagnostics: Diagnostics,
): StateVariable[] {
  const result: StateVariable[] = [];
  for (const s of items.state) {
    checkWeightUnit(s.unit, kind === 'synapse', diagnostics);
    const unit = s.unit === undefined ? undefined : lowerUnit(s.unit, diagnostics);
    let init: StateInit = { kind: 'zero' };
    if (s.init !== undefined) {
      const isDistribution = s.init.op === '~';
      const value = lower(s.init.value, {
        allowRandom: isDistribution,
        where: 'in an initial value',
      });
      if (value !== undefined && isDistribution && value.kind !== 'random') {
        diagnostics.error(
          s.init.value.span,
          "'~' must be followed by a distribution, normal(...) or uniform(...)",
          {
            notes: ["for a fixed initial value write '='"],
          },
        );
      }
      const problem = value === undefined ? undefined : nonFinite(value);
      if (problem !== undefined) {
        diagnostics.error(
          s.init.value.span,
          `the initial value of state '${s.name.name}' is ${problem}`,
          { notes: [NON_FINITE_NOTE] },
        );
      }
      if (value !== undefined)
        init = isDistribution ? { kind: 'distribution', value } : { kind: 'value', value };
    }
    result.push({
      name: s.name.name,
      span: s.name.span,
      ...(unit === undefined ? {} : { unit: unit.dimension }),
      init,
    });
  }
  return result;
}

function lowerSubexpressions(
  items: Items,
  lower: Lower,
  diagnostics: Diagnostics,
): Subexpression[] {
  const lowered = new Map<string, Subexpression>();
  for (const e of items.equations) {
    if (e.kind !== 'subexpression') continue;
    const value = lower(e.value, { where: 'in a subexpression' });
    if (value !== undefined)
      lowered.set(e.name.name, { name: e.name.name, span: e.name.span, value });
  }
  return orderSubexpressions(lowered, diagnostics);
}

/** Orders subexpressions so that each comes after those it uses; reports cycles. */
function orderSubexpressions(
  subs: ReadonlyMap<string, Subexpression>,
  diagnostics: Diagnostics,
): Subexpression[] {
  const ordered: Subexpression[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: readonly string[]): void => {
    const sub = subs.get(name);
    if (sub === undefined || state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      diagnostics.error(
        sub.span,
        `subexpression '${name}' depends on itself: ${cycle.join(' -> ')}`,
      );
      return;
    }
    state.set(name, 'visiting');
    for (const dep of dependencies(sub.value, 'subexpression')) visit(dep, [...path, name]);
    state.set(name, 'done');
    ordered.push(sub);
  };
  for (const name of subs.keys()) visit(name, []);
  return ordered;
}

function lowerEquations(
  items: Items,
  symbols: ReadonlyMap<string, Declared>,
  lower: Lower,
  diagnostics: Diagnostics,
): DifferentialEquation[] {
  const result: DifferentialEquation[] = [];
  const seen = new Map<string, Span>();
  for (const e of items.equations) {
    if (e.kind !== 'ode') continue;
    const target = symbols.get(e.name.name);
    if (target?.kind !== 'state') {
      const what = target === undefined ? 'not declared' : `a ${target.kind}`;
      diagnostics.error(
        e.name.span,
        `d${e.name.name}/dt: '${e.name.name}' is ${what}, not a state variable`,
        {
          ...(target === undefined
            ? {}
            : { secondary: [{ span: target.span, message: `'${e.name.name}' is declared here` }] }),
          notes: [`declare it in state { }: state { ${e.name.name} = ... }`],
        },
      );
      continue;
    }
    const first = seen.get(e.name.name);
    if (first !== undefined) {
      diagnostics.error(e.span, `d${e.name.name}/dt is given twice`, {
        secondary: [{ span: first, message: 'first given here' }],
      });
      continue;
    }
    seen.set(e.name.name, e.span);
    const rhs = lower(e.value, { allowWiener: true, where: 'in a differential equation' });
    if (rhs !== undefined) result.push({ state: e.name.name, span: e.span, rhs });
  }
  return result;
}

function lowerStatements(
  body: readonly A.Statement[],
  symbols: ReadonlyMap<string, Declared>,
  modelKind: A.ModelKind,
  allowWeight: boolean,
  lower: (e: A.Expression) => Expr | undefined,
  diagnostics: Diagnostics,
): Statement[] {
  const result: Statement[] = [];
  for (const s of body) {
    if (s.kind === 'if') {
      const condition = lower(s.condition);
      const then = lowerStatements(s.then, symbols, modelKind, allowWeight, lower, diagnostics);
      const otherwise = lowerStatements(
        s.otherwise,
        symbols,
        modelKind,
        allowWeight,
        lower,
        diagnostics,
      );
      if (condition !== undefined)
        result.push({ kind: 'if', condition, then, otherwise, span: s.span });
      continue;
    }
    const target = assignTarget(s, symbols, modelKind, allowWeight, diagnostics);
    const value = lower(s.value);
    if (target !== undefined && value !== undefined)
      result.push({ kind: 'assign', target, op: s.op, value, span: s.span });
  }
  return result;
}

function assignTarget(
  s: Extract<A.Statement, { kind: 'assign' }>,
  symbols: ReadonlyMap<string, Declared>,
  modelKind: A.ModelKind,
  allowWeight: boolean,
  diagnostics: Diagnostics,
): AssignTarget | undefined {
  const name = s.target.name;
  if (s.qualifier !== undefined) {
    const object = s.qualifier.name;
    if (modelKind === 'synapse' && (object === 'post' || object === 'pre'))
      return { kind: object, name };
    diagnostics.error(s.qualifier.span, `cannot assign to '${object}.${name}' here`, {
      notes: ["synapse event blocks may change 'post.X' and 'pre.X'"],
    });
    return undefined;
  }
  if (name === 'w' && allowWeight) return { kind: 'weight' };
  const declared = symbols.get(name);
  if (declared?.kind === 'state') return { kind: 'state', name };
  if (declared === undefined) {
    const note = foreignNameNote(name);
    diagnostics.error(s.target.span, `cannot assign to unknown name '${name}'`, {
      notes: [note ?? 'only state variables can be assigned'],
    });
  } else {
    diagnostics.error(s.target.span, `cannot assign to ${declared.kind} '${name}'`, {
      secondary: [
        { span: declared.span, message: `'${name}' is declared here as a ${declared.kind}` },
      ],
      notes: [
        'only state variables can be assigned; to change it during a run, declare it in state { }',
      ],
    });
  }
  return undefined;
}

function lowerMethod(item: Items['method'], diagnostics: Diagnostics): IntegrationMethod {
  if (item === undefined) return 'exp_euler';
  const name = item.name.name;
  if ((INTEGRATION_METHODS as readonly string[]).includes(name)) return name as IntegrationMethod;
  // BrainPy's names for what spikeforge calls exp_euler.
  const brainpy = name === 'exp_auto' || name === 'exponential_euler';
  diagnostics.error(item.name.span, `unknown integration method '${name}'`, {
    ...(brainpy ? { label: "did you mean 'exp_euler'?" } : {}),
    notes: [
      ...(brainpy ? [`BrainPy's ${name} is exp_euler here`] : []),
      `the methods are ${INTEGRATION_METHODS.join(', ')}`,
    ],
  });
  return 'exp_euler';
}

function lowerCurrentInput(
  item: NonNullable<Items['currentInput']>,
  kind: A.ModelKind,
  diagnostics: Diagnostics,
): CurrentInput | undefined {
  checkWeightUnit(item.unit, kind === 'synapse', diagnostics);
  if (item.flag !== undefined && item.flag.name !== 'ltc') {
    diagnostics.error(item.flag.span, `unknown current option '${item.flag.name}'`, {
      notes: ["the only option is '(ltc)'"],
    });
    return undefined;
  }
  const unit = item.unit === undefined ? undefined : lowerUnit(item.unit, diagnostics);
  return {
    name: item.name.name,
    span: item.name.span,
    ltc: item.flag !== undefined,
    ...(unit === undefined ? {} : { unit: unit.dimension }),
  };
}

/** Initial values may use other states (through subexpressions too), but not in a circle. */
function checkInitCycles(
  model: Extract<Model, { kind: 'neuron' | 'synapse' }>,
  diagnostics: Diagnostics,
): void {
  const subs = new Map(model.subexpressions.map((s) => [s.name, s.value]));
  const statesUsed = (e: Expr, seen: Set<string> = new Set()): Set<string> => {
    const result = new Set(dependencies(e, 'state'));
    for (const sub of dependencies(e, 'subexpression')) {
      const value = subs.get(sub);
      if (value === undefined || seen.has(sub)) continue;
      seen.add(sub);
      for (const s of statesUsed(value, seen)) result.add(s);
    }
    return result;
  };
  const deps = new Map(
    model.states.map((s) => [
      s.name,
      s.init.kind === 'zero' ? new Set<string>() : statesUsed(s.init.value),
    ]),
  );
  const spans = new Map(model.states.map((s) => [s.name, s.span]));
  const done = new Set<string>();
  const visit = (name: string, path: readonly string[]): void => {
    if (done.has(name)) return;
    if (path.includes(name)) {
      const cycle = [...path.slice(path.indexOf(name)), name];
      diagnostics.error(
        spans.get(name) ?? model.span,
        `the initial value of '${name}' depends on itself: ${cycle.join(' -> ')}`,
      );
      done.add(name);
      return;
    }
    for (const d of deps.get(name) ?? []) visit(d, [...path, name]);
    done.add(name);
  };
  for (const s of model.states) visit(s.name, []);
}

/**
 * A refractory neuron holds its V (heldState) and still tests its spike condition, as BrainPy
 * does: without a reset of V, V stays where it passed the condition, which a Brian2 model
 * written with `threshold` and `refractory` but no reset (its COBAHH example) does not expect.
 */
function warnHeldAboveThreshold(model: NeuronModel, span: Span, diagnostics: Diagnostics): void {
  const held = heldState(model);
  if (
    held === undefined ||
    [...assignments(model.reset)].some((s) => s.target.kind === 'state' && s.target.name === held)
  )
    return;
  diagnostics.warning(
    span,
    `'refractory' holds ${held}, and the reset does not change it: after a spike ${held} is held where it met the spike condition, so the neuron can spike again in every step`,
    {
      notes: [
        `reset ${held} below the threshold, or, for a refractory period that only blocks the threshold while the action potential runs its course (Brian2's 'refractory' without a reset), drop 'refractory' and test an upward crossing: 'spike when ${held} > X and prev(${held}) <= X'`,
      ],
    },
  );
}
