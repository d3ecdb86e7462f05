import type { Diagnostics } from '../diagnostics/diagnostic.js';
import { type Span, joinSpans, spanText } from '../diagnostics/source.js';
import {
  delayInSteps,
  isWholeSteps,
  recordingSteps,
  runLengthProblem,
  stepsIn,
} from '../codegen/steps.js';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type * as A from '../parser/ast.js';
import {
  DIMENSIONLESS,
  type Dimension,
  dimEquals,
  dimensionOf,
  formatDimension,
  hasWeight,
  substituteWeight,
} from '../units/dimension.js';
import { type ExprType, checkExprUnits, checkModelUnits, requireDimension } from './check-units.js';
import {
  type ExprContext,
  NON_FINITE_NOTE,
  constantValue,
  lowerExpr,
  nonFinite,
} from './lower-expr.js';
import type { ConnectionFiles, ProjectionSide } from './connection-file.js';
import { stdlibModel } from './stdlib-index.js';
import { suggestion } from './suggest.js';
import { perNeuronModel } from './per-neuron-parameters.js';
import { formatTime } from '../runtime/format-number.js';
import { nodes } from './walk.js';
import type {
  Connector,
  Expr,
  IndexRange,
  Model,
  ModelUse,
  Network,
  NeuronModel,
  OutputModel,
  Override,
  Population,
  PopulationSource,
  Projection,
  Recording,
  Ref,
  Statement,
  Stimulus,
  SymbolDimensions,
  SynapseModel,
} from './types.js';

const TIME = dimensionOf({ s: 1 });
const FREQUENCY = dimensionOf({ s: -1 });
const CONNECTORS = [
  'all_to_all',
  'one_to_one',
  'fixed_probability',
  'fixed_in_degree',
  'fixed_out_degree',
  'from_file',
];
const SOURCES = ['Poisson', 'SpikeTimes'];
const SETTINGS = ['dt', 'duration', 'seed'];
/** The largest population size, slice bound or degree: indices are 32-bit signed integers in the kernels. */
const MAX_INDEX = 2 ** 31 - 1;

/** "a" or "an", for a word that follows. */
function article(word: string): string {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/** The models a network can use, with the dimensions the check pass found for their names. */
export interface ModelTable {
  readonly models: ReadonlyMap<string, Model>;
  readonly dimensions: ReadonlyMap<string, SymbolDimensions>;
  /** Models defined with errors (already reported): a use of one is not reported again. */
  readonly failed?: ReadonlySet<string>;
}

/** Network expressions see units and nothing else, except where a scope adds names. */
function networkContext(where: string, extra: Partial<ExprContext> = {}): ExprContext {
  return { resolve: () => undefined, candidates: () => [], where, ...extra };
}

/**
 * What drives neurons step by step (a stimulus, a Poisson rate): `t`, `dt`, the neuron's
 * states `states` (a stimulus of a neuron model) and `i`, the neuron's index.
 */
function drivenContext(
  where: string,
  states: ReadonlySet<string>,
  extra: Partial<ExprContext>,
): ExprContext {
  const resolve = (name: string): Ref | undefined =>
    name === 't'
      ? { kind: 'time' }
      : name === 'dt'
        ? { kind: 'dt' }
        : states.has(name)
          ? { kind: 'state', name }
          : name === 'i'
            ? { kind: 'index', side: 'pre' }
            : undefined;
  return networkContext(where, {
    resolve,
    candidates: () => ['t', 'dt', 'i', ...states],
    ...extra,
  });
}

/** `i` and `j`, a pair's pre- and post-synaptic indices in the projection's slices. */
function pairContext(where: string, extra: Partial<ExprContext> = {}): ExprContext {
  const resolve = (name: string): Ref | undefined =>
    name === 'i'
      ? { kind: 'index', side: 'pre' }
      : name === 'j'
        ? { kind: 'index', side: 'post' }
        : undefined;
  return networkContext(where, { resolve, candidates: () => ['i', 'j'], ...extra });
}

/** A weight or delay: random draws, and `i` and `j`, the synapse's pre- and post-synaptic indices. */
function synapseContext(where: string): ExprContext {
  return pairContext(where, { allowRandom: true });
}

/**
 * Lowers a network: instantiates models with their overrides, checks every
 * reference (populations, slices, parameters, connectors) and the units of
 * everything given at instantiation, including each output's current against
 * its post-synaptic neuron.
 */
export function lowerNetwork(
  def: A.NetworkDef,
  table: ModelTable,
  files: ConnectionFiles,
  diagnostics: Diagnostics,
): Network | undefined {
  const errorsBefore = diagnostics.errorCount;
  const lower = (e: A.Expression, ctx: ExprContext): Expr | undefined =>
    lowerExpr(e, ctx, diagnostics);
  const settings = lowerSettings(def, diagnostics);
  // A population whose definition has errors maps to undefined: references to it are not errors too.
  const populations = new Map<string, Population | undefined>();
  const projections: Projection[] = [];
  // Projections whose definition has errors: recording them is not an error too.
  const failedProjections = new Set<string>();
  const stimuli: Stimulus[] = [];
  const recordings: Recording[] = [];
  const names = new Map<string, Span>();
  // post.X / pre.X problems already reported, so that a synapse used by several projections is reported once.
  const reportedMembers = new Set<string>();
  const claim = (name: A.Name, what: string): boolean => {
    const first = names.get(name.name);
    if (first !== undefined) {
      diagnostics.error(
        name.span,
        `'${name.name}' is already defined in network '${def.name.name}'`,
        {
          secondary: [{ span: first, message: 'first defined here' }],
        },
      );
      return false;
    }
    names.set(name.name, name.span);
    return what.length > 0;
  };

  for (const item of def.items) {
    if (item.kind === 'population' && claim(item.name, 'population')) {
      populations.set(
        item.name.name,
        lowerPopulation(item, table, settings.dt, lower, diagnostics),
      );
    }
  }
  const recordItems: Extract<A.NetworkItem, { kind: 'record' }>[] = [];
  for (const item of def.items) {
    switch (item.kind) {
      case 'projection': {
        if (!claim(item.name, 'projection')) break;
        const p = lowerProjection(
          item,
          populations,
          table,
          settings.dt,
          files,
          lower,
          reportedMembers,
          diagnostics,
        );
        if (p !== undefined) projections.push(p);
        else failedProjections.add(item.name.name);
        break;
      }
      case 'stimulus': {
        const s = lowerStimulus(item, populations, table, lower, diagnostics);
        if (s !== undefined) stimuli.push(s);
        break;
      }
      case 'record':
        // After every projection: a record line may name one defined below it.
        recordItems.push(item);
        break;
      default:
        break;
    }
  }
  // Maps, not searches of the lists: a network may have thousands of projections and recordings.
  const projectionsByName = new Map(projections.map((p) => [p.name, p]));
  // Where each recording was first written, by what it records.
  const recordedAt = new Map<string, Span>();
  for (const item of recordItems) {
    if (failedProjections.has(item.population.name)) continue;
    const r = lowerRecording(item, populations, projectionsByName, table, settings, diagnostics);
    if (r === undefined) continue;
    // Each recording has its own file, named by what it records: the same one twice would collide
    // (also at two intervals: the one of every step holds the other).
    const at = joinSpans(item.population.span, item.slice?.span ?? item.variable.span);
    const key = [r.of, r.population, r.variable, r.range?.start, r.range?.end].join(' ');
    const first = recordedAt.get(key);
    if (first !== undefined)
      diagnostics.error(at, `${spanText(at)} is recorded twice`, {
        secondary: [{ span: first, message: 'first recorded here' }],
      });
    else {
      recordings.push(r);
      recordedAt.set(key, at);
    }
  }
  if (diagnostics.errorCount > errorsBefore) return undefined;
  return {
    name: def.name.name,
    span: def.name.span,
    ...settings,
    populations: [...populations.values()].filter((p) => p !== undefined),
    projections,
    stimuli,
    recordings,
  };
}

type Lower = (e: A.Expression, ctx: ExprContext) => Expr | undefined;

/** A network's settings, in ms (dt, duration) and as written (seed). */
interface RunSettings {
  readonly dt: number;
  readonly duration: number;
  readonly seed: number;
}

function lowerSettings(def: A.NetworkDef, diagnostics: Diagnostics): RunSettings {
  const values = { dt: 0.1, duration: 1000, seed: 0 };
  const spans = new Map<string, Span>();
  for (const item of def.items) {
    if (item.kind !== 'setting') continue;
    const name = item.name.name;
    if (!SETTINGS.includes(name)) {
      const hint = suggestion(name, SETTINGS);
      diagnostics.error(item.name.span, `unknown network setting '${name}'`, {
        ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
        notes: [`the settings are ${SETTINGS.join(', ')}`],
      });
      continue;
    }
    const c = networkConstant(
      item.value,
      name === 'seed' ? 'seed' : 'time',
      `'${name}'`,
      `in the setting '${name}'`,
      diagnostics,
    );
    if (c === undefined) continue;
    values[name as keyof typeof values] = c.value;
    spans.set(name, c.span);
  }
  const problem = runLengthProblem(values.duration, values.dt);
  if (problem !== undefined)
    diagnostics.error(spans.get('duration') ?? spans.get('dt') ?? def.name.span, problem);
  return values;
}

/**
 * A constant written in the network (the settings, a recording's `every`): a positive time, or
 * a seed (a whole number from 0 to 2^32 - 1), with where it was written; undefined after
 * reporting why not. `label` names it in messages (`'dt'`), `where` says where it is.
 */
function networkConstant(
  value: A.Expression,
  kind: 'time' | 'seed',
  label: string,
  where: string,
  diagnostics: Diagnostics,
): { readonly value: number; readonly span: Span } | undefined {
  const e = lowerExpr(value, networkContext(where, { hostOnly: true }), diagnostics);
  if (e === undefined) return undefined;
  const expected = kind === 'seed' ? DIMENSIONLESS : TIME;
  if (!requireDimension(e, checkExprUnits(e, undefined, diagnostics), expected, label, diagnostics))
    return undefined;
  const v = constantValue(e);
  const valid =
    v !== undefined &&
    (kind === 'seed' ? Number.isInteger(v) && v >= 0 && v < 2 ** 32 : v > 0 && Number.isFinite(v));
  if (!valid || v === undefined) {
    diagnostics.error(
      e.span,
      kind === 'seed'
        ? `${label} must be a whole number from 0 to 4294967295`
        : `${label} must be a positive constant time`,
    );
    return undefined;
  }
  return { value: v, span: e.span };
}

/** A constant whole number (sizes, degrees, slice bounds), or a reported error. */
function integerValue(
  e: A.Expression,
  lower: Lower,
  what: string,
  diagnostics: Diagnostics,
): number | undefined {
  const x = lower(e, networkContext(`in ${what}`, { hostOnly: true }));
  if (x === undefined) return undefined;
  const t = checkExprUnits(x, undefined, diagnostics);
  const v = constantValue(x);
  if (
    t.kind !== 'number' ||
    (t.dimension !== undefined && !dimEquals(t.dimension, DIMENSIONLESS)) ||
    v === undefined ||
    !Number.isInteger(v)
  ) {
    diagnostics.error(e.span, `${what} must be a whole number`);
    return undefined;
  }
  if (v < 0) {
    diagnostics.error(e.span, `${what} cannot be negative, found ${spanText(e.span)}`);
    return undefined;
  }
  if (v > MAX_INDEX) {
    diagnostics.error(
      e.span,
      `${what} must be at most ${MAX_INDEX} (2^31 - 1), found ${spanText(e.span)}`,
    );
    return undefined;
  }
  return v;
}

function lowerPopulation(
  item: Extract<A.NetworkItem, { kind: 'population' }>,
  table: ModelTable,
  dt: number,
  lower: Lower,
  diagnostics: Diagnostics,
): Population | undefined {
  const inst = item.model;
  const modelName = inst.name.name;
  const [sizeArg, ...rest] = inst.args;
  if (sizeArg === undefined || sizeArg.name !== undefined) {
    diagnostics.error(inst.span, `population '${item.name.name}' needs a size: ${modelName}(N)`);
    return undefined;
  }
  const size = integerValue(sizeArg.value, lower, 'a population size', diagnostics);
  if (size === undefined) return undefined;
  if (size === 0) {
    diagnostics.error(sizeArg.span, 'a population needs at least one neuron');
    return undefined;
  }
  let source: PopulationSource;
  if (SOURCES.includes(modelName)) {
    const s = lowerSource(inst, rest, size, dt, lower, diagnostics);
    if (s === undefined) return undefined;
    source = s;
  } else {
    const model = table.models.get(modelName);
    if (model?.kind !== 'neuron') {
      reportUnknownModel(inst.name, model, 'neuron', table, [...SOURCES], diagnostics);
      return undefined;
    }
    if (rest.length > 0) {
      diagnostics.error(
        rest[0]!.span,
        `a neuron population takes only its size; give parameters in the block after it: ${modelName}(${size}) { ${model.parameters[0]?.name ?? 'p'} = ... }`,
      );
      return undefined;
    }
    source = { kind: 'neuron', model, perNeuronParameters: [] };
  }
  if (source.kind !== 'neuron' && item.overrides.length > 0) {
    diagnostics.error(
      item.overrides[0]!.span,
      `a ${modelName} source has no parameters or states to set`,
    );
    return undefined;
  }
  const parameters: Override[] = [];
  const states: Override[] = [];
  if (source.kind === 'neuron') {
    const model = source.model;
    const dims = table.dimensions.get(model.name) ?? new Map<string, Dimension>();
    // The model's variables, which its population's values cannot read; `i` is the neuron's
    // index in a state's initial value (Brian2's `v = 'i * ...'`) unless the model has its own.
    const own = new Set(
      [...model.parameters, ...model.states, ...model.subexpressions].map((x) => x.name),
    );
    const ownsI = own.has('i');
    // Sets, not searches of the lists: a population may set each of thousands of parameters.
    const parameterNames = new Set(model.parameters.map((p) => p.name));
    const stateNames = new Set(model.states.map((s) => s.name));
    // Parameters set per neuron (from draws or `i`): the population runs perNeuronModel.
    const perNeuron = new Set<string>();
    for (const o of item.overrides) {
      const isParameter = parameterNames.has(o.name.name);
      const isState = stateNames.has(o.name.name);
      if (!isParameter && !isState) {
        const hint = suggestion(o.name.name, [
          ...model.parameters.map((p) => p.name),
          ...model.states.map((s) => s.name),
        ]);
        diagnostics.error(
          o.name.span,
          `neuron ${model.name} has no parameter or state '${o.name.name}'`,
          hint === undefined ? {} : { label: `did you mean '${hint}'?` },
        );
        continue;
      }
      const value = lower(
        o.value,
        networkContext(isParameter ? 'in a parameter value' : 'in an initial value', {
          // A value may hold draws (Brian2's `v = 'E_L + rand() * mV'`); `~` takes one. A
          // parameter given so, or from `i`, is set per neuron (perNeuronModel).
          allowRandom: true,
          // `W = V` would otherwise read V as the unit volt.
          unseen: (name) =>
            own.has(name)
              ? {
                  message: `'${name}' of ${model.name} cannot be read here: a population's values are given in numbers and units`,
                  note: `to start a state from another, write it in the model (state { ${o.name.name} = ${name} }), or draw it here with '~' (${o.name.name} ~ normal(...))`,
                }
              : undefined,
          ...(ownsI
            ? {}
            : {
                resolve: (name: string): Ref | undefined =>
                  name === 'i' ? { kind: 'index', side: 'pre' } : undefined,
                candidates: () => ['i'],
              }),
        }),
      );
      if (value === undefined) continue;
      if (o.op === '~' && value.kind !== 'random') {
        diagnostics.error(
          o.value.span,
          "'~' must be followed by a distribution, normal(...) or uniform(...)",
          {
            notes: [
              `for a value computed from draws write '=': ${o.name.name} = -70 mV + uniform(0 mV, 5 mV)`,
            ],
          },
        );
        continue;
      }
      const problem = nonFinite(value);
      if (problem !== undefined) {
        diagnostics.error(
          o.value.span,
          `the ${isParameter ? 'value of parameter' : 'initial value of state'} '${o.name.name}' is ${problem}`,
          { notes: [NON_FINITE_NOTE] },
        );
        continue;
      }
      const expected = dims.get(o.name.name);
      const t = checkExprUnits(value, undefined, diagnostics);
      if (
        expected !== undefined &&
        !requireDimension(value, t, expected, `'${o.name.name}'`, diagnostics)
      )
        continue;
      const override = { name: o.name.name, span: o.name.span, value };
      if (isParameter && (o.op === '~' || constantValue(value) === undefined)) {
        perNeuron.add(o.name.name);
        states.push(override);
      } else (isParameter ? parameters : states).push(override);
    }
    if (perNeuron.size > 0)
      source = {
        kind: 'neuron',
        model: perNeuronModel(model, perNeuron),
        perNeuronParameters: [...perNeuron],
      };
    // A parameter without a default needs a value here (an override that failed was reported).
    const given = new Set(item.overrides.map((o) => o.name.name));
    const missing = model.parameters.find((p) => p.value === undefined && !given.has(p.name));
    if (missing !== undefined) {
      diagnostics.error(
        inst.span,
        `population '${item.name.name}' needs a value for parameter '${missing.name}' of ${model.name}`,
        {
          secondary: [{ span: missing.span, message: `'${missing.name}' has no default` }],
          notes: [`write ${modelName}(${size}) { ${missing.name} = ... }`],
        },
      );
      return undefined;
    }
  }
  return { name: item.name.name, span: item.name.span, size, source, parameters, states };
}

function lowerSource(
  inst: A.Instantiation,
  args: readonly A.Argument[],
  size: number,
  dt: number,
  lower: Lower,
  diagnostics: Diagnostics,
): PopulationSource | undefined {
  const named = new Map(args.map((a) => [a.name ?? '', a]));
  const allowed = inst.name.name === 'Poisson' ? ['rate'] : ['indices', 'times'];
  for (const a of args) {
    if (a.name === undefined || !allowed.includes(a.name)) {
      diagnostics.error(
        a.span,
        `${inst.name.name} takes the size and then ${allowed.map((n) => `${n} = ...`).join(', ')}`,
      );
      return undefined;
    }
  }
  for (const n of allowed) {
    if (!named.has(n)) {
      diagnostics.error(inst.span, `${inst.name.name} needs '${n} = ...'`);
      return undefined;
    }
  }
  if (inst.name.name === 'Poisson') {
    const rateArg = named.get('rate')!;
    // Brian2's PoissonGroup(rates='...'): the rate may vary with t and the neuron index i.
    const rate = lower(
      rateArg.value,
      drivenContext('in a Poisson rate', new Set(), { allowSection: true }),
    );
    if (rate === undefined) return undefined;
    if (
      !requireDimension(
        rate,
        checkExprUnits(rate, undefined, diagnostics),
        FREQUENCY,
        'a Poisson rate',
        diagnostics,
      )
    )
      return undefined;
    const problem = nonFinite(rate);
    if (problem !== undefined) {
      diagnostics.error(rate.span, `the Poisson rate is ${problem}`, { notes: [NON_FINITE_NOTE] });
      return undefined;
    }
    const constantRate = constantValue(rate);
    if ((constantRate ?? 0) < 0) {
      diagnostics.error(
        rate.span,
        `a Poisson rate cannot be negative, found ${spanText(rate.span)}`,
      );
      return undefined;
    }
    // A source spikes when a uniform draw is at most rate * dt: at most once per step.
    if (constantRate !== undefined && constantRate * dt > 1)
      diagnostics.warning(
        rate.span,
        `a Poisson rate of ${spanText(rate.span)} is more than one spike per step: each source spikes in every step (${formatRateHz(1 / dt)} Hz)`,
        {
          notes: [
            `at dt = ${dt} ms a source spikes at most once per step; a smaller dt allows more`,
          ],
        },
      );
    return { kind: 'poisson', rate };
  }
  const list = (name: string, expected: Dimension): number[] | undefined => {
    const arg = named.get(name)!.value;
    if (arg.kind !== 'list') {
      diagnostics.error(arg.span, `'${name}' must be a list: [a, b, ...]`);
      return undefined;
    }
    const values: number[] = [];
    for (const item of arg.items) {
      const e = lower(item, networkContext(`in SpikeTimes ${name}`, { hostOnly: true }));
      if (e === undefined) return undefined;
      if (
        !requireDimension(
          e,
          checkExprUnits(e, undefined, diagnostics),
          expected,
          `a SpikeTimes ${name.slice(0, -1)}`,
          diagnostics,
        )
      )
        return undefined;
      const v = constantValue(e);
      if (v === undefined) return undefined;
      const problem = nonFinite(e);
      if (problem !== undefined) {
        diagnostics.error(e.span, `a SpikeTimes ${name.slice(0, -1)} is ${problem}`, {
          notes: [NON_FINITE_NOTE],
        });
        return undefined;
      }
      if (name === 'times' && v < 0) {
        diagnostics.error(e.span, 'a SpikeTimes time is negative', {
          notes: ['the simulation starts at t = 0: an earlier spike would never be emitted'],
        });
        return undefined;
      }
      values.push(v);
    }
    return values;
  };
  const indices = list('indices', DIMENSIONLESS);
  const times = list('times', TIME);
  if (indices === undefined || times === undefined) return undefined;
  if (indices.length !== times.length) {
    diagnostics.error(
      inst.span,
      `SpikeTimes needs as many times as indices (found ${indices.length} indices and ${times.length} times)`,
    );
    return undefined;
  }
  const bad = indices.find((i) => !Number.isInteger(i) || i < 0 || i >= size);
  if (bad !== undefined) {
    diagnostics.error(inst.span, `SpikeTimes index ${bad} is out of range for size ${size}`);
    return undefined;
  }
  return { kind: 'spikeTimes', indices, times };
}

/** A time in ms, for messages: `0.3 ms`, not `0.30000000000000004 ms`. */
function formatMs(ms: number): string {
  return `${formatTime(ms)} ms`;
}

/** A rate in /ms (internal units) as Hz, for messages. */
function formatRateHz(perMs: number): string {
  return String(Number((perMs * 1000).toPrecision(6)));
}

function reportUnknownModel(
  name: A.Name,
  found: Model | undefined,
  expected: Model['kind'],
  table: ModelTable,
  extra: readonly string[],
  diagnostics: Diagnostics,
): void {
  if (found !== undefined) {
    diagnostics.error(
      name.span,
      `'${name.name}' is ${article(found.kind)} ${found.kind} model, but ${article(expected)} ${expected} is needed here`,
      {
        secondary: [{ span: found.span, message: `'${name.name}' is defined here` }],
      },
    );
    return;
  }
  if (table.failed?.has(name.name) === true) return;
  const candidates = [
    ...[...table.models.values()].filter((m) => m.kind === expected).map((m) => m.name),
    ...extra,
  ];
  const hint = suggestion(name.name, candidates);
  const stdlib = stdlibModel(name.name);
  const note =
    stdlib === undefined
      ? `is the file that defines it imported? e.g. import "${expected === 'neuron' ? 'stdlib/neurons.spk' : 'stdlib/synapses.spk'}"`
      : stdlib.kind === expected
        ? `${stdlib.file} defines it: import "${stdlib.file}"`
        : `'${name.name}' is ${article(stdlib.kind)} ${stdlib.kind} model (${stdlib.file}), not ${article(expected)} ${expected} model`;
  diagnostics.error(name.span, `unknown ${expected} model '${name.name}'`, {
    ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
    notes: [note],
  });
}

function lowerRange(
  ref: { readonly slice?: A.Slice },
  population: Population,
  lower: Lower,
  diagnostics: Diagnostics,
): IndexRange | undefined {
  if (ref.slice === undefined) return { start: 0, end: population.size };
  const range = sliceBounds(ref.slice, population.size, lower, diagnostics);
  if (range === undefined) return undefined;
  if (range.end > population.size) {
    diagnostics.error(
      ref.slice.span,
      `slice [${range.start}:${range.end}] is out of range for population '${population.name}' of size ${population.size}`,
      {
        secondary: [{ span: population.span, message: `'${population.name}' is defined here` }],
        notes: ['slices are [start:end] with 0 <= start < end <= size'],
      },
    );
    return undefined;
  }
  return range;
}

/**
 * The bounds of a slice `[start:end]` (end excluded): a missing start is 0, a missing end is
 * `defaultEnd` (undefined: the end is required). An empty or reversed slice is reported here;
 * the upper bound is checked by the caller, which knows what the slice indexes.
 */
function sliceBounds(
  slice: A.Slice,
  defaultEnd: number | undefined,
  lower: Lower,
  diagnostics: Diagnostics,
): IndexRange | undefined {
  const start =
    slice.start === undefined ? 0 : integerValue(slice.start, lower, 'a slice bound', diagnostics);
  if (slice.end === undefined && defaultEnd === undefined) {
    diagnostics.error(slice.span, 'a slice of a projection needs an end: [start:end]');
    return undefined;
  }
  const end =
    slice.end === undefined
      ? defaultEnd
      : integerValue(slice.end, lower, 'a slice bound', diagnostics);
  if (start === undefined || end === undefined) return undefined;
  if (start >= end) {
    diagnostics.error(
      slice.span,
      `slice [${start}:${end}] selects nothing: its end must be greater than its start`,
      { notes: ['a slice [start:end] runs from start up to, but not including, end'] },
    );
    return undefined;
  }
  return { start, end };
}

function findPopulation(
  name: A.Name,
  populations: ReadonlyMap<string, Population | undefined>,
  diagnostics: Diagnostics,
): Population | undefined {
  const p = populations.get(name.name);
  if (!populations.has(name.name)) {
    const hint = suggestion(name.name, [...populations.keys()]);
    diagnostics.error(
      name.span,
      `unknown population '${name.name}'`,
      hint === undefined ? {} : { label: `did you mean '${hint}'?` },
    );
  }
  return p;
}

function lowerProjection(
  item: Extract<A.NetworkItem, { kind: 'projection' }>,
  populations: ReadonlyMap<string, Population | undefined>,
  table: ModelTable,
  dt: number,
  files: ConnectionFiles,
  lower: Lower,
  reportedMembers: Set<string>,
  diagnostics: Diagnostics,
): Projection | undefined {
  const pre = findPopulation(item.pre.name, populations, diagnostics);
  const post = findPopulation(item.post.name, populations, diagnostics);
  if (pre === undefined || post === undefined) return undefined;
  const preRange = lowerRange(item.pre, pre, lower, diagnostics);
  const postRange = lowerRange(item.post, post, lower, diagnostics);
  const parts = new Map<A.ProjectionItem['kind'], A.ProjectionItem>();
  for (const part of item.items) {
    const first = parts.get(part.kind);
    if (first !== undefined) {
      diagnostics.error(
        part.span,
        `'${part.kind}' is given twice in projection '${item.name.name}'`,
        { secondary: [{ span: first.span, message: 'first given here' }] },
      );
    }
    parts.set(part.kind, part);
  }
  const get = <K extends A.ProjectionItem['kind']>(
    kind: K,
  ): Extract<A.ProjectionItem, { kind: K }> | undefined =>
    parts.get(kind) as Extract<A.ProjectionItem, { kind: K }> | undefined;
  for (const required of ['connect', 'weight', 'synapse'] as const) {
    if (get(required) === undefined)
      diagnostics.error(item.name.span, `projection '${item.name.name}' has no '${required}' line`);
  }
  const connect = get('connect');
  const weightItem = get('weight');
  const synapseItem = get('synapse');
  const outputItem = get('output');
  if (
    connect === undefined ||
    weightItem === undefined ||
    synapseItem === undefined ||
    preRange === undefined ||
    postRange === undefined
  )
    return undefined;
  if (post.source.kind !== 'neuron') {
    diagnostics.error(
      item.post.span,
      `population '${post.name}' is a spike source and cannot receive a projection`,
    );
    return undefined;
  }
  const connector = lowerConnector(
    connect,
    item.name.name,
    projectionSide(pre, preRange),
    projectionSide(post, postRange),
    files,
    lower,
    diagnostics,
  );

  const weight = lower(weightItem.value, synapseContext('in a weight'));
  const weightType =
    weight === undefined ? undefined : checkExprUnits(weight, undefined, diagnostics);
  const weightDimension = weightType?.kind === 'number' ? weightType.dimension : undefined;
  if (weight !== undefined && weightDimension === undefined)
    diagnostics.error(weight.span, 'a weight must be a number');
  const weightProblem = weight === undefined ? undefined : nonFinite(weight);
  if (weight !== undefined && weightProblem !== undefined)
    diagnostics.error(weight.span, `the weight is ${weightProblem}`, { notes: [NON_FINITE_NOTE] });

  const delayItem = get('delay');
  const delay =
    delayItem === undefined ? undefined : lower(delayItem.value, synapseContext('in a delay'));
  if (
    delay !== undefined &&
    requireDimension(
      delay,
      checkExprUnits(delay, undefined, diagnostics),
      TIME,
      'a delay',
      diagnostics,
    )
  ) {
    const d = constantValue(delay);
    const delayProblem = nonFinite(delay);
    if (delayProblem !== undefined) {
      diagnostics.error(delay.span, `the delay is ${delayProblem}`, { notes: [NON_FINITE_NOTE] });
    } else if (d !== undefined && d < 0) {
      diagnostics.error(delay.span, `a delay cannot be negative, found ${spanText(delay.span)}`, {
        notes: [
          'a spike is delivered round(delay / dt) steps after it was emitted, at least one step later',
        ],
      });
    } else if (d !== undefined) {
      warnRoundedDelay(delay.span, d, dt, diagnostics);
    }
  }

  const placementItem = get('placement');
  let placement: Projection['placement'];
  if (placementItem !== undefined) {
    const choice = placementItem.choice.name;
    if (choice === 'pre' || choice === 'post' || choice === 'synapse')
      placement = { choice, span: placementItem.span };
    else
      diagnostics.error(placementItem.choice.span, `unknown placement '${choice}'`, {
        notes: ['the placements are pre, post and synapse'],
      });
  }

  const postDims = table.dimensions.get(post.source.model.name) ?? new Map<string, Dimension>();
  const preDims =
    pre.source.kind === 'neuron' ? table.dimensions.get(pre.source.model.name) : undefined;
  const synapse = lowerModelUse<SynapseModel>(
    synapseItem.model,
    'synapse',
    table,
    lower,
    diagnostics,
  );
  const output =
    outputItem === undefined
      ? undefined
      : lowerModelUse<OutputModel>(outputItem.model, 'output', table, lower, diagnostics);
  if (
    synapse === undefined ||
    (outputItem !== undefined && output === undefined) ||
    connector === undefined ||
    weight === undefined ||
    weightDimension === undefined
  )
    return undefined;
  // A synapse that delivers a value needs an output to turn it into a current; one that only jumps post.X has none.
  if (synapse.model.delivers !== undefined && outputItem === undefined) {
    diagnostics.error(item.name.span, `projection '${item.name.name}' has no 'output' line`, {
      notes: [
        `synapse ${synapse.model.name} delivers a value: say which output turns it into a current, e.g. 'output CUBA'`,
      ],
    });
    return undefined;
  }
  if (synapse.model.delivers === undefined && outputItem !== undefined) {
    diagnostics.error(
      outputItem.model.span,
      `synapse ${synapse.model.name} delivers nothing (it has no 'delivers' line), so projection '${item.name.name}' takes no output`,
      { notes: ["remove the 'output' line, or give the synapse a 'delivers' line"] },
    );
    return undefined;
  }
  const uses = [
    ...memberUses(synapse.model),
    ...(output === undefined ? [] : memberUses(output.model)),
  ];
  const postOk = checkMembers(uses, 'post', post, item.post, reportedMembers, diagnostics);
  const preOk = checkMembers(uses, 'pre', pre, item.pre, reportedMembers, diagnostics);
  if (!postOk || !preOk) return undefined;

  const synapseCheck = checkModelUnits(synapse.model, diagnostics, {
    parameters: argumentDimensions(synapse, weightDimension, diagnostics),
    post: postDims,
    ...(preDims === undefined ? {} : { pre: preDims }),
    weight: weightDimension,
    weightSpan: weight.span,
  });
  let delivered: Dimension | undefined;
  try {
    delivered =
      synapseCheck.result === undefined
        ? undefined
        : substituteWeight(synapseCheck.result, weightDimension);
  } catch (error) {
    // substituteWeight's own RangeError; anything else (a stack overflow) is not about the weight.
    if (!(error instanceof RangeError) || !error.message.startsWith('cannot raise')) throw error;
    diagnostics.error(
      synapseItem.model.span,
      `synapse ${synapse.model.name} delivers a power of its weight that weights in ${formatDimension(weightDimension)} cannot be raised to`,
      {
        secondary: [
          { span: weight.span, message: `weights in ${formatDimension(weightDimension)}` },
        ],
      },
    );
    return undefined;
  }
  if (output !== undefined && outputItem !== undefined)
    checkOutput(
      output,
      outputItem.model.span,
      post.source.model,
      item.post.span,
      delivered,
      postDims,
      weight,
      weightDimension,
      diagnostics,
    );
  return {
    name: item.name.name,
    span: item.name.span,
    pre: pre.name,
    preRange,
    post: post.name,
    postRange,
    connector,
    procedural: connect.procedural,
    weight,
    weightDimension,
    ...(delay === undefined ? {} : { delay }),
    synapse,
    ...(output === undefined ? {} : { output }),
    ...(placement === undefined ? {} : { placement }),
  };
}

/**
 * A constant delay that is not a whole number of steps, or is below one step, is delivered
 * after the steps it rounds to (codegen/network.ts): a warning says how many and what time
 * that is. Delays drawn or computed per synapse are rounded alike, without a warning.
 */
function warnRoundedDelay(span: Span, delay: number, dt: number, diagnostics: Diagnostics): void {
  const steps = delayInSteps(delay, dt);
  if (isWholeSteps(delay, dt, steps)) return;
  const time = formatMs(steps * dt);
  const below = delay < dt;
  diagnostics.warning(
    span,
    `a delay of ${spanText(span)} is ${below ? 'less than one step' : 'not a whole number of steps'} of ${dt} ms: spikes arrive ${steps} step${steps === 1 ? '' : 's'} (${time}) after they are emitted`,
    {
      notes: [
        below
          ? `a spike arrives one step after it is emitted at the earliest: write delay ${time} to say so`
          : `a delay becomes round(delay / dt) steps: write delay ${time} to say so, or choose a dt that divides the delay`,
      ],
    },
  );
}

/** An output's units: its current must be in the unit of the post neuron's input current. */
function checkOutput(
  output: ModelUse<OutputModel>,
  outputSpan: Span,
  postModel: NeuronModel,
  postSpan: Span,
  delivered: Dimension | undefined,
  postDims: ReadonlyMap<string, Dimension>,
  weight: Expr,
  weightDimension: Dimension,
  diagnostics: Diagnostics,
): void {
  const outputCheck = checkModelUnits(output.model, diagnostics, {
    parameters: argumentDimensions(output, undefined, diagnostics),
    post: postDims,
    ...(delivered === undefined ? {} : { delivered }),
  });
  const input = postModel.input;
  if (input === undefined) {
    diagnostics.error(
      postSpan,
      `neuron ${postModel.name} has no input current, so nothing can be delivered to it`,
      {
        notes: ["declare one in the neuron: 'current I'"],
      },
    );
  } else if (outputCheck.result !== undefined) {
    const expected = postDims.get(input.name);
    if (expected !== undefined && !dimEquals(outputCheck.result, expected)) {
      diagnostics.error(
        outputSpan,
        `output ${output.model.name} gives ${formatDimension(outputCheck.result)}, but the current '${input.name}' of ${postModel.name} is in ${formatDimension(expected)}`,
        {
          secondary: [
            {
              span: weight.span,
              message: dimEquals(weightDimension, DIMENSIONLESS)
                ? 'with dimensionless weights'
                : `with weights in ${formatDimension(weightDimension)}`,
            },
          ],
          notes: [
            'the unit of the weight decides the unit of the synapse value: conductance-based outputs (COBA) need weights in uS, current-based ones (CUBA) in nA',
          ],
        },
      );
    }
  }
}

/** A `post.X` or `pre.X` in a synapse or output model. */
interface MemberUse {
  readonly object: 'post' | 'pre';
  readonly name: string;
  readonly span: Span;
  /** True for an assignment target (`post.x += 1`), which must be a state. */
  readonly assigned: boolean;
}

/** The span of `post.x` at the start of an assignment statement (the IR keeps only the statement's). */
function targetSpan(s: Extract<Statement, { kind: 'assign' }>): Span {
  const text = s.span.file.text.slice(s.span.start, s.span.end);
  const match = /^(?:post|pre)\s*\.\s*[A-Za-z_][A-Za-z0-9_]*/.exec(text);
  return {
    file: s.span.file,
    start: s.span.start,
    end: s.span.start + (match?.[0].length ?? text.length),
  };
}

/** Every `post.X` and `pre.X` of a model, read or assigned, in its expressions and statements. */
function memberUses(model: SynapseModel | OutputModel): MemberUse[] {
  const uses: MemberUse[] = [];
  const expr = (e: Expr): void => {
    for (const n of nodes(e)) {
      if (n.kind === 'ref' && (n.ref.kind === 'post' || n.ref.kind === 'pre'))
        uses.push({ object: n.ref.kind, name: n.ref.name, span: n.span, assigned: false });
    }
  };
  const statements = (body: readonly Statement[]): void => {
    for (const s of body) {
      if (s.kind === 'if') {
        expr(s.condition);
        statements(s.then);
        statements(s.otherwise);
        continue;
      }
      if (s.target.kind === 'post' || s.target.kind === 'pre')
        uses.push({
          object: s.target.kind,
          name: s.target.name,
          span: targetSpan(s),
          assigned: true,
        });
      expr(s.value);
    }
  };
  for (const p of model.parameters) if (p.value !== undefined) expr(p.value);
  if (model.kind === 'output') {
    expr(model.current);
  } else {
    for (const s of model.states) if (s.init.kind !== 'zero') expr(s.init.value);
    for (const sub of model.subexpressions) expr(sub.value);
    for (const eq of model.equations) expr(eq.rhs);
    statements(model.onPre);
    statements(model.onPost);
    if (model.delivers !== undefined) expr(model.delivers);
  }
  return uses;
}

/**
 * Checks the `post.X` (or `pre.X`) of a projection's models against the
 * neuron model of its post- (or pre-) synaptic population: X must be one of
 * its states, its input current or a subexpression, and a state where it is
 * assigned. A spike source has no variables at all. Returns false after
 * reporting a problem.
 */
function checkMembers(
  uses: readonly MemberUse[],
  object: 'post' | 'pre',
  population: Population,
  ref: A.PopulationRef,
  reported: Set<string>,
  diagnostics: Diagnostics,
): boolean {
  const role = object === 'post' ? 'post-synaptic' : 'pre-synaptic';
  const source = population.source;
  const here = {
    span: ref.span,
    message: `the ${role} population '${population.name}' is ${source.kind === 'neuron' ? `${article(source.model.name)} ${source.model.name}` : `a ${sourceName(source)} spike source`}`,
  };
  let ok = true;
  for (const use of uses) {
    if (use.object !== object) continue;
    const key = `${use.span.file.path}:${use.span.start}:${object}:${source.kind === 'neuron' ? source.model.name : source.kind}`;
    const report = (message: string, options: { label?: string; notes?: string[] } = {}): void => {
      ok = false;
      if (reported.has(key)) return;
      reported.add(key);
      diagnostics.error(use.span, message, { ...options, secondary: [here] });
    };
    if (source.kind !== 'neuron') {
      report(
        `'${object}.${use.name}' is not available: the ${role} population '${population.name}' is a ${sourceName(source)} spike source, which has no variables`,
        {
          notes: [`'${object}.X' needs a neuron population on the ${object} side`],
        },
      );
      continue;
    }
    const model = source.model;
    // A parameter the population sets per neuron is stored as a state but stays a parameter
    // here, as it is in every other population of the model: never read or changed by synapses.
    const perNeuron = new Set(source.perNeuronParameters);
    const states = model.states.map((s) => s.name).filter((x) => !perNeuron.has(x));
    const readable = [
      ...states,
      ...(model.input === undefined ? [] : [model.input.name]),
      ...model.subexpressions.map((s) => s.name),
    ];
    if (use.assigned && !states.includes(use.name)) {
      const what = readable.includes(use.name)
        ? model.input?.name === use.name
          ? 'the input current'
          : 'a subexpression'
        : undefined;
      const hint = suggestion(use.name, states);
      report(
        what === undefined
          ? `the ${role} neuron ${model.name} has no state '${use.name}'`
          : `cannot assign to '${object}.${use.name}': it is ${what} of the ${role} neuron ${model.name}, not a state`,
        {
          ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
          notes: [`the states of ${model.name} are ${states.join(', ') || '(none)'}`],
        },
      );
      continue;
    }
    if (!readable.includes(use.name)) {
      const hint = suggestion(use.name, readable);
      report(`the ${role} neuron ${model.name} has no variable '${use.name}'`, {
        ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
        notes: [
          `'${object}.X' can name a state or a subexpression of ${model.name}: ${[...states, ...model.subexpressions.map((s) => s.name)].join(', ')}`,
        ],
      });
      continue;
    }
    const current = model.input?.name;
    if (current !== undefined && readsInputCurrent(model, use.name)) {
      report(
        use.name === current
          ? `'${object}.${use.name}' is the input current of ${model.name}, which the outputs of the step make: a synapse or output cannot read it`
          : `'${object}.${use.name}' depends on the input current ${current} of ${model.name}, which the outputs of the step make: a synapse or output cannot read it`,
        { notes: [`read the states it is made from instead: ${states.join(', ')}`] },
      );
    }
  }
  return ok;
}

/** Whether a variable of a neuron model is its input current or a subexpression made from it. */
function readsInputCurrent(model: NeuronModel, name: string, seen = new Set<string>()): boolean {
  if (name === model.input?.name) return true;
  const sub = model.subexpressions.find((s) => s.name === name);
  if (sub === undefined || seen.has(name)) return false;
  seen.add(name);
  return [...nodes(sub.value)].some(
    (n) =>
      n.kind === 'ref' &&
      (n.ref.kind === 'input' ||
        (n.ref.kind === 'subexpression' && readsInputCurrent(model, n.ref.name, seen))),
  );
}

function sourceName(source: PopulationSource): string {
  return source.kind === 'poisson'
    ? 'Poisson'
    : source.kind === 'spikeTimes'
      ? 'SpikeTimes'
      : 'neuron';
}

/** One side of a projection, as a connection file's messages name it. */
function projectionSide(population: Population, range: IndexRange): ProjectionSide {
  const whole = range.start === 0 && range.end === population.size;
  return {
    label: whole
      ? `population ${population.name}`
      : `${population.name}[${range.start}:${range.end}]`,
    size: range.end - range.start,
    offset: range.start > 0,
  };
}

function lowerConnector(
  item: Extract<A.ProjectionItem, { kind: 'connect' }>,
  projection: string,
  pre: ProjectionSide,
  post: ProjectionSide,
  files: ConnectionFiles,
  lower: Lower,
  diagnostics: Diagnostics,
): Connector | undefined {
  const inst = item.connector;
  const name = inst.name.name;
  const nPre = pre.size;
  const nPost = post.size;
  if (!CONNECTORS.includes(name)) {
    const hint = suggestion(name, CONNECTORS);
    diagnostics.error(inst.name.span, `unknown connector '${name}'`, {
      ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
      notes: [`the connectors are ${CONNECTORS.join(', ')}`],
    });
    return undefined;
  }
  if (item.procedural && name !== 'fixed_probability') {
    diagnostics.error(
      item.span,
      `procedural connectivity is available for fixed_probability, not for ${name}`,
    );
    return undefined;
  }
  const expectedArgs = name === 'all_to_all' || name === 'one_to_one' ? 0 : 1;
  if (inst.args.length !== expectedArgs || inst.args.some((a) => a.name !== undefined)) {
    diagnostics.error(
      inst.span,
      expectedArgs === 0 ? `${name} takes no arguments` : `${name}(...) takes one argument`,
    );
    return undefined;
  }
  const arg = inst.args[0]?.value;
  switch (name) {
    case 'all_to_all':
      return { kind: 'all_to_all' };
    case 'one_to_one':
      if (nPre !== nPost) {
        diagnostics.error(
          inst.span,
          `one_to_one needs as many pre- as post-synaptic neurons (found ${nPre} and ${nPost})`,
        );
        return undefined;
      }
      return { kind: 'one_to_one' };
    case 'fixed_probability': {
      const e = lower(arg!, pairContext('in a connection probability'));
      const p = e === undefined ? undefined : constantValue(e);
      if (
        e === undefined ||
        !requireDimension(
          e,
          checkExprUnits(e, undefined, diagnostics),
          DIMENSIONLESS,
          'a connection probability',
          diagnostics,
        )
      )
        return undefined;
      if (p === undefined) {
        // Brian2's connect(p='exp(-abs(i - j) / 10)'): a probability per pair, stored.
        if (item.procedural) {
          diagnostics.error(
            arg!.span,
            'a procedural projection needs one probability for every pair',
            {
              notes: [
                "remove 'procedural' to store the connections drawn with a probability of i and j",
              ],
            },
          );
          return undefined;
        }
        return { kind: 'pairwise_probability', p: e };
      }
      if (!(p >= 0 && p <= 1)) {
        diagnostics.error(arg!.span, 'a connection probability must be from 0 to 1');
        return undefined;
      }
      return { kind: 'fixed_probability', p };
    }
    case 'fixed_in_degree':
    case 'fixed_out_degree': {
      const k = integerValue(arg!, lower, `the degree of ${name}`, diagnostics);
      if (k === undefined) return undefined;
      const limit = name === 'fixed_in_degree' ? nPre : nPost;
      if (k > limit) {
        diagnostics.error(
          arg!.span,
          `${name}(${k}) asks for more connections than the ${name === 'fixed_in_degree' ? 'pre' : 'post'}-synaptic population has neurons (${limit})`,
        );
        return undefined;
      }
      return name === 'fixed_in_degree'
        ? { kind: 'fixed_in_degree', k }
        : { kind: 'fixed_out_degree', k };
    }
    default: {
      if (arg?.kind !== 'string') {
        diagnostics.error(
          arg?.span ?? inst.span,
          'from_file(...) takes a file name in quotes: from_file("pairs.csv")',
        );
        return undefined;
      }
      // Beside the .spk file that names it, as imports are (an absolute path stays as it is).
      const path = resolve(dirname(arg.span.file.path), arg.value);
      const displayPath = isAbsolute(arg.value)
        ? arg.value
        : join(dirname(arg.span.file.path), arg.value);
      const pairs = files.pairs(
        { path, displayPath, argument: arg.span, projection, pre, post },
        diagnostics,
      );
      return pairs === undefined
        ? undefined
        : { kind: 'from_file', path, pre: pairs.pre, post: pairs.post };
    }
  }
}

function lowerModelUse<M extends SynapseModel | OutputModel>(
  inst: A.Instantiation,
  kind: M['kind'],
  table: ModelTable,
  lower: Lower,
  diagnostics: Diagnostics,
): ModelUse<M> | undefined {
  const model = table.models.get(inst.name.name);
  if (model?.kind !== kind) {
    reportUnknownModel(inst.name, model, kind, table, [], diagnostics);
    return undefined;
  }
  const args: Override[] = [];
  // A map and a set, not searches of the lists: a synapse may take thousands of arguments.
  const parameters = new Map(model.parameters.map((p) => [p.name, p]));
  const given = new Set<string>();
  for (const a of inst.args) {
    if (a.name === undefined || a.nameSpan === undefined) {
      diagnostics.error(
        a.span,
        `arguments of ${kind} ${model.name} are named: ${model.name}(${model.parameters[0]?.name ?? 'p'} = ...)`,
      );
      continue;
    }
    if (!parameters.has(a.name)) {
      const hint = suggestion(
        a.name,
        model.parameters.map((p) => p.name),
      );
      diagnostics.error(
        a.nameSpan,
        `${kind} ${model.name} has no parameter '${a.name}'`,
        hint === undefined ? {} : { label: `did you mean '${hint}'?` },
      );
      continue;
    }
    if (given.has(a.name)) {
      diagnostics.error(a.nameSpan, `parameter '${a.name}' is given twice`);
      continue;
    }
    given.add(a.name);
    const value = lower(a.value, networkContext('in a parameter value'));
    if (value === undefined) continue;
    if (constantValue(value) === undefined) {
      diagnostics.error(a.value.span, 'a parameter value must be a constant');
      continue;
    }
    const problem = nonFinite(value);
    if (problem !== undefined) {
      diagnostics.error(a.value.span, `the value of parameter '${a.name}' is ${problem}`, {
        notes: [NON_FINITE_NOTE],
      });
      continue;
    }
    args.push({ name: a.name, span: a.nameSpan, value });
  }
  for (const p of model.parameters) {
    if (p.value === undefined && !given.has(p.name)) {
      diagnostics.error(
        inst.span,
        `${kind} ${model.name} needs a value for parameter '${p.name}'`,
        {
          secondary: [{ span: p.span, message: `'${p.name}' has no default` }],
          notes: [`write ${model.name}(${p.name} = ...)`],
        },
      );
      return undefined;
    }
  }
  return { model: model as M, arguments: args, span: inst.span };
}

/**
 * The dimension of each argument given to a synapse or output. A parameter declared in the
 * weight's unit takes a value in the projection's weight unit (`weight` when given); it keeps
 * its declared dimension for the model's checks, as `w` does.
 */
function argumentDimensions(
  use: ModelUse<SynapseModel | OutputModel>,
  weight: Dimension | undefined,
  diagnostics: Diagnostics,
): Map<string, Dimension> {
  const result = new Map<string, Dimension>();
  const parameters = new Map(use.model.parameters.map((p) => [p.name, p]));
  for (const a of use.arguments) {
    const t: ExprType = checkExprUnits(a.value, undefined, diagnostics);
    if (t.kind !== 'number' || t.dimension === undefined) continue;
    const param = parameters.get(a.name)!;
    const declared =
      param.unit ??
      (param.value === undefined
        ? undefined
        : (checkExprUnits(param.value, undefined, diagnostics) as { dimension?: Dimension })
            .dimension);
    if (declared !== undefined && hasWeight(declared)) {
      if (
        weight !== undefined &&
        requireDimension(
          a.value,
          t,
          substituteWeight(declared, weight),
          `parameter '${a.name}' (in the weights' unit)`,
          diagnostics,
        )
      )
        result.set(a.name, declared);
      continue;
    }
    if (
      declared !== undefined &&
      !requireDimension(a.value, t, declared, `parameter '${a.name}'`, diagnostics)
    )
      continue;
    result.set(a.name, t.dimension);
  }
  return result;
}

function lowerStimulus(
  item: Extract<A.NetworkItem, { kind: 'stimulus' }>,
  populations: ReadonlyMap<string, Population | undefined>,
  table: ModelTable,
  lower: Lower,
  diagnostics: Diagnostics,
): Stimulus | undefined {
  const population = findPopulation(item.target.name, populations, diagnostics);
  if (population === undefined) return undefined;
  if (population.source.kind !== 'neuron') {
    diagnostics.error(
      item.target.span,
      `population '${population.name}' is a spike source and takes no stimulus`,
    );
    return undefined;
  }
  const model: NeuronModel = population.source.model;
  const range = lowerRange(item.target, population, lower, diagnostics);
  const input = model.input;
  if (input === undefined || input.name !== item.variable.name) {
    diagnostics.error(
      item.variable.span,
      input === undefined
        ? `neuron ${model.name} has no input current to stimulate`
        : `a stimulus drives the input current '${input.name}' of ${model.name}, not '${item.variable.name}'`,
    );
    return undefined;
  }
  const stateNames = new Set(model.states.map((s) => s.name));
  const value = lower(
    item.value,
    drivenContext('in a stimulus', stateNames, {
      allowRandom: true,
      allowWiener: true,
      allowSection: true,
    }),
  );
  if (value === undefined || range === undefined) return undefined;
  const expected = table.dimensions.get(model.name)?.get(input.name);
  const t = checkExprUnits(value, model, diagnostics, { wiener: DIMENSIONLESS });
  if (
    expected !== undefined &&
    !requireDimension(value, t, expected, `a stimulus of '${input.name}'`, diagnostics)
  )
    return undefined;
  return { population: population.name, range, variable: input.name, value, span: item.span };
}

function lowerRecording(
  item: Extract<A.NetworkItem, { kind: 'record' }>,
  populations: ReadonlyMap<string, Population | undefined>,
  projections: ReadonlyMap<string, Projection>,
  table: ModelTable,
  settings: RunSettings,
  diagnostics: Diagnostics,
): Recording | undefined {
  const every = recordingInterval(item, settings, diagnostics);
  if (every === null) return undefined;
  const variable = item.variable.name;
  const projection = projections.get(item.population.name);
  if (projection !== undefined) {
    // `w` is the synapse's weight: recordable where it is kept per synapse (routing checks that).
    const states = [...projection.synapse.model.states.map((s) => s.name), 'w'];
    if (!states.includes(variable)) {
      const hint = suggestion(variable, states);
      diagnostics.error(
        item.variable.span,
        `the synapse ${projection.synapse.model.name} of projection '${projection.name}' has no state '${variable}' to record`,
        {
          ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
          notes: [`it can record ${states.join(', ')}`],
        },
      );
      return undefined;
    }
    const range =
      item.slice === undefined
        ? undefined
        : sliceBounds(
            item.slice,
            undefined,
            (e, ctx) => lowerExpr(e, ctx, diagnostics),
            diagnostics,
          );
    if (item.slice !== undefined && range === undefined) return undefined;
    return {
      of: 'projection',
      population: projection.name,
      variable,
      range,
      span: item.span,
      variableSpan: item.variable.span,
      sliceSpan: item.slice?.span,
      every,
    };
  }
  const population = findPopulation(item.population, populations, diagnostics);
  if (population === undefined) return undefined;
  if (
    variable === 'spikes' &&
    population.source.kind === 'neuron' &&
    population.source.model.spike === undefined
  )
    diagnostics.warning(
      item.variable.span,
      `neuron ${population.source.model.name} has no spike condition: population ${population.name} never spikes`,
      { notes: ["a neuron spikes where its model says 'spike when CONDITION'"] },
    );
  if (variable !== 'spikes') {
    const model = population.source.kind === 'neuron' ? population.source.model : undefined;
    // States, the input current and subexpressions (from the post-step states).
    const candidates = [
      'spikes',
      ...(model?.states.map((s) => s.name) ?? []),
      ...(model?.input === undefined ? [] : [model.input.name]),
      ...(model?.subexpressions.map((s) => s.name) ?? []),
    ];
    if (
      !candidates.includes(variable) ||
      table.dimensions.get(model?.name ?? '')?.has(variable) !== true
    ) {
      const hint = suggestion(variable, candidates);
      // A parameter with one value is folded into the kernel; one set per neuron is stored.
      const parameter = model?.parameters.some((p) => p.name === variable) === true;
      diagnostics.error(
        item.variable.span,
        parameter
          ? `'${variable}' is a parameter of ${model!.name} with one value for population '${population.name}': there is nothing to record`
          : `population '${population.name}' has no variable '${variable}' to record`,
        {
          ...(hint === undefined || parameter ? {} : { label: `did you mean '${hint}'?` }),
          notes: [
            parameter
              ? `a parameter set per neuron is stored and can be recorded: ${variable} ~ uniform(...), or an expression of i`
              : `it can record ${candidates.join(', ')}`,
          ],
        },
      );
      return undefined;
    }
  }
  const range = lowerRange(
    { ...(item.slice === undefined ? {} : { slice: item.slice }) },
    population,
    (e, ctx) => lowerExpr(e, ctx, diagnostics),
    diagnostics,
  );
  if (range === undefined) return undefined;
  return {
    of: 'population',
    population: population.name,
    variable,
    range,
    span: item.span,
    variableSpan: item.variable.span,
    sliceSpan: item.slice?.span,
    every,
  };
}

/**
 * A recording's `every T` (Brian2's StateMonitor dt): a positive constant time, in ms, for
 * a recorded value; undefined without it (every step); null after reporting why not.
 */
function recordingInterval(
  item: Extract<A.NetworkItem, { kind: 'record' }>,
  { dt, duration }: RunSettings,
  diagnostics: Diagnostics,
): number | undefined | null {
  if (item.every === undefined) return undefined;
  if (item.variable.name === 'spikes') {
    diagnostics.error(
      item.every.span,
      "spikes are recorded as they happen: 'every' is for values",
      {
        notes: ['write record N.V every 1 ms for a value sampled every millisecond'],
      },
    );
    return null;
  }
  const every = networkConstant(item.every, 'time', "'every'", "in 'every'", diagnostics);
  if (every === undefined) return null;
  const v = every.value;
  const steps = recordingSteps(v, dt);
  // The rows are the steps that end at a multiple of `steps` (runtime/output.ts).
  if (steps > stepsIn(duration, dt)) {
    const recorded = spanText(
      joinSpans(item.population.span, item.slice?.span ?? item.variable.span),
    );
    diagnostics.warning(
      every.span,
      `every ${spanText(every.span)} is longer than the run (duration = ${formatMs(duration)}): it records no row of ${recorded}`,
      {
        notes: [
          `the first row would be at t = ${formatMs(steps * dt)}; write every ${formatMs(duration)} or less, or a longer duration`,
        ],
      },
    );
  } else if (!isWholeSteps(v, dt, steps))
    diagnostics.warning(
      every.span,
      `every ${spanText(every.span)} is not a whole number of steps of ${dt} ms: a row every ${steps} step${steps === 1 ? '' : 's'} (${formatMs(steps * dt)})`,
    );
  return v;
}
