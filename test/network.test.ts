/**
 * Networks: spike delivery, merged synapse state, placement and per-pre synapse state, checked
 * against float64 computations written here by hand from language.md ("One step") and the
 * closed forms of the stdlib models. They share no code with the generated kernels; parameter
 * values are written in spikeforge's internal units (mV, ms, nA, Mohm, uS), so that the numbers
 * in the network texts below are the numbers used here.
 *
 * One step n (language.md): 1. deliver the spikes emitted at step n - d (on_pre; merged states
 * add w); 2. integrate the synapse states; 3. the current I from stimuli and outputs (start-of-
 * step V); 4. integrate the neurons, spike test, reset; 5. record (post-step state). Exponential
 * Euler is exact for the linear equations used here, so each step is a closed form:
 *   Expon:  g <- (g + w * spikes(n - d)) * exp(-dt / tau_s)
 *   Lif:    V <- V_inf + (V - V_inf) * exp(-dt / tau),  V_inf = V_rest + R I
 *   STP:    u <- u + U (1 - u), x <- x - u x at a delivery; then u <- u exp(-dt / tau_f),
 *           x <- 1 + (x - 1) exp(-dt / tau_d)
 * The cpu64 backend must match these to 1e-9 relative; the float32 CPU and WebGPU backends must
 * give the same spikes and the same first step of every effect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlan, generateSource, manifest } from '../src/codegen/module.js';
import { DiagnosticError } from '../src/diagnostics/diagnostic.js';
import { simulateNeuron64 } from '../src/integrate/evaluate-ir.js';
import { analysePlacement } from '../src/ir/placement.js';
import type { Network, SynapseModel } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';
import type { Backend, SimulationPlan } from '../src/runtime/backend.js';
import { cpuBackend, webGpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { openWebGpu } from './support/webgpu.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REL = 1e-9;

// The probe's device stays open (and referenced) until the end of the file. Closing it at once
// (the pattern of conformance.test.ts) crashed or hung this file's worker every time, natively
// ("terminate called after throwing std::system_error", pthread_mutex_lock assertions, or a
// futex deadlock with the llvmpipe threads), presumably when the closed dawn.node instance is
// garbage-collected while the backends below open and close their own.
const probe = await openWebGpu();
if (!probe.ok)
  console.warn(
    `network: WebGPU checks SKIPPED, no WebGPU adapter could be opened: ${probe.reason}`,
  );
const HAVE_WEBGPU = probe.ok;
afterAll(() => {
  if (probe.ok) probe.gpu.close();
});

// ---------------------------------------------------------------------------------------------
// Running networks

/** Compiles text written here as if it were the file test/NAME.spk (imports resolve from there). */
function compileAt(name: string, text: string): ReturnType<typeof compileFiles> {
  const entry = join(ROOT, 'test', `${name}.spk`);
  return compileFiles(
    [entry],
    (p) => (p === entry ? text : readFileSync(p, 'utf8')),
    (p) => p === entry || existsSync(p),
  );
}

/** Compiles a network written here, which must have no diagnostics. */
function compileText(name: string, text: string): Network {
  const result = compileAt(name, text);
  expect(result.diagnostics.items.map((d) => d.message)).toEqual([]);
  const networks = [...(result.program?.networks.values() ?? [])];
  expect(networks).toHaveLength(1);
  return networks[0]!;
}

function compileExample(file: string): Network {
  const result = compileFiles([join(ROOT, 'examples', file)]);
  expect(result.diagnostics.items.map((d) => d.message)).toEqual([]);
  return [...result.program!.networks.values()][0]!;
}

type Kind = 'cpu64' | 'cpu' | 'webgpu';

interface Run {
  readonly plan: SimulationPlan;
  /** Per population, per neuron: spike steps. */
  readonly spikes: ReadonlyMap<string, number[][]>;
  /** The recording's label (`pop.V`, `projection.g`) -> per element, the post-step values of every step. */
  readonly traces: ReadonlyMap<string, Float64Array[]>;
  /** The final state of the owners asked for (populations, `@pre<k>`). */
  readonly states: ReadonlyMap<string, ReadonlyMap<string, Float64Array>>;
}

/** cpu64, cpu and (where there is an adapter) WebGPU, in that order. */
const EVERY_KIND: readonly Kind[] = ['cpu64', 'cpu', ...(HAVE_WEBGPU ? ['webgpu' as const] : [])];

/** The same network on every kind of EVERY_KIND. */
function runEverywhere(network: Network): Promise<Run[]> {
  return Promise.all(EVERY_KIND.map((k) => run(network, k)));
}

function backendOf(kind: Kind): Backend {
  return kind === 'cpu64'
    ? cpuBackend('f64')
    : kind === 'cpu'
      ? cpuBackend('f32')
      : webGpuBackend();
}

async function run(
  network: Network,
  kind: Kind,
  options: { steps?: number; read?: readonly string[] } = {},
): Promise<Run> {
  const steps = options.steps ?? Math.round(network.duration / network.dt);
  const plan = buildPlan(network, steps);
  const backend = backendOf(kind);
  try {
    await backend.prepare(plan);
    const { chunks } = await simulate(plan, backend);
    const spikes = new Map<string, number[][]>();
    for (const p of plan.spikeRecords)
      spikes.set(
        p,
        Array.from({ length: network.populations.find((q) => q.name === p)!.size }, () => []),
      );
    const traces = new Map<string, Float64Array[]>();
    for (const t of plan.traces)
      traces.set(
        t.label,
        Array.from({ length: t.range.end - t.range.start }, () => new Float64Array(steps)),
      );
    for (const chunk of chunks) {
      for (const [p, s] of chunk.spikes)
        s.steps.forEach((step, k) => spikes.get(p)![s.indices[k]!]!.push(step));
      plan.traces.forEach((t, r) => {
        const width = t.range.end - t.range.start;
        const columns = traces.get(t.label)!;
        for (let s = 0; s < chunk.steps; s++)
          for (let i = 0; i < width; i++)
            columns[i]![chunk.firstStep + s] = chunk.traces[r]![s * width + i]!;
      });
    }
    const states = new Map<string, ReadonlyMap<string, Float64Array>>();
    for (const owner of options.read ?? []) states.set(owner, await backend.readState(owner));
    return { plan, spikes, traces, states };
  } finally {
    backend.dispose();
  }
}

/** Largest |a - b| / max(|a|, |b|, floor) over two traces. */
function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let k = 0; k < a.length; k++)
    worst = Math.max(
      worst,
      Math.abs(a[k]! - b[k]!) / Math.max(Math.abs(a[k]!), Math.abs(b[k]!), floor),
    );
  return worst;
}

/** Every column of the traces `labels` of a float32 run within float32 rounding (1e-5) of the float64 run's. */
function expectFloat32Traces(got: Run, want: Run, labels: readonly string[]): void {
  for (const label of labels)
    got.traces
      .get(label)!
      .forEach((column, k) =>
        expect(
          maxRelative(column, want.traces.get(label)![k]!, 1e-6),
          `${label}[${k}]`,
        ).toBeLessThan(1e-5),
      );
}

/** The first step whose post-step value differs from `baseline` (a constant or another trace). */
function firstChange(trace: ArrayLike<number>, baseline: number | ArrayLike<number>): number {
  for (let n = 0; n < trace.length; n++)
    if (trace[n] !== (typeof baseline === 'number' ? baseline : baseline[n])) return n;
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Hand computations (float64)

/**
 * Steps at which a Lif neuron under a constant drive fires (V_inf = V_rest + R I), by the closed
 * form; with `held`, a LifRef neuron that holds V for that many steps after each spike.
 */
function lifSpikes(
  p: { V_rest: number; V_reset: number; V_th: number; tau: number; drive: number; held?: number },
  dt: number,
  steps: number,
): number[] {
  const decay = Math.exp(-dt / p.tau);
  const vInf = p.V_rest + p.drive;
  const spikes: number[] = [];
  let V = p.V_rest;
  let heldUntil = -1;
  for (let n = 0; n < steps; n++) {
    if (n <= heldUntil) continue;
    V = vInf + (V - vInf) * decay;
    if (V >= p.V_th) {
      spikes.push(n);
      V = p.V_reset;
      heldUntil = n + (p.held ?? 0);
    }
  }
  return spikes;
}

interface ExponInput {
  /** Steps at which spikes are emitted (repeated for several spikes in one step). */
  readonly spikes: readonly number[];
  readonly delay: number;
  readonly weight: number;
  readonly tau: number;
}

/**
 * A non-spiking Lif post neuron (V_rest = 0, R = 1) fed by Expon synapses with CUBA outputs:
 * per step n, every input adds w for each spike of step n - d, decays, and the sum is I;
 * V <- I + (V - I) exp(-dt / tau_m). Returns the post-step V of every step.
 */
function postTrace(
  inputs: readonly ExponInput[],
  tauM: number,
  dt: number,
  steps: number,
): Float64Array {
  const g = inputs.map(() => 0);
  const arrivals = inputs.map((input) => {
    const m = new Map<number, number>();
    for (const s of input.spikes) m.set(s + input.delay, (m.get(s + input.delay) ?? 0) + 1);
    return m;
  });
  const decayM = Math.exp(-dt / tauM);
  const V = new Float64Array(steps);
  let v = 0;
  for (let n = 0; n < steps; n++) {
    let I = 0;
    inputs.forEach((input, k) => {
      g[k] = (g[k]! + input.weight * (arrivals[k]!.get(n) ?? 0)) * Math.exp(-dt / input.tau);
      I += g[k]!;
    });
    v = I + (v - I) * decayM;
    V[n] = v;
  }
  return V;
}

// ---------------------------------------------------------------------------------------------
// Delivery

/** A pre neuron driven to fire every 23 steps (first at step 22) into a silent post neuron. */
function delayNetwork(delay: string): Network {
  return compileText(
    'delivery',
    `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Delivery {
  dt = 0.1 ms
  duration = 40 ms
  seed = 1
  population pre = Lif(1) { V_reset = 0 mV }
  population post = Lif(1) { V_th = 1000 mV }
  projection p = pre -> post {
    connect all_to_all
    weight 3 nA
    ${delay}
    synapse Expon(tau = 5 ms)
    output CUBA
  }
  stimulus pre.I = 100 nA
  record pre.spikes
  record post.V
}`,
  );
}

const PRE = { V_rest: 0, V_reset: 0, V_th: 20, tau: 10, drive: 100 };

describe('delivery: a spike emitted at step s reaches its target at step s + d', () => {
  const cases: readonly { delay: string; d: number }[] = [
    { delay: '', d: 1 },
    { delay: 'delay 0.1 ms', d: 1 },
    { delay: 'delay 0.2 ms', d: 2 },
    { delay: 'delay 1.5 ms', d: 15 },
    // Longer than the spike period (23 steps): two spikes in flight at once.
    { delay: 'delay 4 ms', d: 40 },
  ];

  it.each(cases)(
    '$delay (d = $d): cpu64 equals the closed form to 1e-9; first effect at s + d',
    async ({ delay, d }) => {
      const network = delayNetwork(delay);
      const steps = Math.round(network.duration / network.dt);
      const r = await run(network, 'cpu64');
      expect(r.plan.routing.routes[0]!.delaySteps).toBe(d);
      const spikes = r.spikes.get('pre')![0]!;
      expect(spikes).toEqual(lifSpikes(PRE, 0.1, steps));
      expect(spikes.slice(0, 3)).toEqual([22, 45, 68]);
      const V = r.traces.get('post.V')![0]!;
      expect(firstChange(V, 0), 'the first step whose post-step V is not 0').toBe(spikes[0]! + d);
      const expected = postTrace([{ spikes, delay: d, weight: 3, tau: 5 }], 10, 0.1, steps);
      expect(maxRelative(V, expected)).toBeLessThan(REL);
    },
  );

  it.each(cases.filter((c) => c.delay !== ''))(
    '$delay: the float32 CPU backend has the same spikes and first effect',
    async ({ delay, d }) => {
      const r = await run(delayNetwork(delay), 'cpu');
      const s = r.spikes.get('pre')![0]!;
      expect(s.slice(0, 3)).toEqual([22, 45, 68]);
      expect(firstChange(r.traces.get('post.V')![0]!, 0)).toBe(s[0]! + d);
    },
  );

  it.skipIf(!HAVE_WEBGPU).each(cases.filter((c) => c.delay !== ''))(
    '$delay: WebGPU is bit-identical to the float32 CPU backend',
    async ({ delay }) => {
      const network = delayNetwork(delay);
      const cpu = await run(network, 'cpu');
      const gpu = await run(network, 'webgpu');
      expect(gpu.spikes).toEqual(cpu.spikes);
      expect(Array.from(gpu.traces.get('post.V')![0]!)).toEqual(
        Array.from(cpu.traces.get('post.V')![0]!),
      );
    },
  );

  it('Poisson sources: every recorded source spike arrives d = 5 steps later, on every backend', async () => {
    const network = compileText(
      'poisson_delivery',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network PoissonDelivery {
  dt = 0.1 ms
  duration = 100 ms
  seed = 11
  population X = Poisson(3, rate = 200 Hz)
  population post = Lif(1) { V_th = 1000 mV }
  projection p = X -> post {
    connect all_to_all
    weight 0.5 nA
    delay 0.5 ms
    synapse Expon(tau = 2 ms)
    output CUBA
  }
  record X.spikes
  record post.V
}`,
    );
    const steps = 1000;
    const r = await run(network, 'cpu64');
    const all = r.spikes
      .get('X')!
      .flat()
      .sort((a, b) => a - b);
    expect(all.length, '3 sources at 200 Hz for 100 ms').toBeGreaterThan(30);
    const V = r.traces.get('post.V')![0]!;
    expect(firstChange(V, 0)).toBe(all[0]! + 5);
    expect(
      maxRelative(V, postTrace([{ spikes: all, delay: 5, weight: 0.5, tau: 2 }], 10, 0.1, steps)),
    ).toBeLessThan(REL);
    // The same Poisson spikes on the float32 backends (one Philox stream for all).
    const cpu = await run(network, 'cpu');
    expect(cpu.spikes).toEqual(r.spikes);
    if (HAVE_WEBGPU) {
      const gpu = await run(network, 'webgpu');
      expect(gpu.spikes).toEqual(r.spikes);
      expect(Array.from(gpu.traces.get('post.V')![0]!)).toEqual(
        Array.from(cpu.traces.get('post.V')![0]!),
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The two-neuron seed examples

describe('merged synapse state may read its post-synaptic neuron', () => {
  /**
   * One spike at 2 ms into a Lif neuron under 10 nA (V rises from 0 towards 10 mV plus what the
   * synapse adds); the synapse decays at a rate that grows with post.V.
   */
  const network = (): Network =>
    compileText(
      'post_reads',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
synapse VDecay {
  parameters { tau = 5 ms   span = 20 mV }
  state { g : weight = 0 }
  equations { dg/dt = -g / tau * (1 + post.V / span) }
  on_pre { g += w }
  delivers g
}
network PostReads {
  dt = 0.1 ms
  duration = 30 ms
  population pre = SpikeTimes(1, indices = [0], times = [2 ms])
  population post = Lif(1) { V_th = 1000 mV }
  projection P = pre -> post {
    connect all_to_all
    weight 2 nA
    synapse VDecay
    output CUBA
  }
  stimulus post.I = 10 nA
  record post.V
  record P.g
}`,
    );

  it('merged, with the reason; g decays at the rate of the start-of-step V (cpu64, 1e-9)', async () => {
    const plan = buildPlan(network(), 1);
    expect(plan.routing.routes[0]!.placement.placement).toBe('post');
    expect(plan.routing.routes[0]!.placement.reason).toMatch(
      /^linear in its state with coefficients that depend on the post-synaptic neuron alone/,
    );
    const r = await run(network(), 'cpu64');
    const V = r.traces.get('post.V')![0]!;
    const g = r.traces.get('P.g')![0]!;
    // Delivered at step 21 (2 ms is step 20, one step of delay), then decaying by
    // exp(-dt (1 + V / 20 mV) / 5 ms) with V at the start of each step (the previous post-step V).
    const replay = (vOf: (n: number) => number): Float64Array => {
      const out = new Float64Array(g.length);
      let gv = 0;
      for (let n = 0; n < g.length; n++) {
        if (n === 21) gv += 2;
        gv *= Math.exp((-0.1 * (1 + vOf(n) / 20)) / 5);
        out[n] = gv;
      }
      return out;
    };
    expect(firstChange(g, 0)).toBe(21);
    expect(
      maxRelative(
        g,
        replay((n) => (n === 0 ? 0 : V[n - 1]!)),
      ),
    ).toBeLessThan(REL);
    // V matters: the same decay at V = 0 is far off.
    expect(
      maxRelative(
        g,
        replay(() => 0),
      ),
    ).toBeGreaterThan(0.1);
  });

  it.each(EVERY_KIND.filter((k) => k !== 'cpu64'))(
    '%s: the same traces as cpu64 within float32 rounding',
    async (kind) => {
      expectFloat32Traces(await run(network(), kind), await run(network(), 'cpu64'), [
        'post.V',
        'P.g',
      ]);
    },
  );

  it('post.X may name a subexpression: the same bits as the expression written out, in a synapse and in an output (cpu)', async () => {
    const text = (read: string): string => `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
neuron Rel {
  parameters { V_rest = -65 mV   tau = 10 ms }
  state { V = -65 mV }
  current I : nA
  equations {
    depol = V - V_rest
    dV/dt = (-depol + 1 Mohm * I) / tau
  }
  spike when V >= -50 mV
  reset { V = -65 mV }
}
synapse Fast {
  state { g : weight = 0 }
  equations { dg/dt = -g / (5 ms) * (1 + ${read} / (20 mV)) }
  on_pre { g += w }
  delivers g
}
output Gain { current = g * (1 + ${read} / (10 mV)) }
network SubReads {
  dt = 0.1 ms
  duration = 50 ms
  seed = 3
  population P = Rel(20)
  projection E = P -> P {
    connect fixed_probability(0.3)
    weight 0.2 nA
    synapse Fast
    output Gain
  }
  stimulus P.I = 18 nA + 4 nA * uniform(0, 1)
  record P.spikes
  record P.V[0:4]
}`;
    const [named, written] = await Promise.all([
      run(compileText('sub_reads', text('post.depol')), 'cpu'),
      run(compileText('sub_written', text('(post.V - (-65 mV))')), 'cpu'),
    ]);
    expect([...named.spikes.get('P')!].flat().length).toBeGreaterThan(20);
    expect(named.spikes).toEqual(written.spikes);
    named.traces
      .get('P.V')!
      .forEach((column, k) =>
        expect(Array.from(column)).toEqual(Array.from(written.traces.get('P.V')![k]!)),
      );
  });
});

describe('per-pre and per-synapse state read their neurons (pre.X, post.X)', () => {
  /**
   * One Lif neuron firing regularly (30 nA) into two Lif neurons that never fire (10 and 25 nA):
   * A keeps its state per pre neuron and decays at a rate set by pre.V; B keeps it per synapse,
   * adds 1 + pre.V / 100 mV per spike and decays at a rate set by post.V.
   */
  const network = (): Network =>
    compileText(
      'neuron_reads',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
synapse PreDecay {
  state { s = 0 }
  equations { ds/dt = -s * (1 + pre.V / (20 mV)) / (5 ms) }
  on_pre { s += 1 }
  delivers w * s
}
synapse PostDecay {
  state { x = 0 }
  equations { dx/dt = -x * (1 + post.V / (20 mV)) / (5 ms) }
  on_pre { x += 1 + pre.V / (100 mV) }
  delivers w * x
}
network NeuronReads {
  dt = 0.1 ms
  duration = 40 ms
  population pre = Lif(1)
  population post = Lif(2) { V_th = 1000 mV }
  projection A = pre -> post {
    connect all_to_all
    weight 1 nA
    synapse PreDecay
    output CUBA
  }
  projection B = pre -> post {
    connect all_to_all
    weight 0.5 nA
    synapse PostDecay
    output CUBA
  }
  stimulus pre.I = 30 nA
  stimulus post[0:1].I = 10 nA
  stimulus post[1:2].I = 25 nA
  record pre.spikes
  record pre.V
  record post.V
  record A.s
  record B.x
}`,
    );

  it('A per pre neuron, B per synapse, with the reasons', () => {
    const routes = buildPlan(network(), 1).routing.routes;
    expect(routes.map((r) => r.placement.placement)).toEqual(['pre', 'synapse']);
    expect(routes[0]!.placement.reason).toMatch(
      /^it reads its pre-synaptic neuron; .* per pre-synaptic neuron$/,
    );
    expect(routes[1]!.placement.reason).toMatch(
      /^it reads its pre- and its post-synaptic neuron: the state is kept per synapse$/,
    );
  });

  it('s and x equal a hand replay from the recorded start-of-step V of their neurons (cpu64, 1e-9)', async () => {
    const r = await run(network(), 'cpu64');
    const spikes = r.spikes.get('pre')![0]!;
    expect(spikes.length).toBe(3);
    const before = (trace: Float64Array, n: number): number => (n === 0 ? 0 : trace[n - 1]!);
    const preV = r.traces.get('pre.V')![0]!;
    const arrives = (n: number): boolean => spikes.includes(n - 1);
    const replay = (jump: (n: number) => number, rateV: (n: number) => number): Float64Array => {
      const out = new Float64Array(preV.length);
      let v = 0;
      for (let n = 0; n < out.length; n++) {
        if (arrives(n)) v += jump(n);
        v *= Math.exp((-0.1 * (1 + rateV(n) / 20)) / 5);
        out[n] = v;
      }
      return out;
    };
    const s = r.traces.get('A.s')![0]!;
    expect(firstChange(s, 0)).toBe(spikes[0]! + 1);
    expect(
      maxRelative(
        s,
        replay(
          () => 1,
          (n) => before(preV, n),
        ),
      ),
    ).toBeLessThan(REL);
    // Without the pre neuron's V the replay is far off: the read matters.
    expect(
      maxRelative(
        s,
        replay(
          () => 1,
          () => 0,
        ),
      ),
    ).toBeGreaterThan(0.1);
    for (const k of [0, 1]) {
      const x = r.traces.get('B.x')![k]!;
      const postV = r.traces.get('post.V')![k]!;
      const want = replay(
        (n) => 1 + before(preV, n) / 100,
        (n) => before(postV, n),
      );
      expect(maxRelative(x, want), `synapse ${k}`).toBeLessThan(REL);
      expect(
        maxRelative(
          x,
          replay(
            () => 1,
            (n) => before(postV, n),
          ),
        ),
      ).toBeGreaterThan(1e-3);
    }
    // The two post neurons differ, and so do their synapses.
    expect(maxRelative(r.traces.get('B.x')![0]!, r.traces.get('B.x')![1]!)).toBeGreaterThan(0.01);
  });

  it.each(EVERY_KIND.filter((k) => k !== 'cpu64'))(
    '%s: the same traces as cpu64 within float32 rounding',
    async (kind) => {
      const [want, got] = [await run(network(), 'cpu64'), await run(network(), kind)];
      expect(got.spikes).toEqual(want.spikes);
      expectFloat32Traces(got, want, ['post.V', 'A.s', 'B.x']);
    },
  );

  it('a synapse only adds to its post neuron: setting or scaling it, or changing the pre neuron, is an error', () => {
    const text = (change: string): string => `import "stdlib/neurons.spk"
synapse Kick {
  state { x = 0 }
  equations { dx/dt = -x / (5 ms) }
  on_pre { x += 1   ${change} }
  on_post { x = 0 }
}
network N {
  population X = Lif(10)
  population Y = Lif(10)
  projection P = X -> Y {
    connect all_to_all
    weight 1 nA
    synapse Kick
  }
}`;
    expect(() => buildPlan(compileText('kick_set', text('post.V = 1 mV')), 1)).toThrow(
      /synapse Kick changes 'post.V' with '=': a synapse may only add to its post-synaptic neuron's states \('post.V \+= ...' or '-='\)/,
    );
    expect(() => buildPlan(compileText('kick_scale', text('post.V *= 0.5')), 1)).toThrow(
      /synapse Kick changes 'post.V' with '\*='/,
    );
    expect(() => buildPlan(compileText('kick_pre', text('pre.V -= 1 mV')), 1)).toThrow(
      /synapse Kick changes 'pre.V': a synapse may change its post-synaptic neuron only/,
    );
  });
});

describe('per-pre and per-synapse state add to their post neurons (post.X += e)', () => {
  /**
   * Two spike sources into two conductance neurons that never fire, all to all: F keeps x per
   * synapse (weights 1 + i + 2 j) and adds w x to post.ge at each spike (Brian2's
   * `ge_post += w * x`); K keeps s per pre neuron and takes 0.01 s from post.ge.
   */
  const network = (): Network =>
    compileText(
      'post_adds',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
neuron Cond {
  parameters { tau = 20 ms   tau_e = 5 ms }
  state { V = -60 mV   ge = 0 }
  current I : nA
  equations {
    dV/dt = (-60 mV - V + ge * (0 mV - V) + 1 Mohm * I) / tau
    dge/dt = -ge / tau_e
  }
  spike when V > 1000 mV
  reset { V = -60 mV }
}
synapse Facilitating {
  state { x = 0 }
  equations { dx/dt = -x / (10 ms) }
  on_pre { x += 1   post.ge += w * x }
}
synapse PreKick {
  state { s = 0 }
  equations { ds/dt = -s / (5 ms) }
  on_pre { s += 1   post.ge -= 0.01 * s }
  delivers w * s
}
network PostAdds {
  dt = 0.1 ms
  duration = 15 ms
  population X = SpikeTimes(2, indices = [0, 1, 0, 0, 1], times = [1 ms, 3 ms, 6 ms, 6.5 ms, 6.5 ms])
  population N = Cond(2)
  projection F = X -> N {
    connect all_to_all
    weight 0.1 * (1 + i + 2 * j)
    synapse Facilitating
  }
  projection K = X -> N {
    connect all_to_all
    weight 0.5 nA
    synapse PreKick
    output CUBA
  }
  record X.spikes
  record N.ge
  record F.x
}`,
    );

  it('F per synapse, K per pre neuron', () => {
    const routes = buildPlan(network(), 1).routing.routes;
    expect(routes.map((r) => r.placement.placement)).toEqual(['synapse', 'pre']);
  });

  it('ge jumps by the sum of what every arriving synapse adds, at s + 1 (cpu64, 1e-9)', async () => {
    const r = await run(network(), 'cpu64');
    const spikes = r.spikes.get('X')!;
    expect(spikes).toEqual([
      [10, 60, 65],
      [30, 65],
    ]);
    const steps = r.traces.get('N.ge')![0]!.length;
    const decay = (tau: number): number => Math.exp(-0.1 / tau);
    // x per synapse (pre i, post j), s per pre neuron, ge per post neuron: the replay of a step.
    const x = [
      [0, 0],
      [0, 0],
    ];
    const s = [0, 0];
    const ge = [new Float64Array(steps), new Float64Array(steps)];
    const xTrace = [0, 1, 2, 3].map(() => new Float64Array(steps));
    let g = [0, 0];
    for (let n = 0; n < steps; n++) {
      const added = [0, 0];
      for (const i of [0, 1]) {
        if (!spikes[i]!.includes(n - 1)) continue;
        s[i]! += 1;
        for (const j of [0, 1]) {
          x[i]![j]! += 1;
          added[j]! += 0.1 * (1 + i + 2 * j) * x[i]![j]! - 0.01 * s[i]!;
        }
      }
      g = g.map((v, j) => (v + added[j]!) * decay(5));
      for (const j of [0, 1]) ge[j]![n] = g[j]!;
      for (const i of [0, 1]) {
        s[i]! *= decay(5);
        for (const j of [0, 1]) {
          x[i]![j]! *= decay(10);
          xTrace[2 * i + j]![n] = x[i]![j]!;
        }
      }
    }
    for (const j of [0, 1]) {
      const got = r.traces.get('N.ge')![j]!;
      expect(firstChange(got, 0), `post ${j}`).toBe(11);
      expect(maxRelative(got, ge[j]!), `post ${j}`).toBeLessThan(REL);
    }
    r.traces
      .get('F.x')!
      .forEach((got, k) => expect(maxRelative(got, xTrace[k]!)).toBeLessThan(REL));
  });

  it.each(EVERY_KIND.filter((k) => k !== 'cpu64'))(
    '%s: the same traces as cpu64 within float32 rounding',
    async (kind) => {
      expectFloat32Traces(await run(network(), kind), await run(network(), 'cpu64'), [
        'N.ge',
        'F.x',
      ]);
    },
  );
});

describe('on_post adds to the post neuron too', () => {
  it('each synapse onto a neuron that spiked at s adds to its ge at s + 1 (cpu64, 1e-9; float32 and WebGPU within rounding)', async () => {
    const network = compileText(
      'post_kick',
      `neuron Kicked {
  parameters { tau = 10 ms   tau_e = 5 ms }
  state { V = -60 mV   ge = 0 }
  current I : nA
  equations {
    dV/dt = (-60 mV - V + 1 Mohm * I) / tau
    dge/dt = -ge / tau_e
  }
  spike when V > -50 mV
  reset { V = -60 mV }
}
synapse PostKick {
  on_post { post.ge += 0.5 * w }
}
network PostKickNet {
  dt = 0.1 ms
  duration = 40 ms
  population X = SpikeTimes(2, indices = [0], times = [100 ms])
  population N = Kicked(1)
  projection A = X -> N { connect all_to_all   weight 1   synapse PostKick }
  stimulus N.I = 15 nA
  record N.spikes
  record N.ge
}`,
    );
    const runs = await Promise.all(EVERY_KIND.map((kind) => run(network, kind)));
    const [r] = runs;
    const spikes = r!.spikes.get('N')![0]!;
    expect(spikes.length).toBeGreaterThan(1);
    const ge = r!.traces.get('N.ge')![0]!;
    const want = new Float64Array(ge.length);
    let g = 0;
    for (let n = 0; n < ge.length; n++) {
      // Two synapses, 0.5 each, in the step after the spike.
      if (spikes.includes(n - 1)) g += 2 * 0.5;
      g *= Math.exp(-0.1 / 5);
      want[n] = g;
    }
    expect(firstChange(ge, 0)).toBe(spikes[0]! + 1);
    expect(maxRelative(ge, want)).toBeLessThan(REL);
    for (const other of runs.slice(1)) {
      expect(other.spikes).toEqual(r!.spikes);
      expectFloat32Traces(other, r!, ['N.ge']);
    }
  });
});

describe('stdlib Gap: a gap junction couples two neurons through w (pre.V - post.V)', () => {
  const network = (): Network =>
    compileText(
      'gap',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network GapPair {
  dt = 0.1 ms
  duration = 50 ms
  population A = Lif(1) { V_th = 1000 mV }
  population B = Lif(1) { V_th = 1000 mV }
  projection AB = A -> B { connect all_to_all  weight 0.05 uS  synapse Gap  output CUBA }
  projection BA = B -> A { connect all_to_all  weight 0.05 uS  synapse Gap  output CUBA }
  stimulus A.I = 10 nA
  record A.V
  record B.V
}`,
    );

  it('kept per synapse, with the reason', () => {
    const routes = buildPlan(network(), 1).routing.routes;
    expect(routes.map((r) => r.placement.reason)).toEqual([
      'it reads its pre- and its post-synaptic neuron: the state is kept per synapse',
      'it reads its pre- and its post-synaptic neuron: the state is kept per synapse',
    ]);
  });

  it('V of both neurons equals the coupled recursion with start-of-step potentials (cpu64, 1e-9)', async () => {
    const r = await run(network(), 'cpu64');
    const a = r.traces.get('A.V')![0]!;
    const b = r.traces.get('B.V')![0]!;
    // Lif: tau = 10 ms, R = 1 Mohm, V_rest = 0; the current is frozen over the step, so the
    // update is exact: V' = V e + R I (1 - e), with I from the start-of-step V of both.
    const e = Math.exp(-0.1 / 10);
    let [va, vb] = [0, 0];
    const want = [new Float64Array(a.length), new Float64Array(a.length)];
    for (let n = 0; n < a.length; n++) {
      const ia = 10 + 0.05 * (vb - va);
      const ib = 0.05 * (va - vb);
      [va, vb] = [va * e + ia * (1 - e), vb * e + ib * (1 - e)];
      want[0]![n] = va;
      want[1]![n] = vb;
    }
    expect(maxRelative(a, want[0]!)).toBeLessThan(REL);
    expect(maxRelative(b, want[1]!)).toBeLessThan(REL);
    // B is driven only through the junction, towards 0.05 / 1.05 of A.
    expect(b[b.length - 1]! / a[a.length - 1]!).toBeGreaterThan(0.04);
  });
});

describe('recording a subexpression: its value at the post-step state', () => {
  const network = (): Network =>
    compileText(
      'record_subexpression',
      `neuron Sub {
  parameters { tau = 10 ms   V_rest = -65 mV }
  state { V = -65 mV }
  current I : nA
  equations {
    depol = V - V_rest
    t0 = 2 * depol
    clock = t / (1 ms)
    dV/dt = (-depol + 1 Mohm * I) / tau
  }
  spike when V >= -50 mV
  reset { V = -65 mV }
}
network RecordSub {
  dt = 0.1 ms
  duration = 40 ms
  population P = Sub(2)
  stimulus P.I = 20 nA
  record P.spikes
  record P.V
  record P.depol
  record P.t0
  record P.clock
}`,
    );

  it.each(EVERY_KIND)(
    '%s: depol = V - V_rest and t0 = 2 depol from the recorded V, after the reset too',
    async (kind) => {
      const r = await run(network(), kind);
      const round = kind === 'cpu64' ? (x: number) => x : Math.fround;
      const V = r.traces.get('P.V')![0]!;
      const depol = r.traces.get('P.depol')![0]!;
      const t0 = r.traces.get('P.t0')![0]!;
      expect(r.spikes.get('P')![0]!.length).toBeGreaterThan(1);
      for (let n = 0; n < V.length; n++) {
        expect(depol[n]).toBe(round(V[n]! + 65));
        expect(t0[n]).toBe(round(2 * depol[n]!));
      }
      // The step after a spike records the reset: depol 0.
      expect(depol[r.spikes.get('P')![0]![0]!]).toBe(0);
      // t is the time of the trace's row, the end of the step: (n + 1) dt.
      r.traces
        .get('P.clock')![0]!
        .forEach((clock, n) =>
          expect(Math.abs(clock - (n + 1) * 0.1)).toBeLessThan(1e-5 * (n + 1)),
        );
    },
  );
});

describe('the conformance networks with projections: WebGPU equals the float32 CPU backend', () => {
  // The stdlib neuron models have their own suite (conformance.test.ts); these are the
  // networks of synapses, in every placement, that read and add to their neurons.
  it.skipIf(!HAVE_WEBGPU).each(['rt_synapses', 'rt_post_reads', 'rt_neuron_reads'])(
    '%s: the same spikes and traces, bit for bit',
    async (name) => {
      const result = compileFiles([join(ROOT, 'test', 'models', 'conformance', `${name}.spk`)]);
      expect(result.diagnostics.items.map((d) => d.message)).toEqual([]);
      const network = [...result.program!.networks.values()][0]!;
      const [cpu, gpu] = [await run(network, 'cpu'), await run(network, 'webgpu')];
      const spikes = [...cpu.spikes.values()].flat(2).length;
      expect(spikes).toBeGreaterThan(50);
      expect(gpu.spikes).toEqual(cpu.spikes);
      expect([...gpu.traces.keys()]).toEqual([...cpu.traces.keys()]);
      for (const [label, columns] of cpu.traces)
        columns.forEach((column, k) =>
          expect(Array.from(gpu.traces.get(label)![k]!), `${label}[${k}]`).toEqual(
            Array.from(column),
          ),
        );
    },
  );
});

describe('synapse states may start from their neurons (x = post.V / (1 mV))', () => {
  const network = (): Network =>
    compileText(
      'start_from_neurons',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
neuron Rel {
  parameters { V_rest = -65 mV   tau = 10 ms }
  state { V ~ uniform(-70 mV, -60 mV) }
  current I : nA
  equations {
    depol = V - V_rest
    dV/dt = (-depol + 1 Mohm * I) / tau
  }
  spike when V >= -50 mV
  reset { V = -65 mV }
}
synapse StartMerged {
  state { g : weight = 0   h = post.depol / (1 mV) }
  equations { dg/dt = -g / (5 ms) }
  on_pre { g += w }
  delivers g
}
synapse StartPre {
  state { u = pre.V / (1 mV) }
  delivers w * u
}
synapse StartSynapse {
  state { x = pre.V / (1 mV) + post.V / (10 mV) }
  on_pre { x += 1 }
  on_post { x = 0 }
}
network StartFromNeurons {
  dt = 0.1 ms
  duration = 0.1 ms
  population A = Rel(5)
  population B = Rel(4)
  projection M = A -> B { connect all_to_all   weight 0 nA   synapse StartMerged   output CUBA }
  projection Q = A -> B { connect all_to_all   weight 0 nA   synapse StartPre   output CUBA }
  projection S = A -> B { connect fixed_probability(0.5)   weight 0 nA   synapse StartSynapse }
  record M.h
  record Q.u
  record S.x
}`,
    );

  it('merged per post neuron, per pre neuron and per synapse: the neurons of each element, at the start', async () => {
    const r = await run(network(), 'cpu64');
    const routes = r.plan.routing.routes;
    expect(routes.map((x) => x.placement.placement)).toEqual(['post', 'pre', 'synapse']);
    const VA = r.plan.initial.get('A')!.get('V')!;
    const VB = r.plan.initial.get('B')!.get('V')!;
    expect(new Set(VA).size).toBe(5);
    // No equations for h and u (reading the pre neuron keeps u per pre neuron), and x has no
    // events in the first step.
    r.traces.get('M.h')!.forEach((h, j) => expect(h[0]).toBeCloseTo(VB[j]! + 65, 12));
    r.traces.get('Q.u')!.forEach((u, i) => expect(u[0]).toBeCloseTo(VA[i]!, 12));
    const c = routes[2]!.connectivity;
    if (c.kind !== 'rows') throw new Error('expected stored rows');
    const x = r.traces.get('S.x')!;
    expect(x.length).toBe(c.rows.outTargets.length);
    x.forEach((column, k) =>
      expect(column[0]).toBeCloseTo(
        VA[c.rows.outSources[k]!]! + VB[c.rows.outTargets[k]!]! / 10,
        12,
      ),
    );
  });
});

describe("synapse states may start from their synapse's weight (wmax = 2 * w)", () => {
  const network = (weight: string): Network =>
    compileText(
      'start_from_weight',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
synapse Capped {
  state { wmax : weight = 2 * w   g : weight = w }
  equations { dg/dt = -g / (5 ms) }
  on_pre { g += w }
  delivers g
}
network StartFromWeight {
  dt = 0.1 ms
  duration = 0.2 ms
  population A = Lif(3)
  population B = Lif(4)
  projection P = A -> B { connect fixed_probability(0.7)   weight ${weight}   synapse Capped   output CUBA }
  record P.wmax
  record P.g
}`,
    );

  it('per synapse, each from its own weight (varying and constant); the placement says why', async () => {
    for (const [weight, expected] of [
      ['(1 + i + 10 * j) * 1 nA', (pre: number, post: number) => 1 + pre + 10 * post],
      ['2 nA', () => 2],
    ] as const) {
      const r = await run(network(weight), 'cpu64');
      const route = r.plan.routing.routes[0]!;
      expect(route.placement).toMatchObject({
        placement: 'synapse',
        reason: 'the initial value of wmax reads the weight w: the state is kept per synapse',
      });
      const c = route.connectivity;
      if (c.kind !== 'rows') throw new Error('expected stored rows');
      const wmax = r.traces.get('P.wmax')!;
      const g = r.traces.get('P.g')!;
      expect(wmax.length).toBe(c.rows.outTargets.length);
      expect(wmax.length).toBeGreaterThan(3);
      wmax.forEach((column, k) => {
        const w = expected(c.rows.outSources[k]!, c.rows.outTargets[k]!);
        expect(column[0]).toBe(2 * w);
        // g decays from w (no spikes: Lif at rest) over the first step.
        expect(g[k]![0]).toBeCloseTo(w * Math.exp(-0.1 / 5), 12);
      });
    }
  });

  it('a coarser placement is refused with the reason', () => {
    const text = `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
synapse Capped {
  state { g : weight = w }
  equations { dg/dt = -g / (5 ms) }
  on_pre { g += w }
  delivers g
}
network StartFromWeight {
  dt = 0.1 ms
  duration = 0.2 ms
  population A = Lif(3)
  population B = Lif(4)
  projection P = A -> B { connect all_to_all   weight 1 nA   synapse Capped   output CUBA   placement post }
}`;
    expect(() => buildPlan(compileText('start_from_weight_post', text), 1)).toThrow(
      'placement post would change the results of projection P: the initial value of g reads the weight w: the state is kept per synapse',
    );
  });
});

describe('seed example (a): exponential_cuba.spk', () => {
  it('pre spikes and post V equal the closed form (cpu64, 1e-9); the first effect is at s + 1', async () => {
    const network = compileExample('exponential_cuba.spk');
    const steps = Math.round(network.duration / network.dt);
    const r = await run(network, 'cpu64');
    // Lif defaults: V_rest 0 mV, V_reset -5 mV, V_th 20 mV, tau 10 ms, R 1 Mohm; 25 nA.
    const spikes = r.spikes.get('pre')![0]!;
    expect(spikes).toEqual(
      lifSpikes({ V_rest: 0, V_reset: -5, V_th: 20, tau: 10, drive: 25 }, 0.1, steps),
    );
    expect(spikes).toEqual([160, 340, 520, 700, 880, 1060, 1240, 1420]);
    expect(r.spikes.get('post')![0]).toEqual([]);
    const V = r.traces.get('post.V')![0]!;
    expect(firstChange(V, 0)).toBe(161);
    expect(
      maxRelative(V, postTrace([{ spikes, delay: 1, weight: 5, tau: 8 }], 10, 0.1, steps)),
    ).toBeLessThan(REL);
    // The first post value: 5 nA, decayed once, for one step: V = R g (1 - exp(-dt/tau_m)).
    expect(V[161]).toBeCloseTo(5 * Math.exp(-0.1 / 8) * (1 - Math.exp(-0.01)), 12);
    // The recorded synaptic current (record syn.g, merged per post neuron): 0 up to step 160,
    // then w exp(-dt/tau_s) at step 161, decaying, plus w at each later delivery.
    const g = r.traces.get('syn.g')![0]!;
    expect(firstChange(g, 0)).toBe(161);
    const gHand = new Float64Array(steps);
    let gv = 0;
    for (let n = 0; n < steps; n++) {
      if (spikes.includes(n - 1)) gv += 5;
      gv *= Math.exp(-0.1 / 8);
      gHand[n] = gv;
    }
    expect(maxRelative(g, gHand)).toBeLessThan(REL);
    // The pre trace: from V_reset after each spike towards 25 mV.
    const pre = r.traces.get('pre.V')![0]!;
    let v = 0;
    const decay = Math.exp(-0.01);
    const expected = new Float64Array(steps);
    for (let n = 0; n < steps; n++) {
      v = 25 + (v - 25) * decay;
      if (v >= 20) v = -5;
      expected[n] = v;
    }
    expect(maxRelative(pre, expected)).toBeLessThan(REL);
  });
});

/**
 * NMDA kinetics by hand, post-step values of every step: x += 1 at a delivery, then exp-Euler
 * for g (Jacobi: J and f from the start-of-integration g and the new x) and x (exact decay).
 */
function nmdaTraces(
  deliveries: ReadonlySet<number>,
  steps: number,
  dt: number,
): { g: Float64Array; x: Float64Array } {
  const tauDecay = 100;
  const tauRise = 2;
  const a = 0.5;
  const G = new Float64Array(steps);
  const X = new Float64Array(steps);
  let g = 0;
  let x = 0;
  for (let n = 0; n < steps; n++) {
    if (deliveries.has(n)) x += 1;
    const J = -1 / tauDecay - a * x;
    const f = -g / tauDecay + a * x * (1 - g);
    const z = J * dt;
    g = g + dt * (z === 0 ? 1 : Math.expm1(z) / z) * f;
    x = x * Math.exp(-dt / tauRise);
    G[n] = g;
    X[n] = x;
  }
  return { g: G, x: X };
}

function nmdaStates(
  deliveries: ReadonlySet<number>,
  steps: number,
  dt: number,
): { g: number; x: number } {
  const t = nmdaTraces(deliveries, steps, dt);
  return { g: t.g[steps - 1] ?? 0, x: t.x[steps - 1] ?? 0 };
}

describe('seed example (b): nmda_hh.spk', () => {
  it('the NMDA current first reaches the post neuron at s + 1; the per-pre NMDA state equals the hand recursion (cpu64, 1e-9)', async () => {
    const network = compileExample('nmda_hh.spk');
    const text = readFileSync(join(ROOT, 'examples', 'nmda_hh.spk'), 'utf8');
    expect(text).toContain('weight 0.15 mS/cm^2');
    const silent = compileText(
      'nmda_hh_silent',
      text.replace('weight 0.15 mS/cm^2', 'weight 0 mS/cm^2'),
    );
    const r = await run(network, 'cpu64', { read: ['@pre0'] });
    const quiet = await run(silent, 'cpu64');
    expect(r.plan.routing.preSynapses.map((s) => s.owner)).toEqual(['@pre0']);
    const spikes = r.spikes.get('pre')![0]!;
    expect(spikes.length).toBe(8);
    expect(quiet.spikes.get('pre')).toEqual(r.spikes.get('pre'));
    // Up to the delivery step the post neuron is exactly as without the synapse.
    expect(firstChange(r.traces.get('post.V')![0]!, quiet.traces.get('post.V')![0]!)).toBe(
      spikes[0]! + 1,
    );
    // The NMDA state (per pre-synaptic neuron): the recorded traces (record syn.g, syn.x) at
    // every step, and the state read back after the whole run and at checkpoints.
    const deliveries = new Set(spikes.map((s) => s + 1));
    const steps = Math.round(network.duration / network.dt);
    const hand = nmdaTraces(deliveries, steps, 0.1);
    expect(firstChange(r.traces.get('syn.x')![0]!, 0)).toBe(spikes[0]! + 1);
    expect(firstChange(r.traces.get('syn.g')![0]!, 0)).toBe(spikes[0]! + 1);
    expect(maxRelative(r.traces.get('syn.g')![0]!, hand.g)).toBeLessThan(REL);
    expect(maxRelative(r.traces.get('syn.x')![0]!, hand.x)).toBeLessThan(REL);
    // After T steps (steps 0 .. T-1): the first delivery is in step s + 1, so T = s + 2 is the
    // first run that contains it.
    const checkpoints = [spikes[0]! + 2, spikes[0]! + 3, spikes[0]! + 30, spikes[1]! + 5];
    for (const T of checkpoints) {
      const c = await run(network, 'cpu64', { steps: T, read: ['@pre0'] });
      const state = c.states.get('@pre0')!;
      const hand = nmdaStates(deliveries, T, 0.1);
      expect(Math.abs(state.get('g')![0]! - hand.g), `g after ${T} steps`).toBeLessThanOrEqual(
        REL * Math.max(hand.g, 1e-12),
      );
      expect(Math.abs(state.get('x')![0]! - hand.x), `x after ${T} steps`).toBeLessThanOrEqual(
        REL * Math.max(hand.x, 1e-12),
      );
      // What the projection delivers per unit weight (w is applied at the post neuron): g.
      expect(Math.abs(state.get('@delivered')![0]! - hand.g)).toBeLessThanOrEqual(REL * hand.g);
    }
    // Before the first delivery the state is untouched.
    const before = await run(network, 'cpu64', { steps: spikes[0]! + 1, read: ['@pre0'] });
    expect(before.states.get('@pre0')!.get('g')![0]).toBe(0);
    expect(before.states.get('@pre0')!.get('x')![0]).toBe(0);
    const end = nmdaStates(deliveries, steps, 0.1);
    expect(Math.abs(r.states.get('@pre0')!.get('g')![0]! - end.g)).toBeLessThanOrEqual(REL * end.g);
  });
});

// ---------------------------------------------------------------------------------------------
// Merging

/** Two pre neurons (every 23 and every 41 steps) into one silent post neuron. */
function mergeNetwork(projections: string): Network {
  return compileText(
    'merge',
    `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Merge {
  dt = 0.1 ms
  duration = 60 ms
  seed = 1
  population A = Lif(1) { V_reset = 0 mV }
  population B = Lif(1) { V_reset = 0 mV }
  population post = Lif(1) { V_th = 1000 mV }
  ${projections}
  stimulus A.I = 100 nA
  stimulus B.I = 60 nA
  record A.spikes
  record B.spikes
  record post.V
}`,
  );
}

const PA =
  'projection PA = A -> post { connect all_to_all  weight 2 nA  delay 0.1 ms  synapse Expon(tau = 5 ms)  output CUBA }';
const PB =
  'projection PB = B -> post { connect all_to_all  weight -1.5 nA  delay 1.5 ms  synapse Expon(tau = 5 ms)  output CUBA }';

describe('merging: projections with the same synapse and output parameters share one state', () => {
  it('two projections (different weights and delays) form one group; the result is the analytic sum (cpu64, 1e-9)', async () => {
    const network = mergeNetwork(`${PA}\n  ${PB}`);
    const r = await run(network, 'cpu64', { read: ['post'] });
    expect(r.plan.routing.groups).toHaveLength(1);
    expect(r.plan.routing.groups[0]!.routes.map((x) => x.projection.name)).toEqual(['PA', 'PB']);
    expect(r.plan.routing.groups[0]!.post).toBe('post');
    // One synapse state in the post population, not one per projection.
    expect([...r.states.get('post')!.keys()].filter((k) => k.startsWith('@syn'))).toEqual([
      '@syn0.g',
    ]);
    const a = r.spikes.get('A')![0]!;
    const b = r.spikes.get('B')![0]!;
    expect(a.slice(0, 2)).toEqual([22, 45]);
    expect(b.slice(0, 2)).toEqual([40, 81]);
    const expected = postTrace(
      [
        { spikes: a, delay: 1, weight: 2, tau: 5 },
        { spikes: b, delay: 15, weight: -1.5, tau: 5 },
      ],
      10,
      0.1,
      600,
    );
    expect(maxRelative(r.traces.get('post.V')![0]!, expected)).toBeLessThan(REL);
  });

  it('the merged run equals the sum of the two projections run separately (cpu64, 1e-9)', async () => {
    const merged = await run(mergeNetwork(`${PA}\n  ${PB}`), 'cpu64');
    const onlyA = await run(mergeNetwork(PA), 'cpu64');
    const onlyB = await run(mergeNetwork(PB), 'cpu64');
    const sum = onlyA.traces
      .get('post.V')![0]!
      .map((v, n) => v + onlyB.traces.get('post.V')![0]![n]!);
    expect(maxRelative(merged.traces.get('post.V')![0]!, sum, 1e-6)).toBeLessThan(REL);
  });

  it.skipIf(!HAVE_WEBGPU)(
    'the merged network is bit-identical on the float32 CPU and WebGPU backends',
    async () => {
      const network = mergeNetwork(`${PA}\n  ${PB}`);
      const cpu = await run(network, 'cpu');
      const gpu = await run(network, 'webgpu');
      expect(gpu.spikes).toEqual(cpu.spikes);
      expect(Array.from(gpu.traces.get('post.V')![0]!)).toEqual(
        Array.from(cpu.traces.get('post.V')![0]!),
      );
    },
  );

  it('merging keys on parameter values: a default equal to an explicit value merges; a different tau, output or post does not', () => {
    const groups = (projections: string): string[][] =>
      buildPlan(mergeNetwork(projections), 1).routing.groups.map((g) =>
        g.routes.map((r) => r.projection.name),
      );
    const P = (name: string, pre: string, post: string, synapse: string, output: string): string =>
      `projection ${name} = ${pre} -> ${post} { connect all_to_all  weight ${output === 'CUBA' ? '1 nA' : '1 nS'}  synapse ${synapse}  output ${output} }`;
    expect(
      groups(
        `${P('P1', 'A', 'post', 'Expon', 'CUBA')}\n${P('P2', 'B', 'post', 'Expon(tau = 8 ms)', 'CUBA')}`,
      ),
    ).toEqual([['P1', 'P2']]);
    expect(
      groups(
        `${P('P1', 'A', 'post', 'Expon(tau = 5 ms)', 'CUBA')}\n${P('P2', 'B', 'post', 'Expon(tau = 6 ms)', 'CUBA')}`,
      ),
    ).toEqual([['P1'], ['P2']]);
    expect(
      groups(
        `${P('P1', 'A', 'post', 'Expon', 'CUBA')}\n${P('P2', 'B', 'post', 'Expon', 'COBA(E = 0 mV)')}`,
      ),
    ).toEqual([['P1'], ['P2']]);
    expect(
      groups(
        `${P('P1', 'A', 'post', 'Expon', 'COBA(E = 0 mV)')}\n${P('P2', 'B', 'post', 'Expon', 'COBA(E = -80 mV)')}`,
      ),
    ).toEqual([['P1'], ['P2']]);
    expect(
      groups(
        `${P('P1', 'A', 'post', 'Expon', 'COBA(E = 0 mV)')}\n${P('P2', 'B', 'post', 'Expon', 'COBA(E = 0 mV)')}`,
      ),
    ).toEqual([['P1', 'P2']]);
    expect(
      groups(`${P('P1', 'A', 'post', 'Expon', 'CUBA')}\n${P('P2', 'A', 'B', 'Expon', 'CUBA')}`),
    ).toEqual([['P1'], ['P2']]);
  });
});

// ---------------------------------------------------------------------------------------------
// Placement

describe('placement decisions for the stdlib synapses', () => {
  const stdlib = compileFiles([join(ROOT, 'stdlib', 'synapses.spk')]);
  const expected: readonly [string, 'post' | 'pre'][] = [
    ['Expon', 'post'],
    ['DualExpon', 'post'],
    ['Alpha', 'post'],
    ['NMDA', 'pre'],
    ['AMPA', 'pre'],
    ['GABAa', 'pre'],
    ['STD', 'pre'],
    ['STP', 'pre'],
  ];

  it.each(expected)('%s: %s', (name, placement) => {
    const model = stdlib.program!.models.get(name) as SynapseModel;
    const decision = analysePlacement(model);
    expect(decision.placement).toBe(placement);
    expect(decision.reason).toMatch(
      placement === 'post' ? /merged per post-synaptic neuron/ : /kept per pre-synaptic neuron/,
    );
  });

  it('Delta, which has no state, is merged for that reason', () => {
    const decision = analysePlacement(stdlib.program!.models.get('Delta') as SynapseModel);
    expect(decision.placement).toBe('post');
    expect(decision.reason).toMatch(/^it has no state: /);
  });

  it('state that the weight only scales stays per synapse when it reads its post neuron (shared by many post neurons, per pre neuron it could not)', () => {
    const { program, diagnostics } = compileFiles(
      ['readers.spk'],
      () => `synapse PostOnly {
  state { s = 0 }
  equations { ds/dt = -s * s * (1 + post.V / (20 mV)) / (5 ms) }
  on_pre { s += 1 }
  delivers w * s
}
synapse PreOnly {
  state { s = 0 }
  equations { ds/dt = -s * s * (1 + pre.V / (20 mV)) / (5 ms) }
  on_pre { s += 1 }
  delivers w * s
}
synapse Depressing {
  state { x = 1 }
  equations { dx/dt = (1 - x) / (200 ms) }
  on_pre { post.V += w * x   x -= 0.5 * x }
}`,
    );
    expect(diagnostics.items).toEqual([]);
    const decide = (name: string) => analysePlacement(program!.models.get(name) as SynapseModel);
    expect(decide('PostOnly')).toEqual({
      placement: 'synapse',
      reason:
        'ds/dt has the non-linear term s^2; PostOnly reads its post-synaptic neuron, which differs per synapse: the state is kept per synapse',
    });
    expect(decide('PreOnly').placement).toBe('pre');
    // Brian2's short-term depression written with post.V += w * x: the reason says why not per pre.
    expect(decide('Depressing')).toEqual({
      placement: 'synapse',
      reason:
        "the increment w*x depends on x; Depressing has no 'delivers' that the weight could scale: the state is kept per synapse",
    });
  });

  it('a synapse with noise keeps its state per synapse (independent noise does not merge), and runs', async () => {
    const text = `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
synapse NoisyExp {
  parameters { tau = 5 ms }
  state { g = 0 }
  equations { dg/dt = -g / tau + 0.1 * sqrt(2 / tau) * wiener() }
  on_pre { g += 1 }
  delivers w * g
}
network Net {
  dt = 0.1 ms
  duration = 2 ms
  population X = Poisson(20, rate = 0 Hz)
  population N = Lif(5)
  projection P = X -> N { connect fixed_probability(0.5)  weight 1 nA  synapse NoisyExp  output CUBA }
  record N.V
}`;
    const network = compileText('noisy_synapse', text);
    const decision = analysePlacement(network.projections[0]!.synapse.model);
    expect(decision).toEqual({
      placement: 'synapse',
      reason:
        'dg/dt has noise (wiener()), independent for every synapse: the state is kept per synapse',
    });
    const plan = buildPlan(network, 20);
    const backend = cpuBackend('f64');
    await backend.prepare(plan);
    const { chunks } = await simulate(plan, backend);
    // No input spikes: V moves away from where it started only through the synapses' noise.
    const V = chunks[0]!.traces[0]!;
    expect(V.some((v, k) => v !== V[k % 5])).toBe(true);
  });

  it('a synapse state may start from another, drawn one: per synapse, in dependency order', () => {
    const text = `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
synapse Drawn {
  state { g : weight = 0   half = s / 2   s ~ uniform(0, 1) }
  equations { dg/dt = -g / (5 ms) }
  on_pre { g += w * s }
  on_post { s = clip(s + half, 0, 1) }
  delivers g
}
network Net {
  population X = Poisson(10, rate = 10 Hz)
  population N = Lif(3)
  projection P = X -> N { connect all_to_all  weight 1 nA  synapse Drawn  output CUBA }
}`;
    const plan = buildPlan(compileText('drawn_initial', text), 1);
    const initial = plan.initial.get('@synapse0')!;
    const drawn = initial.get('s')!;
    expect(drawn).toHaveLength(30);
    expect(new Set(drawn).size).toBe(30);
    expect(Array.from(initial.get('half')!)).toEqual(Array.from(drawn, (v) => v / 2));
  });

  it('a network using each of them reports the same decisions (routing and the compile manifest), with the reason', () => {
    const projections = expected
      .map(
        ([name], k) =>
          `projection P${k} = pre -> post { connect all_to_all  weight 1 nA  synapse ${name}  output CUBA }`,
      )
      .join('\n  ');
    const network = compileText(
      'placements',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Placements {
  dt = 0.1 ms
  duration = 1 ms
  seed = 1
  population pre = Lif(2)
  population post = Lif(2)
  ${projections}
  record post.spikes
}`,
    );
    const plan = buildPlan(network, 1);
    const reported = (
      manifest(plan, 'js')['projections'] as { name: string; placement: string; reason: string }[]
    ).map((p) => [p.name, p.placement, p.reason !== ''] as const);
    expect(reported).toEqual(expected.map(([, placement], k) => [`P${k}`, placement, true]));
    // Post-placed: merged groups (different models never share one); pre-placed: one owner each.
    expect(plan.routing.groups.map((g) => g.synapse.model.name)).toEqual([
      'Expon',
      'DualExpon',
      'Alpha',
    ]);
    expect(
      plan.routing.preSynapses.map((s) => [s.owner, s.route.projection.synapse.model.name]),
    ).toEqual([
      ['@pre3', 'NMDA'],
      ['@pre4', 'AMPA'],
      ['@pre5', 'GABAa'],
      ['@pre6', 'STD'],
      ['@pre7', 'STP'],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// STP

const STP = { U: 0.15, tauF: 1500, tauD: 200 };
const DT = 0.1;
/** The pre neuron fires every P = 23 steps from step s0 = 22 (V_reset = V_rest: every interval is the first). */
const P = 23;
const S0 = 22;

function stpNetwork(duration: string, delay = ''): Network {
  return compileText(
    'stp',
    `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Stp {
  dt = 0.1 ms
  duration = ${duration}
  seed = 1
  population pre = Lif(1) { V_reset = 0 mV }
  population post = Lif(1) { V_th = 1000 mV }
  projection p = pre -> post {
    connect all_to_all
    weight 10 nA
    ${delay}
    synapse STP
    output CUBA
  }
  stimulus pre.I = 100 nA
  record pre.spikes
  record post.V
  record p.u
  record p.x
}`,
  );
}

/**
 * u and x at the start of step T for the regular train, interval by interval in closed form:
 * deliveries at m_k = s0 + 1 + k P; between them u decays by a^m and x relaxes to 1 by b^m
 * (a = exp(-dt/tau_f), b = exp(-dt/tau_d)); at m_k, u += U (1 - u), then x -= u x.
 */
function stpClosedForm(T: number): { u: number; x: number } {
  const a = Math.exp(-DT / STP.tauF);
  const b = Math.exp(-DT / STP.tauD);
  let u = STP.U;
  let x = 1;
  let at = 0;
  for (let m = S0 + 1; m < T; m += P) {
    u *= a ** (m - at);
    x = 1 + (x - 1) * b ** (m - at);
    u += STP.U * (1 - u);
    x -= u * x;
    at = m;
  }
  return { u: u * a ** (T - at), x: 1 + (x - 1) * b ** (T - at) };
}

describe('STP: the per-pre state follows the closed form of the step order for a regular spike train', () => {
  it('the pre neuron fires regularly, every 23 steps from step 22', async () => {
    const r = await run(stpNetwork('300 ms'), 'cpu64');
    const spikes = r.spikes.get('pre')![0]!;
    expect(spikes).toEqual(Array.from({ length: spikes.length }, (_, k) => S0 + k * P));
    expect(spikes.length).toBe(Math.floor((3000 - S0 - 1) / P) + 1);
  });

  it('u and x (readState of @pre0, cpu64) equal the closed form to 1e-9 at checkpoints', async () => {
    const network = stpNetwork('300 ms');
    for (const T of [1, S0 + 1, S0 + 2, S0 + 1 + P, S0 + 2 + P, 500, 1001, 3000]) {
      const r = await run(network, 'cpu64', { steps: T, read: ['@pre0'] });
      const state = r.states.get('@pre0')!;
      const hand = stpClosedForm(T);
      expect(Math.abs(state.get('u')![0]! - hand.u) / hand.u, `u after ${T} steps`).toBeLessThan(
        REL,
      );
      expect(Math.abs(state.get('x')![0]! - hand.x) / hand.x, `x after ${T} steps`).toBeLessThan(
        REL,
      );
      // Delivered per unit weight (w = 10 nA is applied at the post neuron): u x.
      expect(
        Math.abs(state.get('@delivered')![0]! - hand.u * hand.x) / (hand.u * hand.x),
      ).toBeLessThan(REL);
    }
  });

  it.each([
    ['', 1],
    ['delay 0.7 ms', 7],
    ['delay 3 ms', 30],
  ] as const)(
    'per-pre state with %s: on_pre first runs at step s + %i (u jumps), on the CPU and WebGPU',
    async (delay, d) => {
      const network = stpNetwork('20 ms', delay);
      for (const kind of EVERY_KIND) {
        const r = await run(network, kind);
        const u = r.traces.get('p.u')![0]!;
        const jump = u.findIndex((v, n) => n > 0 && v > u[n - 1]!);
        expect(jump, kind).toBe(r.spikes.get('pre')![0]![0]! + d);
      }
    },
  );

  it('the first delivery: u = U + U (1 - U) then decays, x = 1 - u', async () => {
    const r = await run(stpNetwork('300 ms'), 'cpu64', { steps: S0 + 2, read: ['@pre0'] });
    const a = Math.exp(-DT / STP.tauF);
    const b = Math.exp(-DT / STP.tauD);
    const uBefore = STP.U * a ** (S0 + 1);
    const uJump = uBefore + STP.U * (1 - uBefore);
    const state = r.states.get('@pre0')!;
    expect(state.get('u')![0]).toBeCloseTo(uJump * a, 12);
    expect(state.get('x')![0]).toBeCloseTo(1 + (1 - uJump - 1) * b, 12);
  });

  it('a long regular train converges to the fixed point of the interval map', async () => {
    // Fixed point at the start of a delivery step: u* = U a^P / (1 - (1 - U) a^P),
    // x* = (1 - b^P) / (1 - b^P (1 - u+)), u+ = u* + U (1 - u*).
    const a = Math.exp(-DT / STP.tauF) ** P;
    const b = Math.exp(-DT / STP.tauD) ** P;
    const u = (STP.U * a) / (1 - (1 - STP.U) * a);
    const uPlus = u + STP.U * (1 - u);
    const x = (1 - b) / (1 - b * (1 - uPlus));
    // The map contracts u by (1 - U) a^P = 0.849 per interval: 200 intervals leave 1e-14.
    const T = S0 + 1 + 200 * P; // the start of the 201st delivery step, 462.3 ms
    const r = await run(stpNetwork('500 ms'), 'cpu64', { steps: T, read: ['@pre0'] });
    const state = r.states.get('@pre0')!;
    expect(Math.abs(state.get('u')![0]! - u) / u).toBeLessThan(1e-8);
    expect(Math.abs(state.get('x')![0]! - x) / x).toBeLessThan(1e-8);
    expect(stpClosedForm(T).u).toBeCloseTo(u, 10);
  });

  it("u and x step by step (record p.u, p.x) and the post neuron, which sees w u x after each step's integration (cpu64, 1e-9)", async () => {
    const network = stpNetwork('300 ms');
    const r = await run(network, 'cpu64');
    const a = Math.exp(-DT / STP.tauF);
    const b = Math.exp(-DT / STP.tauD);
    const decayM = Math.exp(-DT / 10);
    const deliveries = new Set(r.spikes.get('pre')![0]!.map((s) => s + 1));
    let u = STP.U;
    let x = 1;
    let v = 0;
    const expected = new Float64Array(3000);
    const uHand = new Float64Array(3000);
    const xHand = new Float64Array(3000);
    for (let n = 0; n < 3000; n++) {
      if (deliveries.has(n)) {
        u += STP.U * (1 - u);
        x -= u * x;
      }
      u *= a;
      x = 1 + (x - 1) * b;
      const I = 10 * u * x;
      v = I + (v - I) * decayM;
      expected[n] = v;
      uHand[n] = u;
      xHand[n] = x;
    }
    expect(maxRelative(r.traces.get('post.V')![0]!, expected)).toBeLessThan(REL);
    // The recorded per-pre state (record p.u, p.x), step by step, and its closed form at every
    // delivery step.
    expect(maxRelative(r.traces.get('p.u')![0]!, uHand)).toBeLessThan(REL);
    expect(maxRelative(r.traces.get('p.x')![0]!, xHand)).toBeLessThan(REL);
    for (const m of deliveries) {
      if (m >= 3000) continue;
      const closed = stpClosedForm(m + 1);
      expect(Math.abs(r.traces.get('p.u')![0]![m]! - closed.u) / closed.u).toBeLessThan(REL);
      expect(Math.abs(r.traces.get('p.x')![0]![m]! - closed.x) / closed.x).toBeLessThan(REL);
    }
  });

  it.skipIf(!HAVE_WEBGPU)(
    'the STP network gives the same spikes on the float32 CPU and WebGPU, and the same per-pre state',
    async () => {
      const network = stpNetwork('300 ms');
      const cpu = await run(network, 'cpu', { read: ['@pre0'] });
      const gpu = await run(network, 'webgpu', { read: ['@pre0'] });
      expect(gpu.spikes).toEqual(cpu.spikes);
      for (const s of ['u', 'x'])
        expect(gpu.states.get('@pre0')!.get(s)![0]).toBe(cpu.states.get('@pre0')!.get(s)![0]);
      expect(Array.from(gpu.traces.get('post.V')![0]!)).toEqual(
        Array.from(cpu.traces.get('post.V')![0]!),
      );
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Weights and delays that vary per synapse

const COUNT_SYNAPSE = `synapse Count {
  state { c : weight = 0 }
  on_pre { c += w }
  delivers c
}`;

/** Three SpikeTimes sources, all-to-all onto four silent neurons, with weights and delays drawn per synapse. */
function heterogeneousNetwork(weight: string, delay: string): Network {
  return compileText(
    'heterogeneous',
    `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
${COUNT_SYNAPSE}
network Heterogeneous {
  dt = 0.1 ms
  duration = 5 ms
  seed = 7
  population X = SpikeTimes(3, indices = [0, 1, 2, 0], times = [0.5 ms, 1 ms, 1.2 ms, 2 ms])
  population Y = Lif(4) { V_th = 1000000 mV }
  projection P = X -> Y {
    connect all_to_all
    weight ${weight}
    delay ${delay}
    synapse Count
    output CUBA
  }
  record P.c
}`,
  );
}

/** c of each post neuron after each step, by hand: synapse k of pre j adds its weight at step s_j + d_k. */
function countByHand(
  r: Run,
  spikes: readonly (readonly number[])[],
  weight: (k: number) => number,
  delay: (k: number) => number,
  steps: number,
): Float64Array[] {
  const rows = r.plan.routing.routes[0]!.connectivity;
  if (rows.kind !== 'rows') throw new Error('per-synapse data needs stored rows');
  const { outStart, outTargets } = rows.rows;
  const c = Array.from({ length: 4 }, () => new Float64Array(steps));
  spikes.forEach((list, j) => {
    for (const s of list)
      for (let k = outStart[j]!; k < outStart[j + 1]!; k++)
        for (let n = s + delay(k); n < steps; n++) c[outTargets[k]!]![n]! += weight(k);
  });
  return c;
}

describe('weights and delays that vary per synapse', () => {
  const SPIKES = [[5, 20], [10], [12]];

  it('heterogeneous delays: each synapse delivers exactly d_k = round(delay_k / dt) steps after the spike (cpu64, cpu, WebGPU)', async () => {
    const network = heterogeneousNetwork('1 nA', 'uniform(0.1 ms, 1 ms)');
    const steps = 50;
    const runs = await runEverywhere(network);
    const route = runs[0]!.plan.routing.routes[0]!;
    const delays = route.synapticDelays!;
    expect(delays).toHaveLength(12);
    // The draws cover the range: from 1 to 10 steps, not all equal.
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...delays)).toBeLessThanOrEqual(10);
    expect(new Set(delays).size).toBeGreaterThan(4);
    const expected = countByHand(
      runs[0]!,
      SPIKES,
      () => 1,
      (k) => delays[k]!,
      steps,
    );
    for (const r of runs) {
      const c = r.traces.get('P.c')!;
      for (let i = 0; i < 4; i++) expect(Array.from(c[i]!)).toEqual(Array.from(expected[i]!));
    }
  });

  it('a delay of 70001 steps, whose ring slot arithmetic (slots x delay) passes 2^32: arrives exactly on the CPU, and every target compiles', async () => {
    const network = compileText(
      'long-delay',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
${COUNT_SYNAPSE}
network LongDelay {
  dt = 0.1 ms
  duration = 7000.6 ms
  population X = SpikeTimes(1, indices = [0], times = [0.2 ms])
  population Y = Lif(1) { V_th = 1000000 mV }
  projection P = X -> Y {
    connect one_to_one
    weight 1 nA
    delay 7000.1 ms
    synapse Count
    output CUBA
  }
  record P.c
}`,
    );
    const kinds = ['cpu64', 'cpu'] as const;
    const runs = await Promise.all(kinds.map((k) => run(network, k)));
    const arrival = 2 + 70001;
    runs.forEach((r, k) => {
      const c = r.traces.get('P.c')![0]!;
      expect(c.length).toBe(70006);
      expect(c[arrival - 1], kinds[k]).toBe(0);
      expect(c[arrival], kinds[k]).toBeGreaterThan(0);
      expect(c[c.length - 1], kinds[k]).toBe(c[arrival]);
    });
    // The GPU targets' slot constant was slots x delay - delay, past u32 (a WGSL literal error);
    // running 70000 steps on the software adapter takes too long for a unit test: its shaders
    // compile (the same formula runs in the short-delay tests above).
    if (HAVE_WEBGPU) {
      const webgpu = webGpuBackend();
      try {
        await webgpu.prepare(runs[0]!.plan);
      } finally {
        webgpu.dispose();
      }
    }
    // Every unsigned literal of the generated WGSL and CUDA fits in 32 bits.
    for (const target of ['wgsl', 'cuda'] as const) {
      const literals = [...generateSource(runs[0]!.plan, target).matchAll(/\b(\d+)u\b/g)];
      expect(literals.length).toBeGreaterThan(0);
      expect(
        literals.filter((m) => Number(m[1]) >= 2 ** 32).map((m) => m[0]),
        target,
      ).toEqual([]);
    }
  }, 120_000);

  it('weights drawn per synapse add up to the float64 sum within the quantum, identically on every backend', async () => {
    const network = heterogeneousNetwork('normal(1 nA, 0.3 nA)', 'uniform(0.1 ms, 1 ms)');
    const steps = 50;
    const runs = await runEverywhere(network);
    const route = runs[0]!.plan.routing.routes[0]!;
    const weights = route.synapticWeights!;
    // 12 different weights around 1 nA; the quantum is a power of two far below them.
    expect(new Set(weights).size).toBe(12);
    expect(Number.isInteger(Math.log2(route.weight))).toBe(true);
    expect(route.weight).toBeLessThan(1e-7);
    const delays = route.synapticDelays!;
    const expected = countByHand(
      runs[0]!,
      SPIKES,
      (k) => weights[k]!,
      (k) => delays[k]!,
      steps,
    );
    const cpu = runs[1]!.traces.get('P.c')!;
    for (let i = 0; i < 4; i++) {
      for (let n = 0; n < steps; n++)
        expect(Math.abs(cpu[i]![n]! - expected[i]![n]!)).toBeLessThan(
          1e-6 * (1 + expected[i]![n]!),
        );
      // Integer sums: the float32 CPU and WebGPU agree bit for bit.
      for (const r of runs.slice(2))
        expect(Array.from(r.traces.get('P.c')![i]!)).toEqual(Array.from(cpu[i]!));
    }
  });

  it('weights and delays as expressions of i and j (the pre- and post-synaptic indices)', async () => {
    const network = heterogeneousNetwork('1 nA * (i + 1) + 0.25 nA * j', '(i + 1) * 0.1 ms');
    const steps = 50;
    const runs = await runEverywhere(network);
    // All-to-all 3 x 4: synapse k joins pre i = floor(k / 4) to post j = k mod 4.
    const route = runs[0]!.plan.routing.routes[0]!;
    expect(Array.from(route.synapticDelays!)).toEqual(
      Array.from({ length: 12 }, (_, k) => Math.floor(k / 4) + 1),
    );
    const expected = countByHand(
      runs[0]!,
      SPIKES,
      (k) => Math.floor(k / 4) + 1 + 0.25 * (k % 4),
      (k) => Math.floor(k / 4) + 1,
      steps,
    );
    for (const r of runs)
      for (let i = 0; i < 4; i++)
        for (let n = 0; n < steps; n++)
          expect(Math.abs(r.traces.get('P.c')![i]![n]! - expected[i]![n]!)).toBeLessThan(1e-6);
  });

  it('a delay too long for its spike buffers is a diagnostic at the delay, constant or varying', () => {
    for (const delay of ['4320000000 ms', 'uniform(1 ms, 4320000000 ms)']) {
      const text = `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network N {
  population X = Poisson(100, rate = 10 Hz)
  population Y = Lif(10)
  projection P = X -> Y {
    connect fixed_probability(0.5)
    weight 1 nA
    delay ${delay}
    synapse Expon
    output CUBA
  }
}`;
      const network = compileText('long_delay', text);
      let caught: unknown;
      try {
        buildPlan(network, 1);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(DiagnosticError);
      const [d] = (caught as DiagnosticError).diagnostics;
      expect(d!.message).toMatch(
        /^a delay of \d+ steps is too long: its spike buffers, a row of 101 words per step of delay, hold at most 2657775 steps \(265778 ms at dt = 0\.1 ms\)$/,
      );
      expect(text.slice(d!.span.start, d!.span.end)).toBe(delay);
    }
  });

  describe('procedural projections draw a weight of one draw at each connection, nothing else', () => {
    const network = (weight: string, delay = '0.1 ms'): string => `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
${COUNT_SYNAPSE}
network N {
  population X = Poisson(10, rate = 10 Hz)
  population Y = Lif(10)
  projection P = X -> Y {
    connect fixed_probability(0.5) procedural
    weight ${weight}
    delay ${delay}
    synapse Count
    output CUBA
  }
}`;
    it.each([
      ['uniform(0.5 nA, 1 nA)', 1],
      ['2 nA - 0.5 nA * normal(0, 1)', 12],
    ])('%s is drawn (knots at 2^%i + 1 quantiles)', (weight, bits) => {
      const [route] = buildPlan(compileText('procedural_weights', network(weight)), 1).routing
        .routes;
      const c = route!.connectivity;
      expect(c.kind === 'geometric' && c.weights?.bits).toBe(bits);
    });
    it('at p = 1 a constant weight is all to all (no draws), a drawn one keeps the rows; every pair connects', async () => {
      const atOne = (weight: string): Network =>
        compileText(
          'procedural_p1',
          network(weight).replace('fixed_probability(0.5)', 'fixed_probability(1)'),
        );
      const kindOf = (weight: string): string =>
        buildPlan(atOne(weight), 1).routing.routes[0]!.connectivity.kind;
      expect(kindOf('1 nA')).toBe('all');
      expect(kindOf('uniform(0.5 nA, 1 nA)')).toBe('geometric');
      // The same run as stored all_to_all.
      const stored = compileText(
        'stored_all',
        network('1 nA').replace('fixed_probability(0.5) procedural', 'all_to_all'),
      );
      const read = { read: ['Y'] };
      const [a, b] = [await run(atOne('1 nA'), 'cpu', read), await run(stored, 'cpu', read)];
      const V = Array.from(a.states.get('Y')!.get('V')!);
      expect(V.some((v) => v !== 0)).toBe(true);
      expect(V).toEqual(Array.from(b.states.get('Y')!.get('V')!));
    });
    it.each([
      ['uniform(0.5 nA, 1 nA) * i', 'this one depends on the indices i or j'],
      ['uniform(0.5 nA, 1 nA) + normal(0 nA, 1 nA)', 'this one combines several draws'],
      ['normal(1 nA, 0.1 nA) * normal(1, 0.1)', 'this one combines several draws'],
      ['1 nA * exp(normal(0, 1))', 'must be a constant plus a constant times one normal'],
    ])('%s is refused: %s', (weight, reason) => {
      expect(() => buildPlan(compileText('procedural_weights', network(weight)), 1)).toThrow(
        new RegExp(
          `${reason}.*: remove 'procedural' from projection P to store its connections and weights`,
        ),
      );
    });
    it.each([
      [
        '1 nA * sqrt(uniform(-1, 1))',
        '0.1 ms',
        /^the weight of projection P is NaN for the synapse i = \d+, j = \d+: it must be a finite number$/,
      ],
      [
        '1 nA',
        '1 ms * log(normal(1, 1))',
        /^the delay of projection P is NaN for the synapse i = \d+, j = \d+: it must be a finite number$/,
      ],
      [
        '1 nA',
        'normal(1 ms, 5 ms)',
        /^\d+ of the \d+ delays of projection P are negative, the first -[\d.]+ ms for the synapse i = \d+, j = \d+$/,
      ],
    ])(
      'stored: weight %s, delay %s that is not finite or negative at some synapse is refused',
      (weight, delay, message) => {
        const text = network(weight, delay).replace(' procedural', '');
        let caught: unknown;
        try {
          buildPlan(compileText('not_finite', text), 1);
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(DiagnosticError);
        expect((caught as DiagnosticError).diagnostics.map((d) => d.message)).toEqual([
          expect.stringMatching(message),
        ]);
      },
    );
    it('a bounded draw of delays is accepted', () => {
      const text = network('1 nA', 'max(normal(1 ms, 5 ms), 0.1 ms)').replace(' procedural', '');
      expect(() => buildPlan(compileText('bounded_delays', text), 1)).not.toThrow();
    });
    it('delays that vary need stored connections', () => {
      expect(() =>
        buildPlan(compileText('procedural_delays', network('1 nA', 'uniform(1 ms, 2 ms)')), 1),
      ).toThrow(/a delay that varies per synapse needs stored connections: remove 'procedural'/);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Per-synapse state: STDP

/**
 * K pairs: pre neuron k (a SpikeTimes source) spikes once at step PRE_STEPS[k]; post neuron k
 * is driven over threshold by a one-step pulse and spikes at step 100. One-to-one projections
 * with tiny weights (the pairs' spikes do not depend on them) carry the stdlib STDP synapse and
 * a multiplicative rule that writes w itself.
 */
const PRE_STEPS = [20, 60, 90, 100, 101, 110, 140, 180];

function stdpNetwork(): Network {
  const times = PRE_STEPS.map((s) => `${s / 10} ms`).join(', ');
  return compileText(
    'stdp_pairs',
    `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
synapse Multiplicative {
  parameters { tau_pre = 20 ms   A = 0.5 }
  state { g : weight = 0   apre = 0 }
  equations { dg/dt = -g / 5 ms   dapre/dt = -apre / tau_pre }
  on_pre { g += w   apre += A }
  on_post { w = w * (1 + apre) }
  delivers g
}
network Pairs {
  dt = 0.1 ms
  duration = 30 ms
  seed = 3
  population X = SpikeTimes(${PRE_STEPS.length}, indices = [${PRE_STEPS.map((_, k) => k).join(', ')}], times = [${times}])
  population Q = LifRef(${PRE_STEPS.length}) { tau_ref = 20 ms }
  stimulus Q.I = section([0 nA, 2000 nA, 0 nA], [10 ms, 0.1 ms, 20 ms])
  projection P = X -> Q {
    connect one_to_one
    weight 0.000001 nA
    synapse STDP(tau_pre = 15 ms)
    output CUBA
  }
  projection M = X -> Q {
    connect one_to_one
    weight 0.000001 nA
    synapse Multiplicative
    output CUBA
  }
  record P.s
  record M.w
  record X.spikes
  record Q.spikes
}`,
  );
}

describe('per-synapse state: pair-based STDP (on_post)', () => {
  it('the placement is per synapse, with the reason', () => {
    const plan = buildPlan(stdpNetwork(), 1);
    expect(plan.routing.synapses.map((s) => s.owner)).toEqual(['@synapse0', '@synapse1']);
    expect(plan.routing.routes[0]!.placement.reason).toMatch(/on_post/);
  });

  it('the change of s and w for each pre/post lag is the analytic pair rule (cpu64 to 1e-12, cpu f32 to 1e-6)', async () => {
    for (const kind of ['cpu64', 'cpu'] as const) {
      const r = await run(stdpNetwork(), kind);
      expect(r.spikes.get('X')!.map((s) => s[0])).toEqual(PRE_STEPS);
      const post = r.spikes.get('Q')!.map((s) => s[0]!);
      expect(post).toEqual(PRE_STEPS.map(() => 100));
      const s = r.traces.get('P.s')!;
      const w = r.traces.get('M.w')!;
      const tolerance = kind === 'cpu64' ? 1e-12 : 1e-6;
      PRE_STEPS.forEach((pre, k) => {
        // A delay of one step: the lag is the difference of the spike steps.
        const lag = (post[k]! - pre) * 0.1;
        const ds = lag >= 0 ? 0.01 * Math.exp(-lag / 15) : -0.0105 * Math.exp(lag / 20);
        expect(Math.abs(s[k]![299]! - (0.5 + ds))).toBeLessThan(tolerance);
        const factor = lag >= 0 ? 1 + 0.5 * Math.exp(-lag / 20) : 1;
        expect(Math.abs(w[k]![299]! / 1e-6 - factor)).toBeLessThan(tolerance * 10);
        // Nothing changes before the later of the two events.
        expect(s[k]![Math.min(pre, 100)]).toBe(0.5);
      });
    }
  });

  it.skipIf(!HAVE_WEBGPU)(
    'WebGPU gives the float32 CPU backend’s s and w bit for bit',
    async () => {
      const cpu = await run(stdpNetwork(), 'cpu');
      const gpu = await run(stdpNetwork(), 'webgpu');
      expect(gpu.spikes).toEqual(cpu.spikes);
      for (const label of ['P.s', 'M.w'])
        gpu.traces
          .get(label)!
          .forEach((column, k) =>
            expect(Array.from(column)).toEqual(Array.from(cpu.traces.get(label)![k]!)),
          );
    },
  );

  it('recording w needs per-synapse state', () => {
    const text = `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network N {
  population X = Poisson(10, rate = 10 Hz)
  population Y = Lif(10)
  projection P = X -> Y {
    connect all_to_all
    weight 1 nA
    synapse Expon
    output CUBA
  }
  record P.w
}`;
    expect(() => buildPlan(compileText('record_w', text), 1)).toThrow(
      /projection P keeps no weight per synapse \(its synapse state is merged per post-synaptic neuron\)/,
    );
  });
});

/** Poisson inputs onto LIF neurons through one synapse model, its state placed as asked (or as the compiler decides). */
function placedNetwork(
  synapse: string,
  output: string,
  weight: string,
  placement: string,
): Network {
  return compileText(
    'placed',
    `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Placed {
  dt = 0.1 ms
  duration = 100 ms
  seed = 11
  population X = Poisson(40, rate = 40 Hz)
  population Y = Lif(6) { V_th = 1000 mV }
  projection P = X -> Y {
    connect fixed_probability(0.3)
    weight ${weight}
    delay 0.3 ms
    synapse ${synapse}
    output ${output}
    ${placement}
  }
  record Y.V
}`,
  );
}

describe('per-synapse state computes what merged and per-pre state compute', () => {
  it.each([
    ['Expon(tau = 5 ms)', 'CUBA', '2 nA'],
    ['NMDA', 'MgBlock', '0.5 uS'],
  ])(
    '%s with placement synapse equals the compiler’s placement (cpu64, 1e-9)',
    async (synapse, output, weight) => {
      const chosen = await run(placedNetwork(synapse, output, weight, ''), 'cpu64');
      const perSynapse = await run(
        placedNetwork(synapse, output, weight, 'placement synapse'),
        'cpu64',
      );
      expect(chosen.plan.routing.synapses).toHaveLength(0);
      expect(perSynapse.plan.routing.synapses).toHaveLength(1);
      const a = chosen.traces.get('Y.V')!;
      const b = perSynapse.traces.get('Y.V')!;
      for (let i = 0; i < 6; i++) {
        expect(firstChange(a[i]!, a[i]![0]!)).toBeLessThan(1000);
        expect(maxRelative(b[i]!, a[i]!)).toBeLessThan(REL);
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Delta synapses: post.V += w

/** Two SpikeTimes sources onto two LifRef neurons through stdlib Delta synapses (delay 2 steps). */
function deltaNetwork(): Network {
  return compileText(
    'delta',
    `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network DeltaNet {
  dt = 0.1 ms
  duration = 10 ms
  seed = 1
  population X = SpikeTimes(2, indices = [0, 1, 0, 0], times = [1 ms, 1 ms, 3 ms, 5 ms])
  population Y = LifRef(2) { V_rest = 0 mV   V_reset = 0 mV   V_th = 1.2 mV   tau = 20 ms   tau_ref = 2.5 ms }
  projection P = X -> Y {
    connect all_to_all
    weight 0.5 mV
    delay 0.2 ms
    synapse Delta
  }
  record Y.V
  record Y.spikes
}`,
  );
}

describe('refractory holds V only: an adaptive threshold keeps integrating', () => {
  const network = (): Network =>
    compileText(
      'refractory_threshold',
      `neuron AdaptiveThreshold {
  parameters { vt0 = -50 mV   tau = 10 ms   tau_t = 10 ms }
  state { v = -60 mV   vt = -50 mV }
  current I : nA
  equations {
    dv/dt = (-(v + 60 mV) + 1 Mohm * I) / tau
    dvt/dt = (vt0 - vt) / tau_t
  }
  spike when v > vt
  reset { v = -60 mV   vt += 3 mV }
  refractory 2 ms
}
network RefractoryThreshold {
  dt = 0.1 ms
  duration = 30 ms
  population P = AdaptiveThreshold(1)
  stimulus P.I = 25 nA
  record P.spikes
  record P.v
  record P.vt
}`,
    );

  it('v is held, vt relaxes during the refractory period: a hand replay (cpu64, 1e-12)', async () => {
    const r = await run(network(), 'cpu64');
    // Exact propagators (linear, constant input): v -> -35 mV, vt -> -50 mV.
    const a = Math.exp(-0.1 / 10);
    let v = -60;
    let vt = -50;
    let refractory = 0;
    const spikes: number[] = [];
    const expectedV = new Float64Array(300);
    const expectedVt = new Float64Array(300);
    for (let n = 0; n < 300; n++) {
      const next = -35 + (v + 35) * a;
      vt = -50 + (vt + 50) * a;
      if (refractory > 0) refractory -= 1;
      else v = next;
      if (v > vt) {
        spikes.push(n);
        v = -60;
        vt += 3;
        refractory = 20;
      }
      expectedV[n] = v;
      expectedVt[n] = vt;
    }
    expect(spikes.length).toBeGreaterThanOrEqual(3);
    expect(r.spikes.get('P')![0]).toEqual(spikes);
    expect(maxRelative(r.traces.get('P.v')![0]!, expectedV)).toBeLessThan(1e-12);
    expect(maxRelative(r.traces.get('P.vt')![0]!, expectedVt)).toBeLessThan(1e-12);
    // In the steps after the first spike, v stays at the reset while vt moves.
    const s = spikes[0]!;
    const vTrace = r.traces.get('P.v')![0]!;
    const vtTrace = r.traces.get('P.vt')![0]!;
    expect(vTrace[s + 10]).toBe(-60);
    expect(vtTrace[s + 10]).not.toBe(vtTrace[s]);
    // The float64 reference stepper holds the same state.
    const model = network().populations[0]!.source;
    if (model.kind !== 'neuron') throw new Error('expected a neuron population');
    const reference = simulateNeuron64(model.model, {}, { dt: 0.1, steps: 300, input: () => 25 });
    expect(reference.spikeSteps).toEqual(spikes);
    expect(maxRelative(reference.traces['vt']!, expectedVt)).toBeLessThan(1e-12);
  });
});

describe('delta synapses (post.V += w): the jump at delivery, lost while refractory', () => {
  it('V by hand: jumps of 0.5 mV per spike at s + 2, exponential decay, the refractory hold (cpu64, 1e-12)', async () => {
    const r = await run(deltaNetwork(), 'cpu64');
    expect(r.plan.routing.groups).toHaveLength(1);
    expect(r.plan.routing.groups[0]!.output).toBeUndefined();
    const decay = Math.exp(-0.1 / 20);
    // Spikes of X at steps 10 (both), 30, 50 arrive at 12, 32, 52 with 2, 1, 1 jumps of 0.5 mV.
    const arrivals = new Map([
      [12, 2],
      [32, 1],
      [52, 1],
    ]);
    const expected = new Float64Array(100);
    const spikes: number[] = [];
    let v = 0;
    let refractory = 0;
    for (let n = 0; n < 100; n++) {
      const before = v;
      v += 0.5 * (arrivals.get(n) ?? 0);
      if (refractory > 0) {
        v = before;
        refractory -= 1;
      } else {
        v *= decay;
        if (v >= 1.2) {
          spikes.push(n);
          v = 0;
          refractory = 25;
        }
      }
      expected[n] = v;
    }
    // 2 jumps at step 12 cross 1.2 mV? 1.0 mV does not; 0.995 + 0.5 at step 32 does: a spike at 32.
    expect(spikes).toEqual([32]);
    for (const i of [0, 1]) {
      expect(r.spikes.get('Y')![i]).toEqual(spikes);
      expect(maxRelative(r.traces.get('Y.V')![i]!, expected)).toBeLessThan(1e-12);
    }
    // The arrival at step 52 falls in the refractory period (steps 33..57): lost.
    expect(r.traces.get('Y.V')![0]![52]).toBe(0);
  });

  it.skipIf(!HAVE_WEBGPU)('WebGPU equals the float32 CPU backend bit for bit', async () => {
    const cpu = await run(deltaNetwork(), 'cpu');
    const gpu = await run(deltaNetwork(), 'webgpu');
    expect(gpu.spikes).toEqual(cpu.spikes);
    for (const i of [0, 1])
      expect(Array.from(gpu.traces.get('Y.V')![i]!)).toEqual(
        Array.from(cpu.traces.get('Y.V')![i]!),
      );
  });

  it('a synapse that delivers nothing takes no output, and one that delivers needs one', () => {
    const text = (synapse: string, output: string): string => `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network N {
  population X = Poisson(10, rate = 10 Hz)
  population Y = Lif(10)
  projection P = X -> Y {
    connect all_to_all
    weight 1 mV
    synapse ${synapse}
    ${output}
  }
}`;
    const messages = (t: string): string[] =>
      compileAt('outputs', t).diagnostics.items.map((d) => d.message);
    expect(messages(text('Delta', 'output CUBA'))).toEqual([
      "synapse Delta delivers nothing (it has no 'delivers' line), so projection 'P' takes no output",
    ]);
    expect(messages(text('Expon', ''))).toEqual(["projection 'P' has no 'output' line"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Drives that vary with time and the neuron index (Brian2's PoissonGroup(rates='...'), G.I = 'i*...')

describe('Poisson rates and stimuli may vary with t and the neuron index i', () => {
  it('a Poisson rate of section(...) and of t: silent, then the count the rate gives, the same spikes on every backend', async () => {
    const network = compileText(
      'varying_poisson',
      `network VaryingPoisson {
  dt = 0.1 ms
  duration = 100 ms
  seed = 5
  population S = Poisson(200, rate = section([0 Hz, 400 Hz], [50 ms, 50 ms]))
  population R = Poisson(200, rate = t * 8 Hz / ms)
  record S.spikes
  record R.spikes
}`,
    );
    const runs = await runEverywhere(network);
    for (const r of runs.slice(1)) expect(r.spikes).toEqual(runs[0]!.spikes);
    const steps = (p: string): number[] => runs[0]!.spikes.get(p)!.flat();
    // section: no spike in steps 0..499; then p = 400 Hz * 0.1 ms = 0.04 per neuron and step.
    const s = steps('S');
    expect(Math.min(...s)).toBeGreaterThanOrEqual(500);
    const expectedS = 200 * 500 * 0.04;
    expect(Math.abs(s.length - expectedS)).toBeLessThan(5 * Math.sqrt(expectedS));
    // t * 8 Hz/ms: p_n = 8 Hz/ms * (n * 0.1 ms) * 0.1 ms = 8e-5 n; step 0 has rate 0.
    const r = steps('R');
    expect(r).not.toContain(0);
    let expectedR = 0;
    let firstHalf = 0;
    for (let n = 0; n < 1000; n++) {
      expectedR += 200 * 8e-5 * n;
      if (n < 500) firstHalf += 200 * 8e-5 * n;
    }
    expect(Math.abs(r.length - expectedR)).toBeLessThan(5 * Math.sqrt(expectedR));
    const early = r.filter((n) => n < 500).length;
    expect(Math.abs(early - firstHalf)).toBeLessThan(5 * Math.sqrt(firstHalf));
  });

  it('a Poisson rate of i: each source fires at its own rate (neuron 0 never)', async () => {
    const network = compileText(
      'indexed_poisson',
      `network IndexedPoisson {
  dt = 0.1 ms
  duration = 1000 ms
  seed = 6
  population X = Poisson(8, rate = i * 25 Hz)
  record X.spikes
}`,
    );
    const [reference, ...others] = await runEverywhere(network);
    for (const r of others) expect(r.spikes).toEqual(reference!.spikes);
    reference!.spikes.get('X')!.forEach((spikes, i) => {
      // 10000 steps, p = i * 25 Hz * 0.1 ms.
      const expected = 10000 * i * 25e-4;
      expect(Math.abs(spikes.length - expected), `neuron ${i}`).toBeLessThanOrEqual(
        5 * Math.sqrt(expected),
      );
    });
  });

  it('a stimulus of i on a slice: i counts from the start of the slice; V is the closed form (cpu64, 1e-9)', async () => {
    const network = compileText(
      'indexed_stimulus',
      `import "stdlib/neurons.spk"
network IndexedStimulus {
  dt = 0.1 ms
  duration = 20 ms
  population N = Lif(8) { V_th = 1000 mV }
  stimulus N[2:6].I = i * 1 nA + 0.5 nA
  record N.V
}`,
    );
    const [r64, ...float32] = await runEverywhere(network);
    const V = r64!.traces.get('N.V')!;
    V.forEach((column, k) => {
      // Lif (V_rest = 0, R = 1 Mohm, tau = 10 ms): V_n = R I (1 - exp(-(n + 1) dt / tau)).
      const I = k >= 2 && k < 6 ? (k - 2) * 1 + 0.5 : 0;
      const want = Float64Array.from(column, (_, n) => I * (1 - Math.exp(-((n + 1) * 0.1) / 10)));
      expect(maxRelative(column, want), `N.V[${k}]`).toBeLessThan(REL);
    });
    for (const r of float32) expectFloat32Traces(r, r64!, ['N.V']);
  });
});

describe('examples/fi_curve.spk: the f-I curve, neuron i under i * 0.25 nA', () => {
  it('every neuron fires at the steps of the LifRef recursion by hand (cpu64 and cpu): silent up to the rheobase', async () => {
    const network = compileExample('fi_curve.spk');
    // LifRef defaults (V_rest -65, V_reset -68, V_th -55 mV, R 1 Mohm, tau 10 ms), tau_ref 2 ms:
    // 20 held steps after each spike.
    const byHand = (I: number): number[] =>
      lifSpikes({ V_rest: -65, V_reset: -68, V_th: -55, tau: 10, drive: I, held: 20 }, 0.1, 10000);
    const want = Array.from({ length: 100 }, (_, i) => byHand(i * 0.25));
    expect(want.slice(0, 41).flat()).toEqual([]);
    expect(want[99]!.length).toBe(119);
    for (const kind of ['cpu64', 'cpu'] as const) {
      const r = await run(network, kind);
      expect(r.spikes.get('N'), kind).toEqual(want);
    }
  });
});

describe('parameters set per neuron (Brian2 parameters without shared)', () => {
  const population = `population P = LifRef(12) {
    tau ~ uniform(5 ms, 20 ms)
    V_th = -55 mV + i * 0.5 mV
    tau_ref = 2 ms
  }
  stimulus P.I = 20 nA
  record P.spikes
  record P.V`;
  const network = (): Network =>
    compileText(
      'per_neuron_parameters',
      `import "stdlib/neurons.spk"
network PerNeuron {
  dt = 0.1 ms
  duration = 200 ms
  seed = 7
  ${population}
  record P.tau
  record P.V_th
}`,
    );

  it('each neuron fires at the steps of the LifRef recursion with its own tau and V_th (cpu64)', async () => {
    const r = await run(network(), 'cpu64');
    const tau = r.traces.get('P.tau')!.map((column) => column[0]!);
    const threshold = r.traces.get('P.V_th')!.map((column) => column[0]!);
    // Set once, never changed: every row of the traces holds the starting value.
    for (const label of ['P.tau', 'P.V_th'])
      for (const column of r.traces.get(label)!) expect(new Set(column).size).toBe(1);
    expect(threshold).toEqual(Array.from({ length: 12 }, (_, i) => -55 + i * 0.5));
    for (const t of tau) {
      expect(t).toBeGreaterThanOrEqual(5);
      expect(t).toBeLessThan(20);
    }
    expect(new Set(tau).size).toBe(12);
    // V_inf = V_rest + R I = -45 mV; 20 held steps after each spike.
    const byHand = (tauK: number, vTh: number): number[] =>
      lifSpikes(
        { V_rest: -65, V_reset: -68, V_th: vTh, tau: tauK, drive: 20, held: 20 },
        0.1,
        2000,
      );
    const want = tau.map((t, k) => byHand(t, threshold[k]!));
    expect(new Set(want.map((s) => s.length)).size).toBeGreaterThan(3);
    expect(r.spikes.get('P')).toEqual(want);
  });

  it('runs as the model with those parameters written as constant states does, bit for bit on every float32 backend', async () => {
    const byHand = compileText(
      'per_neuron_states',
      `neuron LifRefStates {
  parameters {
    V_rest  = -65 mV
    V_reset = -68 mV
    R       = 1 Mohm
    tau_ref = 0 ms
  }
  state {
    V = V_rest
    tau = 10 ms
    V_th = -55 mV
  }
  current I
  equations {
    dV/dt = (-(V - V_rest) + R * I) / tau
  }
  spike when V >= V_th
  refractory tau_ref
  reset { V = V_reset }
}
network PerNeuron {
  dt = 0.1 ms
  duration = 200 ms
  seed = 7
  ${population.replace('LifRef(12)', 'LifRefStates(12)')}
}`,
    );
    const [, ...perNeuron] = await runEverywhere(network());
    const [, ...states] = await runEverywhere(byHand);
    expect(perNeuron.length).toBe(states.length);
    perNeuron.forEach((r, k) => {
      expect(r.spikes.get('P')).toEqual(states[k]!.spikes.get('P'));
      expect(r.traces.get('P.V')).toEqual(states[k]!.traces.get('P.V'));
      expect(r.spikes.get('P')).toEqual(perNeuron[0]!.spikes.get('P'));
      expect(r.traces.get('P.V')).toEqual(perNeuron[0]!.traces.get('P.V'));
    });
  });

  it('a refractory period set per neuron holds each neuron for its own whole number of steps, on every backend', async () => {
    const strong = compileText(
      'per_neuron_refractory',
      `import "stdlib/neurons.spk"
network PerNeuronRefractory {
  dt = 0.1 ms
  duration = 50 ms
  seed = 5
  population P = LifRef(8) {
    tau_ref ~ uniform(0.5 ms, 3 ms)
  }
  stimulus P.I = 2000 nA
  record P.spikes
  record P.tau_ref
}`,
    );
    const runs = await runEverywhere(strong);
    const periods = runs[0]!.traces.get('P.tau_ref')!.map((column) => column[0]!);
    expect(new Set(periods.map((t) => Math.round(t / 0.1))).size).toBeGreaterThan(4);
    for (const r of runs)
      r.spikes.get('P')!.forEach((steps, k) => {
        // A drive of 2000 nA fires at the first step that integrates: spikes round(tau_ref / dt) + 1 steps apart.
        const gap = Math.round(periods[k]! / 0.1) + 1;
        expect(steps, `neuron ${k}`).toEqual(
          Array.from({ length: Math.ceil(500 / gap) }, (_, n) => n * gap),
        );
      });
  });

  it('a negative refractory period of some neuron is an error naming how many and the first', () => {
    const negative = compileText(
      'negative_refractory',
      `import "stdlib/neurons.spk"
network NegativeRefractory {
  dt = 0.1 ms
  duration = 10 ms
  population P = LifRef(4) {
    tau_ref = i * 1 ms - 1.5 ms
  }
}`,
    );
    let messages: string[] = [];
    try {
      buildPlan(negative, 100);
    } catch (e) {
      if (!(e instanceof DiagnosticError)) throw e;
      messages = e.diagnostics.map((d) => d.message);
    }
    expect(messages).toEqual([
      '2 of the 4 refractory periods of population P are negative or not a number, the first -1.5 ms for neuron 0',
    ]);
  });

  it('exprel(-dt/tau) of a tau set per neuron is computed once per neuron, not in every step, and runs as one value of tau does', async () => {
    const text = (tau: string): Network =>
      compileText(
        'per_neuron_invariant',
        `import "stdlib/neurons.spk"
network PerNeuronInvariant {
  dt = 0.1 ms
  duration = 100 ms
  seed = 3
  population P = LifRef(4) {
    ${tau}
    tau_ref = 2 ms
  }
  stimulus P.I = 20 nA
  record P.spikes
  record P.V
}`,
      );
    const perNeuron = text('tau ~ uniform(10 ms, 10 ms)');
    const kernel = buildPlan(perNeuron, 10).kernels.find((k) => k.population === 'P')!;
    // One value per neuron, read by the kernel: the step calls no exprel.
    expect(kernel.invariants!.map((v) => v.state)).toEqual(['@invariant0']);
    expect(kernel.states).toContain('@invariant0');
    expect(JSON.stringify(kernel.body)).not.toContain('exprel');
    const constant = await runEverywhere(text('tau = 10 ms'));
    const stored = await runEverywhere(perNeuron);
    stored.forEach((r, k) => {
      expect(r.spikes.get('P')).toEqual(constant[k]!.spikes.get('P'));
      expect(r.spikes.get('P')![0]!.length).toBeGreaterThan(3);
      expectFloat32Traces(r, constant[k]!, ['P.V']);
    });
  });

  it('a parameter set by one value stays a constant of the kernel, not a state', () => {
    const plan = buildPlan(network(), 10);
    const kernel = plan.kernels.find((k) => k.population === 'P')!;
    expect(kernel.states).toContain('tau');
    expect(kernel.states).toContain('V_th');
    expect(kernel.states).not.toContain('tau_ref');
    expect(kernel.states).not.toContain('V_rest');
  });
});

describe('parameters and starting values in the unit of the weights', () => {
  it('gmax : weight is given per projection in its weights unit; g : weight starts from a draw in it (cpu64)', async () => {
    const network = compileText(
      'weight_unit_parameters',
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
synapse Capped {
  parameters { gmax : weight }
  state { g : weight ~ uniform(1 nA, 2 nA) }
  on_pre { g = min(g + w, gmax) }
  on_post { g = g }
  delivers g
}
network WeightUnits {
  dt = 0.1 ms
  duration = 1 ms
  population pre = SpikeTimes(2, indices = [0, 0, 0], times = [0.1 ms, 0.3 ms, 0.5 ms])
  population post = Lif(2) { V_th = 1000 mV }
  projection P = pre -> post {
    connect all_to_all
    weight 4 nA
    synapse Capped(gmax = 10 nA)
    output CUBA
  }
  record P.g
}`,
    );
    const r = await run(network, 'cpu64');
    // Synapses in stored order: (0,0), (0,1), (1,0), (1,1); only pre neuron 0 spikes.
    const g = r.traces.get('P.g')!;
    const start = g.map((column) => column[0]!);
    for (const s of start) {
      expect(s).toBeGreaterThanOrEqual(1);
      expect(s).toBeLessThan(2);
    }
    // Spikes at steps 1, 3, 5 arrive one step later: +4 nA each, capped at gmax = 10 nA.
    for (const k of [0, 1]) {
      const column = g[k]!;
      expect(column[2]).toBeCloseTo(start[k]! + 4, 12);
      expect(column[4]).toBeCloseTo(start[k]! + 8, 12);
      expect(column[6]).toBe(10);
      expect(column[9]).toBe(10);
    }
    for (const k of [2, 3]) expect(Array.from(g[k]!)).toEqual(Array(10).fill(start[k]));
  });
});
