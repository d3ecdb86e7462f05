/**
 * SpikeTimes sources (grammar/decisions.md, "Networks"; BrainPy's SpikeTimeGroup,
 * shared/docs/brainpy-semantics.md 11.5): neuron i spikes in the first step n with
 * t_n = n dt >= time, i.e. step ceil(time / dt) up to 1e-9 of a step of float noise; events of
 * one neuron in the same step give one spike; events after the run never fire (negative times
 * are refused by the compiler).
 *
 * The networks are those of test/models/spike_times.spk. spikes.csv must list exactly the
 * expected (time, index) rows on cpu, cpu64 and WebGPU (skipped, with the reason printed,
 * where no WebGPU adapter opens); a source drives a Lif through Expon/CUBA with a 1 ms delay
 * (the first change of the post V is at step s + 10) and through NMDA, whose state lives per
 * pre-synaptic neuron (first change at s + 1).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlan } from '../src/codegen/module.js';
import { spikeTimeTable } from '../src/codegen/network.js';
import { spikeStep } from '../src/codegen/steps.js';
import type { Network } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';
import type { Backend, Chunk } from '../src/runtime/backend.js';
import { OutputWriter } from '../src/runtime/output.js';
import { cpuBackend, webGpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { openWebGpu } from './support/webgpu.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// Kept open until the end of the file, as in network.test.ts (closing it at once crashed workers).
const probe = await openWebGpu();
if (!probe.ok)
  console.warn(`spike-times: WebGPU checks SKIPPED, no WebGPU adapter: ${probe.reason}`);
const HAVE_WEBGPU = probe.ok;
afterAll(() => {
  if (probe.ok) probe.gpu.close();
});

const compiled = compileFiles([join(ROOT, 'test', 'models', 'spike_times.spk')]);

function network(name: string): Network {
  expect(compiled.diagnostics.items.map((d) => d.message)).toEqual([]);
  const n = compiled.program?.networks.get(name);
  if (n === undefined) throw new Error(`no network ${name} in test/models/spike_times.spk`);
  return n;
}

type Kind = 'cpu64' | 'cpu' | 'webgpu';
const KINDS: readonly Kind[] = ['cpu64', 'cpu', 'webgpu'];
/** The kinds that need no adapter; WebGPU cases are declared apart, skipped where none opens. */
const ON_THE_CPU = KINDS.filter((k) => k !== 'webgpu');

function backendOf(kind: Kind): Backend {
  return kind === 'cpu64'
    ? cpuBackend('f64')
    : kind === 'cpu'
      ? cpuBackend('f32')
      : webGpuBackend();
}

interface Run {
  /** The lines of spikes.csv, header included. */
  readonly spikesCsv: string[];
  /** Per recorded neuron of `N.V`, the post-step value of every step. */
  readonly V: Float64Array[];
}

/** Runs a network for its duration; spikes.csv is written by the runtime's OutputWriter. */
async function run(net: Network, kind: Kind): Promise<Run> {
  const steps = Math.round(net.duration / net.dt);
  const plan = buildPlan(net, steps);
  const backend = backendOf(kind);
  const dir = mkdtempSync(join(tmpdir(), 'spikeforge-spike-times-'));
  try {
    await backend.prepare(plan);
    const { chunks } = await simulate(plan, backend);
    const writer = new OutputWriter(dir, plan);
    for (const chunk of chunks) writer.add(chunk);
    writer.finish(
      { backend: kind, device: backend.device, wallSeconds: 0, compileSeconds: 0 },
      new Map(),
    );
    const spikesCsv = readFileSync(join(dir, 'spikes.csv'), 'utf8').trimEnd().split('\n');
    const r = plan.traces.findIndex((t) => t.label === 'N.V');
    return { spikesCsv, V: r < 0 ? [] : traceColumns(chunks, r, plan.traces[r]!.range, steps) };
  } finally {
    backend.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

function traceColumns(
  chunks: readonly Chunk[],
  r: number,
  range: { start: number; end: number },
  steps: number,
): Float64Array[] {
  const width = range.end - range.start;
  const columns = Array.from({ length: width }, () => new Float64Array(steps));
  for (const chunk of chunks)
    for (let s = 0; s < chunk.steps; s++)
      for (let i = 0; i < width; i++)
        columns[i]![chunk.firstStep + s] = chunk.traces[r]![s * width + i]!;
  return columns;
}

/** The first step whose post-step value is not 0. */
function firstChange(trace: ArrayLike<number>): number {
  for (let n = 0; n < trace.length; n++) if (trace[n] !== 0) return n;
  return -1;
}

/**
 * Post-step V of a Lif (V_rest 0, R 1, tau_m) fed by one Expon/CUBA input (float64, as
 * test/network.test.ts): g <- (g + w * spikes(n - d)) exp(-dt / tau_s); V <- g + (V - g) exp(-dt / tau_m).
 */
function postTrace(
  spikes: readonly number[],
  d: number,
  w: number,
  tauS: number,
  tauM: number,
  dt: number,
  steps: number,
): Float64Array {
  const V = new Float64Array(steps);
  let g = 0;
  let v = 0;
  for (let n = 0; n < steps; n++) {
    g = (g + w * spikes.filter((s) => s + d === n).length) * Math.exp(-dt / tauS);
    v = g + (v - g) * Math.exp(-dt / tauM);
    V[n] = v;
  }
  return V;
}

describe('the step of a spike time', () => {
  it('is the first step with t_n >= time, robust to binary noise', () => {
    expect(spikeStep(1, 0.1)).toBe(10);
    expect(spikeStep(2.5, 0.1)).toBe(25);
    // 0.3 / 0.1 is 2.9999999999999996 and 0.1 * 3 / 0.1 is 3.0000000000000004 in binary.
    expect(spikeStep(0.3, 0.1)).toBe(3);
    expect(spikeStep(0.1 * 3, 0.1)).toBe(3);
    // Between two steps: the later one.
    expect(spikeStep(2.45, 0.1)).toBe(25);
    expect(spikeStep(0.31, 0.1)).toBe(4);
    expect(spikeStep(0.2500001, 0.25)).toBe(2);
    expect(spikeStep(-1, 0.1)).toBe(-10);
  });

  it('tables hold, per neuron, the distinct steps in ascending order', () => {
    const table = spikeTimeTable(4, [1, 0, 1, 1, 1], [5, 1, 0.5, 0.52, 0.55], 0.1);
    expect(Array.from(table.start)).toEqual([0, 1, 4, 4, 4]);
    expect(Array.from(table.steps)).toEqual([10, 5, 6, 50]);
  });
});

describe('spikes.csv of a SpikeTimes source', () => {
  const expected = ['t_ms,population,index', '0,S,3', '1,S,0', '2.5,S,2', '10,S,1', '19.9,S,3'];

  it.each(ON_THE_CPU)('%s: exactly the expected events', async (kind) => {
    expect((await run(network('SpikeTimesSource'), kind)).spikesCsv).toEqual(expected);
  });

  it.skipIf(!HAVE_WEBGPU)('webgpu: exactly the expected events', async () => {
    expect((await run(network('SpikeTimesSource'), 'webgpu')).spikesCsv).toEqual(expected);
  });
});

describe('a SpikeTimes source drives a Lif', () => {
  // S[0] at 2 ms (step 20), S[1] at 5.05 ms (step 51); one_to_one, delay 1 ms = 10 steps.
  const drive = ['t_ms,population,index', '2,S,0', '5.1,S,1'];

  const expon = async (kind: Kind): Promise<void> => {
    const r = await run(network('SpikeTimesDrive'), kind);
    expect(r.spikesCsv).toEqual(drive);
    expect(r.V.map(firstChange)).toEqual([30, 61]);
    if (kind === 'cpu64') {
      const expected = [
        postTrace([20], 10, 2, 5, 10, 0.1, 200),
        postTrace([51], 10, 2, 5, 10, 0.1, 200),
      ];
      r.V.forEach((V, i) => V.forEach((v, n) => expect(v).toBeCloseTo(expected[i]![n]!, 12)));
    }
  };
  const title = '%s: Expon/CUBA with delay 1 ms changes the post V first at step s + 10';
  it.each(ON_THE_CPU)(title, expon);
  it.skipIf(!HAVE_WEBGPU)(title.replace('%s', 'webgpu'), () => expon('webgpu'));

  it.skipIf(!HAVE_WEBGPU)(
    'webgpu: the post V is bit-identical to the float32 CPU backend',
    async () => {
      const cpu = await run(network('SpikeTimesDrive'), 'cpu');
      const gpu = await run(network('SpikeTimesDrive'), 'webgpu');
      expect(gpu.V.map((v) => Array.from(v))).toEqual(cpu.V.map((v) => Array.from(v)));
    },
  );

  const nmda = async (kind: Kind): Promise<void> => {
    const r = await run(network('SpikeTimesNmda'), kind);
    expect(r.spikesCsv).toEqual(['t_ms,population,index', '3,S,1', '6,S,0']);
    expect(r.V.map(firstChange)).toEqual([31]);
  };
  const nmdaTitle = '%s: NMDA (state per pre neuron) changes the post V first at step s + 1';
  it.each(ON_THE_CPU)(nmdaTitle, nmda);
  it.skipIf(!HAVE_WEBGPU)(nmdaTitle.replace('%s', 'webgpu'), () => nmda('webgpu'));
});
