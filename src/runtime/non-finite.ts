import type { PopulationKernel } from '../codegen/kernel-ir.js';
import { layoutOf } from '../codegen/module.js';
import { WEIGHT_STATE } from '../codegen/population.js';
import { type Diagnostic, Diagnostics, type Label, location } from '../diagnostics/diagnostic.js';
import { type Span, joinSpans } from '../diagnostics/source.js';
import type {
  DynamicsModel,
  IntegrationMethod,
  NeuronModel,
  Override,
  Population,
} from '../ir/types.js';
import { stateDependencies } from '../ir/walk.js';
import type { Backend, Chunk, SimulationPlan, TraceRequest } from './backend.js';
import { formatTime } from './format-number.js';

/**
 * The end-of-run check for states that are NaN or infinite (an integration that blew up, a
 * division by zero): the final state is read once (Backend.visitState, one copy back from a
 * GPU) and the recorded traces tell when it started. The run itself is not changed: the
 * results are a warning (stderr and summary.json), not an error.
 */

/**
 * A kernel state as the user wrote it, and what a warning about it says besides the counts.
 * The standalone CUDA program gets these at compile time (codegen/cuda/standalone.ts).
 */
export interface UserState {
  /** The kernel that holds it (a population, `@pre<k>`, `@synapse<k>`) and its name there (`@syn0.g`). */
  readonly owner: string;
  readonly state: string;
  /** How many elements hold it: the kernel's size. */
  readonly size: number;
  /** `population H`, `projection E`, `projections E, F` (merged per post-synaptic neuron). */
  readonly subject: string;
  readonly population?: string;
  readonly projections?: readonly string[];
  readonly variable: string;
  /** What one element of the kernel is, singular: neuron, post-synaptic neuron, synapse. */
  readonly element: string;
  readonly span: Span;
  /**
   * The lines of the population's block that set what a neuron state depends on (`tau = 0 ms`
   * of `population E = LifRef(4) { ... }`), shown beside the declaration, which is often in
   * stdlib; none for synapse states.
   */
  readonly overrides: readonly Label[];
  /** What to try when an unstable integration is a likely cause (integrationHint). */
  readonly hint?: string;
}

/** A recorded value that was NaN or infinite. */
export interface RecordedNonFinite {
  /** The trace's label (`H.V`). */
  readonly label: string;
  /** The step after which the value was recorded (its row is labelled (step + 1) * dt). */
  readonly step: number;
  /** The element's index in its kernel (neuron, synapse). */
  readonly index: number;
  readonly value: number;
}

/** A state with values that are NaN or infinite at the end of a run. */
export interface NonFiniteState {
  /** The state: its kernel (`owner`, `state`, `size`) and how the user declared it. */
  readonly user: UserState;
  readonly nan: number;
  readonly infinite: number;
  /** The earliest non-finite value in the traces that record this state, if any does. */
  readonly firstRecorded?: RecordedNonFinite;
}

/**
 * Watches a run: `add` sees each chunk's traces (a trace is skipped once it has shown a
 * non-finite value), `finish` counts the non-finite values of every state the user declared
 * (internal ones, refractory counters and what synapses hand on, follow from those).
 */
export class NonFiniteWatch {
  private readonly users: readonly UserState[];
  /** Per trace: whether it records a user state, and its first non-finite value once seen. */
  private readonly watched: boolean[];
  private readonly first: (RecordedNonFinite | undefined)[];

  constructor(private readonly plan: SimulationPlan) {
    this.users = userStates(plan);
    this.watched = plan.traces.map((t) => this.users.some((u) => records(t, u)));
    this.first = plan.traces.map(() => undefined);
  }

  add(chunk: Chunk): void {
    this.plan.traces.forEach((t, r) => {
      if (!this.watched[r] || this.first[r] !== undefined) return;
      const values = chunk.traces[r]!;
      const width = t.range.end - t.range.start;
      const k = firstNonFiniteWritten(values, width, chunk.firstStep, t.every);
      if (k >= 0)
        this.first[r] = {
          label: t.label,
          step: chunk.firstStep + Math.floor(k / width),
          index: t.range.start + (k % width),
          value: values[k]!,
        };
    });
  }

  async finish(backend: Pick<Backend, 'visitState'>): Promise<NonFiniteState[]> {
    const layout = layoutOf(this.plan);
    const counts = this.users.map((u) => ({
      user: u,
      offset: layout.stateOffset(u.owner, u.state),
      nan: 0,
      infinite: 0,
    }));
    await backend.visitState((offset, values) => {
      for (const c of counts) {
        const from = Math.max(c.offset, offset);
        const to = Math.min(c.offset + c.user.size, offset + values.length);
        for (let k = from - offset; k < to - offset; k++) {
          const v = values[k]!;
          // v - v is 0 for every finite v and NaN otherwise: one test in the common case.
          if (v - v !== 0) {
            if (Number.isNaN(v)) c.nan++;
            else c.infinite++;
          }
        }
      }
    });
    return counts
      .filter((c) => c.nan + c.infinite > 0)
      .map(({ user, nan, infinite }) => {
        const recorded = earliest(
          this.plan.traces.map((t, r) => (records(t, user) ? this.first[r] : undefined)),
        );
        return {
          user,
          nan,
          infinite,
          ...(recorded === undefined ? {} : { firstRecorded: recorded }),
        };
      });
  }
}

/** Whether a trace records a user state. */
export function records(trace: TraceRequest, user: UserState): boolean {
  return trace.population === user.owner && trace.variable === user.state;
}

/** The earliest recorded non-finite value, the first listed on a tie. */
function earliest(
  found: readonly (RecordedNonFinite | undefined)[],
): RecordedNonFinite | undefined {
  return found.filter((f) => f !== undefined).sort((a, b) => a.step - b.step)[0];
}

/**
 * The index of the first NaN or infinite value in the rows of a chunk's trace that the output
 * writes (steps n with (n + 1) % every == 0; rows of `width` values from step firstStep), or -1.
 */
function firstNonFiniteWritten(
  values: Float64Array,
  width: number,
  firstStep: number,
  every: number,
): number {
  const firstRow = (every - ((firstStep + 1) % every)) % every;
  for (let row = firstRow; row * width < values.length; row += every)
    for (let k = row * width; k < (row + 1) * width; k++) {
      const v = values[k]!;
      if (v - v !== 0) return k;
    }
  return -1;
}

/** Every state the user declared, in the order of the kernels and of their states. */
export function userStates(plan: SimulationPlan): UserState[] {
  return plan.kernels.flatMap((k) =>
    k.states.flatMap((s) => {
      const user = userState(plan, k, s);
      return user === undefined ? [] : [user];
    }),
  );
}

/** The user's name and declaration of a kernel state; undefined for internal ones. */
function userState(
  plan: SimulationPlan,
  kernel: PopulationKernel,
  state: string,
): UserState | undefined {
  const { network, routing } = plan;
  const owner = kernel.population;
  const kernelState = { owner, state, size: kernel.size, overrides: [] };
  const population = network.populations.find((p) => p.name === owner);
  if (population !== undefined) {
    const model = population.source.kind === 'neuron' ? population.source.model : undefined;
    const own = model?.states.find((s) => s.name === state);
    if (model !== undefined && own !== undefined)
      return {
        ...kernelState,
        subject: `population ${owner}`,
        population: owner,
        variable: state,
        element: 'neuron',
        span: own.span,
        overrides: overridesOf(population, model, state),
        ...integrationHint(plan, model, state),
      };
    // Merged synapse state: `@syn<k>.g` in its post population's kernel.
    const group = routing.groups.find((g) => g.post === owner && state.startsWith(`${g.owner}.`));
    const variable = state.slice((group?.owner.length ?? 0) + 1);
    const declared = group?.synapse.model.states.find((s) => s.name === variable);
    if (group === undefined || declared === undefined) return undefined;
    const names = group.routes.map((r) => r.projection.name);
    return {
      ...kernelState,
      subject: `${names.length === 1 ? 'projection' : 'projections'} ${names.join(', ')}`,
      projections: names,
      variable,
      element: 'post-synaptic neuron',
      span: declared.span,
      ...integrationHint(plan, group.synapse.model, variable),
    };
  }
  const own = [...routing.preSynapses, ...routing.synapses].find((o) => o.owner === owner);
  if (own === undefined) return undefined;
  const projection = own.route.projection;
  const element = own.route.placement.placement === 'pre' ? 'pre-synaptic neuron' : 'synapse';
  const base = {
    ...kernelState,
    subject: `projection ${projection.name}`,
    projections: [projection.name],
    element,
  };
  if (state === WEIGHT_STATE) return { ...base, variable: 'w', span: projection.weight.span };
  const declared = projection.synapse.model.states.find((s) => s.name === state);
  return declared === undefined
    ? undefined
    : {
        ...base,
        variable: state,
        span: declared.span,
        ...integrationHint(plan, projection.synapse.model, state),
      };
}

/**
 * The population's own values (its parameters and initial states) that a state of its neuron
 * model depends on, in the order written: a NaN from `tau = 0 ms` shows that line, not only
 * the declaration of V in stdlib.
 */
function overridesOf(population: Population, model: NeuronModel, state: string): Label[] {
  const read = stateDependencies(model, state);
  const perNeuron = new Set(
    population.source.kind === 'neuron' ? population.source.perNeuronParameters : [],
  );
  const set = (o: Override, what: string): Label => ({
    span: joinSpans(o.span, o.value.span),
    message: `population ${population.name} sets ${what}`,
  });
  return [
    ...population.parameters
      .filter((o) => read.has(o.name))
      .map((o) => set(o, `${o.name}, which ${state} depends on`)),
    ...population.states
      .filter((o) => read.has(o.name))
      .map((o) =>
        set(
          o,
          o.name === state
            ? `the initial value of ${state}`
            : perNeuron.has(o.name)
              ? `${o.name} per neuron, which ${state} depends on`
              : `the initial value of ${o.name}, which ${state} depends on`,
        ),
      ),
  ].sort((a, b) => a.span.start - b.span.start);
}

/** Explicit methods: unstable once dt is too long for the model's fastest dynamics. */
const EXPLICIT: readonly IntegrationMethod[] = ['euler', 'rk2', 'rk4'];

/**
 * What to try when an unstable integration is a likely cause: the state has a differential
 * equation and an explicit method (euler, rk2, rk4) with too long a step. Not for exp_euler or
 * exact, where a blow-up more likely comes from the model itself (or from its input), and a
 * smaller step would not be the cure.
 */
function integrationHint(
  plan: SimulationPlan,
  model: DynamicsModel,
  state: string,
): { hint?: string } {
  const dt = plan.network.dt;
  return EXPLICIT.includes(model.method) && model.equations.some((e) => e.state === state)
    ? {
        hint: `method ${model.method} is unstable when dt (${dt} ms) is too long for the fastest dynamics of ${model.name}: a smaller --dt, or method exp_euler, usually helps`,
      }
    : {};
}

/** `of 4 neurons`, `of 10 synapses`: what a state's counts are out of. */
export function ofElements(user: UserState): string {
  return `of ${user.size} ${user.element}s`;
}

/** `NaN in 1 of 1 neurons`, `infinite in 2 of 10 synapses`, `NaN in 3 and infinite in 2 of ...`. */
function howMany(s: NonFiniteState): string {
  const parts = [
    ...(s.nan > 0 ? [`NaN in ${s.nan}`] : []),
    ...(s.infinite > 0 ? [`infinite in ${s.infinite}`] : []),
  ];
  return `${parts.join(' and ')} ${ofElements(s.user)}`;
}

/** `a`, `a and b`, `a, b and c`. */
function listNames(names: readonly string[]): string {
  return names.length <= 1
    ? names.join('')
    : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** One entry of summary.json's `warnings`: a non-finite state, in the terms of the model. */
export type SummaryWarning = {
  readonly message: string;
  /** `file:line:col` of the state's declaration (of the weight for `w`). */
  readonly location: string;
  readonly population?: string;
  readonly projections?: readonly string[];
  readonly variable: string;
  readonly nan: number;
  readonly infinite: number;
  /** How many elements (neurons, synapses) hold the state. */
  readonly elements: number;
  /** When the recording first shows a non-finite value of the state (the CSV row's t_ms). */
  readonly first_non_finite_recorded_ms?: number;
  readonly hint?: string;
};

/** The fields of a summary entry that name the state, in their order there. */
export function summaryPlace(
  user: UserState,
): Pick<SummaryWarning, 'location' | 'population' | 'projections' | 'variable'> {
  return {
    location: location(user.span),
    ...(user.population === undefined ? {} : { population: user.population }),
    ...(user.projections === undefined ? {} : { projections: user.projections }),
    variable: user.variable,
  };
}

/**
 * The warnings of non-finite states: one diagnostic per population or projection (at its
 * first such state's declaration, beside the population's lines that set what that state
 * depends on, the others in a note, when the recording first showed one, and a hint when an
 * unstable integration is likely), and one summary entry per state. The
 * standalone CUDA program (its sf_host.h) writes the same texts.
 */
export function nonFiniteWarnings(
  plan: SimulationPlan,
  states: readonly NonFiniteState[],
): { readonly diagnostics: readonly Diagnostic[]; readonly summary: readonly SummaryWarning[] } {
  // A recorded row shows the state after step n, labelled t_n + dt, as in the CSV file.
  const recordedTime = (f: RecordedNonFinite): string => formatTime((f.step + 1) * plan.network.dt);
  const message = (s: NonFiniteState): string =>
    `${s.user.subject}: ${s.user.variable} is ${howMany(s)} at the end of the run`;
  const summary = states.map((s): SummaryWarning => ({
    message: message(s),
    ...summaryPlace(s.user),
    nan: s.nan,
    infinite: s.infinite,
    elements: s.user.size,
    ...(s.firstRecorded === undefined
      ? {}
      : { first_non_finite_recorded_ms: Number(recordedTime(s.firstRecorded)) }),
    ...(s.user.hint === undefined ? {} : { hint: s.user.hint }),
  }));
  const diagnostics = new Diagnostics();
  for (const subject of new Set(states.map((s) => s.user.subject))) {
    const [head, ...others] = states.filter((s) => s.user.subject === subject);
    if (head === undefined) continue;
    // The other states, grouped by identical counts: `m, h and n are NaN in 1 of 1 neurons`.
    const byCount = new Map<string, string[]>();
    for (const o of others) {
      const counts = howMany(o);
      byCount.set(counts, [...(byCount.get(counts) ?? []), o.user.variable]);
    }
    const also = [...byCount].map(
      ([counts, names]) => `${listNames(names)} ${names.length === 1 ? 'is' : 'are'} ${counts}`,
    );
    const group = [head, ...others];
    const first = earliest(group.map((s) => s.firstRecorded));
    const hint = group.map((s) => s.user.hint).find((h) => h !== undefined);
    diagnostics.warning(head.user.span, message(head), {
      secondary: head.user.overrides,
      notes: [
        ...(also.length === 0 ? [] : [`also at the end of the run: ${also.join('; ')}`]),
        ...(first === undefined
          ? []
          : [
              `${first.label} is first non-finite in the recording at t = ${recordedTime(first)} ms (${first.value} in ${head.user.element} ${first.index})`,
            ]),
        ...(hint === undefined ? [] : [hint]),
      ],
    });
  }
  return { diagnostics: diagnostics.items, summary };
}
