/**
 * Connectivity (src/codegen/connectivity.ts) and its delivery on every backend.
 *
 *   - fixed_probability(p), procedural (geometric skipping, regenerated at every spike) and
 *     stored (compressed rows built on the host from the same Philox stream): the realised
 *     in-degrees and out-degrees of a 1000 x 1000 projection with p = 0.05 fit
 *     Binomial(1000, 0.05) (chi-square goodness of fit, p-value > 0.001, fixed seed), and the
 *     stored rows are the procedural rows.
 *   - fixed_in_degree(k) and fixed_out_degree(k): exactly k distinct sources per post neuron /
 *     targets per pre neuron, and the other side's degrees fit their binomial law.
 *   - Delivery: a network whose synapse only counts (c += w, no decay) reads back, per post
 *     neuron, the number of spikes delivered (or, for procedural projections with drawn
 *     weights, the sum of the drawn weights); it equals the count computed on the host from
 *     the recorded pre spikes and forEachTarget, on the float32 and float64 CPU backends and on
 *     WebGPU, which also give identical spikes (and the float32 CPU's sums of drawn weights).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Connectivity,
  buildConnectivity,
  forEachTarget,
} from '../src/codegen/connectivity.js';
import { BufferLayout, BufferTooLargeError } from '../src/codegen/layout.js';
import { buildPlan, layoutOf } from '../src/codegen/module.js';
import type { NetworkRouting } from '../src/codegen/network.js';
import type { Connector, Network } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';
import type { Backend } from '../src/runtime/backend.js';
import { cpuBackend, webGpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { openWebGpu } from './support/webgpu.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// Kept open until the end of the file (see network.test.ts: closing the probe at once crashed workers).
const probe = await openWebGpu();
if (!probe.ok)
  console.warn(
    `connectivity: WebGPU checks SKIPPED, no WebGPU adapter could be opened: ${probe.reason}`,
  );
const HAVE_WEBGPU = probe.ok;
afterAll(() => {
  if (probe.ok) probe.gpu.close();
});

// ---------------------------------------------------------------------------------------------
// Statistics

/** ln Gamma(x), x > 0 (Lanczos, g = 7, n = 9; relative error ~1e-15). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Q(a, x) = Gamma(a, x) / Gamma(a), the regularized upper incomplete gamma function (series or continued fraction). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return 1 - sum * Math.exp(lead);
  }
  // Lentz's continued fraction for Gamma(a, x).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(lead) * h;
}

/** P(X > chi2) for X ~ chi-square with df degrees of freedom. */
function chiSquareSurvival(chi2: number, df: number): number {
  return gammaQ(df / 2, chi2 / 2);
}

function binomialPmf(n: number, p: number, k: number): number {
  return Math.exp(
    logGamma(n + 1) -
      logGamma(k + 1) -
      logGamma(n - k + 1) +
      k * Math.log(p) +
      (n - k) * Math.log1p(-p),
  );
}

interface Fit {
  readonly chi2: number;
  readonly df: number;
  readonly pValue: number;
  readonly bins: number;
}

/**
 * Chi-square goodness of fit of observed values (each in 0..n) to Binomial(n, p): bins of
 * consecutive values, merged from the left until each expects at least 5 observations (the last
 * one takes the upper tail); df = bins - 1 (no parameter is estimated).
 */
function binomialFit(values: readonly number[], n: number, p: number): Fit {
  const counts = new Array<number>(n + 1).fill(0);
  for (const v of values) counts[v]! += 1;
  const bins: { observed: number; expected: number }[] = [];
  let observed = 0;
  let expected = 0;
  for (let k = 0; k <= n; k++) {
    observed += counts[k]!;
    expected += values.length * binomialPmf(n, p, k);
    if (expected >= 5) {
      bins.push({ observed, expected });
      observed = 0;
      expected = 0;
    }
  }
  const last = bins[bins.length - 1]!;
  bins[bins.length - 1] = {
    observed: last.observed + observed,
    expected: last.expected + expected,
  };
  const chi2 = bins.reduce((s, b) => s + (b.observed - b.expected) ** 2 / b.expected, 0);
  const df = bins.length - 1;
  return { chi2, df, pValue: chiSquareSurvival(chi2, df), bins: bins.length };
}

describe('the chi-square survival function used below', () => {
  it.each([
    [3.841458820694124, 1, 0.05],
    [6.634896601021214, 1, 0.01],
    [18.307038053275146, 10, 0.05],
    [29.587838, 10, 0.001],
    [67.50480655, 50, 0.05],
    [10, 10, 0.44049328506521257],
    [0, 5, 1],
  ])('P(X > %f) for chi-square with df = %d is %f', (chi2, df, p) => {
    expect(chiSquareSurvival(chi2, df)).toBeCloseTo(p, 6);
  });

  it('binomial probabilities sum to 1 and have mean n p', () => {
    let total = 0;
    let mean = 0;
    for (let k = 0; k <= 1000; k++) {
      const q = binomialPmf(1000, 0.05, k);
      total += q;
      mean += k * q;
    }
    expect(total).toBeCloseTo(1, 12);
    expect(mean).toBeCloseTo(50, 9);
  });
});

// ---------------------------------------------------------------------------------------------
// Connections on the host

const SEED = 20260;
const N = 1000;

function rowsOf(c: Connectivity, nPre: number, nPost: number, seed = SEED): number[][] {
  return Array.from({ length: nPre }, (_, j) => {
    const row: number[] = [];
    forEachTarget(c, j, nPost, seed, (i) => row.push(i));
    return row;
  });
}

function inDegrees(rows: readonly (readonly number[])[], nPost: number): number[] {
  const d = new Array<number>(nPost).fill(0);
  for (const row of rows) for (const i of row) d[i]! += 1;
  return d;
}

function expectStrictlyAscendingWithin(list: ArrayLike<number>, n: number, what: string): void {
  for (let k = 0; k < list.length; k++) {
    expect(list[k]!, what).toBeGreaterThanOrEqual(0);
    expect(list[k]!, what).toBeLessThan(n);
    if (k > 0) expect(list[k]!, `${what}: ascending, no duplicates`).toBeGreaterThan(list[k - 1]!);
  }
}

it('procedural fixed_probability(1) stays procedural and connects every pair, as stored all_to_all does', () => {
  const connector: Connector = { kind: 'fixed_probability', p: 1 };
  const procedural = buildConnectivity(connector, true, 30, 50, SEED, 'Test.P');
  expect(procedural.kind).toBe('geometric');
  expect(buildConnectivity(connector, false, 30, 50, SEED, 'Test.P').kind).toBe('all');
  const every = Array.from({ length: 50 }, (_, i) => i);
  expect(rowsOf(procedural, 30, 50)).toEqual(Array.from({ length: 30 }, () => every));
});

describe('fixed_probability(0.05), 1000 x 1000', () => {
  const connector: Connector = { kind: 'fixed_probability', p: 0.05 };
  const procedural = buildConnectivity(connector, true, N, N, SEED, 'Test.P');
  const stored = buildConnectivity(connector, false, N, N, SEED, 'Test.P');
  const rows = rowsOf(procedural, N, N);

  it('procedural connectivity is generated, stored connectivity is compressed rows', () => {
    expect(procedural.kind).toBe('geometric');
    expect(stored.kind).toBe('rows');
  });

  it('stored rows equal procedural rows for the same seed (forEachTarget over both)', () => {
    expect(rowsOf(stored, N, N)).toEqual(rows);
    for (const [j, row] of rows.entries()) expectStrictlyAscendingWithin(row, N, `row ${j}`);
  });

  it('the stored in-rows are the transpose of the out-rows', () => {
    if (stored.kind !== 'rows') throw new Error('expected rows');
    const { inStart, inSources } = stored.rows;
    const transposed: number[][] = Array.from({ length: N }, () => []);
    rows.forEach((row, j) => row.forEach((i) => transposed[i]!.push(j)));
    for (let i = 0; i < N; i++)
      expect(Array.from(inSources.subarray(inStart[i]!, inStart[i + 1]!))).toEqual(transposed[i]);
  });

  it('in-degrees fit Binomial(1000, 0.05) (chi-square p-value > 0.001)', () => {
    const fit = binomialFit(inDegrees(rows, N), N, 0.05);
    console.log(
      `fixed_probability in-degrees: chi2 = ${fit.chi2.toFixed(2)}, df = ${fit.df}, p = ${fit.pValue.toFixed(4)}`,
    );
    expect(fit.bins).toBeGreaterThan(15);
    expect(fit.pValue).toBeGreaterThan(0.001);
  });

  it('out-degrees fit Binomial(1000, 0.05) (chi-square p-value > 0.001)', () => {
    const fit = binomialFit(
      rows.map((r) => r.length),
      N,
      0.05,
    );
    console.log(
      `fixed_probability out-degrees: chi2 = ${fit.chi2.toFixed(2)}, df = ${fit.df}, p = ${fit.pValue.toFixed(4)}`,
    );
    expect(fit.pValue).toBeGreaterThan(0.001);
  });

  it('the number of connections is N^2 p within 4 standard deviations; no pair favoured by position', () => {
    const total = rows.reduce((s, r) => s + r.length, 0);
    const sd = Math.sqrt(N * N * 0.05 * 0.95);
    expect(Math.abs(total - N * N * 0.05)).toBeLessThan(4 * sd);
    // The first target of a row is 0 with probability p, as every other target.
    const firstIsZero = rows.filter((r) => r[0] === 0).length;
    expect(Math.abs(firstIsZero - N * 0.05)).toBeLessThan(4 * Math.sqrt(N * 0.05 * 0.95));
  });

  it('another seed or another projection gives other connections', () => {
    expect(rowsOf(procedural, 5, N, SEED + 1)).not.toEqual(rows.slice(0, 5));
    expect(rowsOf(buildConnectivity(connector, true, N, N, SEED, 'Test.Q'), 5, N)).not.toEqual(
      rows.slice(0, 5),
    );
  });

  it('p = 1 connects everything, p = 0 nothing', () => {
    expect(
      rowsOf(
        buildConnectivity({ kind: 'fixed_probability', p: 1 }, true, 3, 4, SEED, 'Test.P'),
        3,
        4,
      ),
    ).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
    expect(
      rowsOf(
        buildConnectivity({ kind: 'fixed_probability', p: 0 }, false, 3, 4, SEED, 'Test.P'),
        3,
        4,
      ),
    ).toEqual([[], [], []]);
  });
});

describe('fixed_in_degree and fixed_out_degree', () => {
  it('fixed_in_degree(50): exactly 50 distinct sources per post neuron; out-degrees fit Binomial(800, 50/1000)', () => {
    const c = buildConnectivity({ kind: 'fixed_in_degree', k: 50 }, false, N, 800, SEED, 'Test.In');
    if (c.kind !== 'rows') throw new Error('expected stored rows');
    const { inStart, inSources, outStart } = c.rows;
    for (let i = 0; i < 800; i++) {
      expect(inStart[i + 1]! - inStart[i]!, `post ${i}`).toBe(50);
      expectStrictlyAscendingWithin(
        inSources.subarray(inStart[i]!, inStart[i + 1]!),
        N,
        `sources of post ${i}`,
      );
    }
    const outDegrees = Array.from({ length: N }, (_, j) => outStart[j + 1]! - outStart[j]!);
    for (const [j, row] of rowsOf(c, N, 800).entries())
      expectStrictlyAscendingWithin(row, 800, `targets of pre ${j}`);
    const fit = binomialFit(outDegrees, 800, 50 / N);
    console.log(
      `fixed_in_degree out-degrees: chi2 = ${fit.chi2.toFixed(2)}, df = ${fit.df}, p = ${fit.pValue.toFixed(4)}`,
    );
    expect(fit.pValue).toBeGreaterThan(0.001);
  });

  it('fixed_out_degree(40): exactly 40 distinct targets per pre neuron; in-degrees fit Binomial(1000, 40/600)', () => {
    const c = buildConnectivity(
      { kind: 'fixed_out_degree', k: 40 },
      false,
      N,
      600,
      SEED,
      'Test.Out',
    );
    if (c.kind !== 'rows') throw new Error('expected stored rows');
    const rows = rowsOf(c, N, 600);
    for (const [j, row] of rows.entries()) {
      expect(row.length, `pre ${j}`).toBe(40);
      expectStrictlyAscendingWithin(row, 600, `targets of pre ${j}`);
    }
    const fit = binomialFit(inDegrees(rows, 600), N, 40 / 600);
    console.log(
      `fixed_out_degree in-degrees: chi2 = ${fit.chi2.toFixed(2)}, df = ${fit.df}, p = ${fit.pValue.toFixed(4)}`,
    );
    expect(fit.pValue).toBeGreaterThan(0.001);
  });

  it('k equal to the population size connects everything, once', () => {
    const c = buildConnectivity({ kind: 'fixed_in_degree', k: 7 }, false, 7, 3, SEED, 'Test.All');
    expect(rowsOf(c, 7, 3)).toEqual(Array.from({ length: 7 }, () => [0, 1, 2]));
  });
});

// ---------------------------------------------------------------------------------------------
// Delivery on every backend

/**
 * A Poisson population into four counting post populations: procedural and stored
 * fixed_probability (on slices, so that local and global indices differ), fixed_in_degree and
 * fixed_out_degree. The synapse Count never decays: c is the weight times the number of spikes
 * delivered to that neuron.
 */
const COUNT_NETWORK = `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
synapse Count {
  state { c : weight = 0 }
  on_pre { c += w }
  delivers c
}
network Counting {
  dt = 0.1 ms
  duration = 20 ms
  seed = 99
  population X = Poisson(500, rate = 50 Hz)
  population proc = Lif(400) { V_th = 1000000 mV }
  population stored = Lif(400) { V_th = 1000000 mV }
  population indeg = Lif(300) { V_th = 1000000 mV }
  population outdeg = Lif(300) { V_th = 1000000 mV }
  population drawn = Lif(300) { V_th = 1000000 mV }
  projection P = X[100:500] -> proc[50:400] {
    connect fixed_probability(0.05) procedural
    weight 1 nA
    delay 0.3 ms
    synapse Count
    output CUBA
  }
  projection S = X[0:450] -> stored[20:400] {
    connect fixed_probability(0.05)
    weight 1 nA
    synapse Count
    output CUBA
  }
  projection I = X -> indeg {
    connect fixed_in_degree(25)
    weight 1 nA
    synapse Count
    output CUBA
  }
  projection O = X -> outdeg {
    connect fixed_out_degree(15)
    weight 1 nA
    delay 1.5 ms
    synapse Count
    output CUBA
  }
  projection N = X[0:300] -> drawn {
    connect fixed_probability(0.1) procedural
    weight normal(1 nA, 0.25 nA)
    synapse Count
    output CUBA
  }
  projection U = X[200:500] -> drawn[100:300] {
    connect fixed_probability(0.05) procedural
    weight uniform(-0.5 nA, 2 nA)
    delay 0.5 ms
    synapse Count
    output CUBA
  }
  record X.spikes
}`;

function countNetwork(): Network {
  const entry = join(ROOT, 'test', 'counting.spk');
  const result = compileFiles(
    [entry],
    (p) => (p === entry ? COUNT_NETWORK : readFileSync(p, 'utf8')),
    (p) => p === entry || existsSync(p),
  );
  expect(result.diagnostics.items.map((d) => d.message)).toEqual([]);
  return [...result.program!.networks.values()][0]!;
}

type Kind = 'cpu64' | 'cpu' | 'webgpu';

async function runCounting(
  kind: Kind,
): Promise<{ spikes: { steps: number[]; indices: number[] }; counts: Map<string, Float64Array> }> {
  const network = countNetwork();
  const steps = Math.round(network.duration / network.dt);
  const plan = buildPlan(network, steps);
  const backend: Backend =
    kind === 'cpu64' ? cpuBackend('f64') : kind === 'cpu' ? cpuBackend('f32') : webGpuBackend();
  try {
    await backend.prepare(plan);
    const { chunks } = await simulate(plan, backend);
    const spikes = { steps: [] as number[], indices: [] as number[] };
    for (const chunk of chunks) {
      const s = chunk.spikes.get('X')!;
      spikes.steps.push(...Array.from(s.steps));
      spikes.indices.push(...Array.from(s.indices));
    }
    const counts = new Map<string, Float64Array>();
    for (const group of plan.routing.groups) {
      const state = await backend.readState(group.post);
      counts.set(group.post, state.get(`${group.owner}.c`)!);
    }
    return { spikes, counts };
  } finally {
    backend.dispose();
  }
}

/** Per post population, the spikes each neuron receives by the end, from the recorded spikes and forEachTarget. */
function expectedCounts(spikes: {
  steps: readonly number[];
  indices: readonly number[];
}): Map<string, Float64Array> {
  const network = countNetwork();
  const steps = Math.round(network.duration / network.dt);
  const plan = buildPlan(network, steps);
  const result = new Map<string, Float64Array>();
  for (const route of plan.routing.routes) {
    const p = route.projection;
    const post = network.populations.find((q) => q.name === p.post)!;
    const counts = result.get(p.post) ?? new Float64Array(post.size);
    result.set(p.post, counts);
    const nPost = p.postRange.end - p.postRange.start;
    spikes.steps.forEach((s, k) => {
      const j = spikes.indices[k]! - p.preRange.start;
      // Delivered in step s + d; the run has steps 0 .. steps - 1.
      if (j < 0 || j >= p.preRange.end - p.preRange.start || s + route.delaySteps >= steps) return;
      // Drawn weights come in quanta of route.weight; other counts are spikes (weight 1 nA).
      const quantum = drawsWeights(route.connectivity) ? route.weight : 1;
      forEachTarget(
        route.connectivity,
        j,
        nPost,
        network.seed,
        (i, w) => (counts[p.postRange.start + i]! += w * quantum),
      );
    });
  }
  return result;
}

function drawsWeights(c: Connectivity): boolean {
  return c.kind === 'geometric' && c.weights !== undefined;
}

describe('delivery through every kind of connectivity', () => {
  it('the plan routes the six projections as written', () => {
    const plan = buildPlan(countNetwork(), 1);
    expect(
      plan.routing.routes.map((r) => [
        r.projection.name,
        r.connectivity.kind,
        r.delaySteps,
        drawsWeights(r.connectivity),
      ]),
    ).toEqual([
      ['P', 'geometric', 3, false],
      ['S', 'rows', 1, false],
      ['I', 'rows', 1, false],
      ['O', 'rows', 15, false],
      ['N', 'geometric', 1, true],
      ['U', 'geometric', 5, true],
    ]);
    // N and U merge: one state per drawn neuron, each route's counter scaled by its own quantum.
    expect(plan.routing.groups.map((g) => g.post)).toEqual([
      'proc',
      'stored',
      'indeg',
      'outdeg',
      'drawn',
    ]);
  });

  it.each(['cpu64', 'cpu'] as const)(
    '%s: the spikes (and drawn weights) delivered to every post neuron equal the host-side count',
    async (kind) => {
      const run = await runCounting(kind);
      expect(run.spikes.steps.length).toBeGreaterThan(300);
      const expected = expectedCounts(run.spikes);
      let total = 0;
      for (const [population, counts] of expected) {
        const got = Array.from(run.counts.get(population)!);
        // Float32 rounds the sums of drawn weights (c += count * quantum, step by step).
        if (population === 'drawn' && kind === 'cpu')
          got.forEach((c, i) => expect(c).toBeCloseTo(counts[i]!, 3));
        else expect(got, population).toEqual(Array.from(counts));
        total += counts.reduce((s, c) => s + c, 0);
      }
      expect(total).toBeGreaterThan(5000);
      // Post neurons outside the projections' slices receive nothing.
      expect(Array.from(run.counts.get('proc')!.subarray(0, 50)).every((c) => c === 0)).toBe(true);
      expect(Array.from(run.counts.get('stored')!.subarray(0, 20)).every((c) => c === 0)).toBe(
        true,
      );
    },
  );

  it.skipIf(!HAVE_WEBGPU)(
    'WebGPU: the same Poisson spikes as the CPU, and the same delivered counts',
    async () => {
      const cpu = await runCounting('cpu');
      const gpu = await runCounting('webgpu');
      expect(gpu.spikes).toEqual(cpu.spikes);
      const expected = expectedCounts(gpu.spikes);
      for (const [population, counts] of expected) {
        const got = Array.from(gpu.counts.get(population)!);
        // The float32 sums of drawn weights as the CPU rounds them; the rest exact counts.
        if (population === 'drawn')
          expect(got, population).toEqual(Array.from(cpu.counts.get(population)!));
        else expect(got, population).toEqual(Array.from(counts));
      }
    },
  );
});

describe('memory of procedural connectivity', () => {
  /** examples/ei_net.spk at n neurons (0.8 n E, 0.2 n I), procedural or stored. */
  function eiPlan(n: number, procedural: boolean) {
    const file = join(ROOT, 'examples', 'ei_net.spk');
    const text = readFileSync(file, 'utf8')
      .replace('LifRef(4000)', `LifRef(${n})`)
      .replace('N[0:3200]', `N[0:${(n * 4) / 5}]`)
      .replace('N[3200:4000]', `N[${(n * 4) / 5}:${n}]`)
      .replaceAll(' procedural', procedural ? ' procedural' : '');
    const compiled = compileFiles([file], (p) => (p === file ? text : readFileSync(p, 'utf8')));
    const network = compiled.program?.networks.get('EINet');
    expect(compiled.diagnostics.items.map((d) => d.message)).toEqual([]);
    return buildPlan(network!, 1);
  }

  it('does not grow with the number of synapses: the E/I network at 4x the neurons (16x the synapses)', () => {
    const words = (n: number, procedural: boolean): number =>
      layoutOf(eiPlan(n, procedural)).connectivityWords;
    // Two skip tables (p = 0.02) with their guides, whatever the size.
    expect(words(1000, true)).toBe(words(4000, true));
    expect(words(4000, true)).toBeLessThan(5000);
    // Stored, the same connections take about 16x the words (80 per neuron at 4000 each way).
    expect(words(4000, false) / words(1000, false)).toBeGreaterThan(12);
  });
});

describe('buffers past 32-bit indices', () => {
  it('a connectivity buffer of more than 2^32 - 1 words is refused before it is allocated', () => {
    // A skip table that only claims its length: the layout adds the lengths up first.
    const huge = { length: 2 ** 32 } as Uint32Array;
    const routing = {
      routes: [
        {
          index: 0,
          connectivity: { kind: 'geometric', table: { entries: huge, guide: huge }, stream: 1 },
        },
      ],
      deliveries: [],
      ringSlots: new Map(),
      spikeTimes: new Map(),
    } as unknown as NetworkRouting;
    expect(() => new BufferLayout([], [], routing)).toThrow(BufferTooLargeError);
    expect(() => new BufferLayout([], [], routing)).toThrow(/connectivity needs 8589934592 words/);
  });
});

describe('fixed_probability of i and j: a probability per pair (Brian2 connect(p=...))', () => {
  function pairwisePlan(probability: string, seed = 9): ReturnType<typeof buildPlan> {
    const entry = join(ROOT, 'test', 'pairwise.spk');
    const text = `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Pairwise {
  seed = ${seed}
  population A = Lif(600)
  population B = Lif(500)
  projection P = A[100:600] -> B { connect fixed_probability(${probability})  weight 1 nA  synapse Expon  output CUBA }
}`;
    const result = compileFiles(
      [entry],
      (p) => (p === entry ? text : readFileSync(p, 'utf8')),
      (p) => p === entry || existsSync(p),
    );
    expect(result.diagnostics.items.map((d) => d.message)).toEqual([]);
    return buildPlan([...result.program!.networks.values()][0]!, 1);
  }

  const pairsOf = (plan: ReturnType<typeof buildPlan>): [number, number][] => {
    const c = plan.routing.routes[0]!.connectivity;
    if (c.kind !== 'rows') throw new Error(`stored rows expected, not ${c.kind}`);
    return Array.from(c.rows.outTargets, (post, k) => [c.rows.outSources[k]!, post]);
  };

  it('exp(-abs(i - j) / 10) without autapses: the fraction connected at each distance fits p (chi-square), none at i == j', () => {
    const pairs = pairsOf(pairwisePlan('where(i == j, 0, exp(-abs(i - j) / 10))'));
    // i and j count from the slices' starts (A[100:600] and B): 500 x 500 pairs.
    const connected = new Array<number>(500).fill(0);
    for (const [i, j] of pairs) connected[Math.abs(i - j)]! += 1;
    expect(connected[0]).toBe(0);
    let chi2 = 0;
    let df = 0;
    for (let d = 1; d <= 40; d++) {
      const candidates = 2 * (500 - d);
      const p = Math.exp(-d / 10);
      const expected = candidates * p;
      chi2 += (connected[d]! - expected) ** 2 / (expected * (1 - p));
      df++;
    }
    expect(chiSquareSurvival(chi2, df)).toBeGreaterThan(1e-4);
    // Far pairs: p < 2e-9 each beyond d = 200, about 1e-4 connections expected there.
    expect(connected.slice(200).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('the same rows for the same seed, other rows for another; p outside [0, 1] is 0 or 1', () => {
    const a = pairsOf(pairwisePlan('exp(-abs(i - j) / 10)'));
    expect(pairsOf(pairwisePlan('exp(-abs(i - j) / 10)'))).toEqual(a);
    expect(pairsOf(pairwisePlan('exp(-abs(i - j) / 10)', 10))).not.toEqual(a);
    const clipped = pairsOf(pairwisePlan('where(i < 2, 5, -1)'));
    expect(clipped).toHaveLength(2 * 500);
    expect(clipped.every(([i]) => i < 2)).toBe(true);
  });
});
