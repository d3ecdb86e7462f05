/**
 * Backend conformance for every stdlib neuron model (language.md, "One step, on every backend").
 *
 * Each model has one network in test/models/conformance/<Model>.spk with two populations of
 * four neurons, so that one WebGPU run covers a model:
 *   C  constant inputs of four amplitudes (one stimulus per slice);
 *   S  a stepped input, section([...], [100, 300, 200, 400] ms), plus 0, 1, 2 or 3 offsets.
 * Every state is recorded. The networks run for 1000 ms at dt = 0.1 ms (10000 steps) on
 *   - the CPU float32 backend (generated JavaScript, Math.fround after every operation),
 *   - WebGPU (generated WGSL; here Mesa's software adapter llvmpipe),
 *   - the CPU float64 backend (the reference precision),
 * and the test asserts:
 *   1. float32 CPU and WebGPU give identical spike trains (step and index of every spike) and
 *      traces equal to 1e-5 relative, with an absolute floor of 1e-5 times the largest
 *      magnitude of that trace (for values near 0);
 *   2. float64 agrees with float32 to within one step over each neuron's first ten spikes.
 *
 * Known divergence (see KNOWN_DIVERGENCE): the per-step arithmetic of the two float32 backends
 * is bit-identical only where the GPU's shader compiler keeps the operations as printed. `exp`
 * and `log` are no longer a source: every backend computes them with the same float32
 * operations (the prelude helpers sf_exp / sf_log, src/codegen/math32.ts), so HH, ExpIF, AdEx
 * and QuaIF are bit-identical over all 10000 steps. What remains is Mesa's shader compiler
 * (llvmpipe) reassociating constants in float products, which WGSL allows: it turns
 * `0.04 * (V * V)` into `(0.04 * V) * V`, 1 ulp away now and then, and the upswing of
 * Izhikevich (V^2) amplifies that: the traces then agree only up to a tiny shift in time (a few
 * thousandths of a step), and a spike whose threshold crossing falls that close to a step
 * boundary could move by one step. For that model only, and only as far as the table says, the
 * comparison accepts such a shift; every accepted difference is printed.
 *
 * Noise (test/models/conformance/ou_noise.spk, OuNoise): 64 leaky neurons under
 * Ornstein-Uhlenbeck noise (wiener() in the equation) and a noisy input (wiener() in the
 * stimulus), two normal draws per neuron and step. Every backend draws them with the same
 * float32 operations (sf_box_muller, src/codegen/normal32.ts), so WebGPU must give the CPU
 * float32 backend's spikes and traces byte for byte, with no tolerance at all.
 *
 * If no WebGPU adapter can be opened, the WebGPU comparisons are skipped with the reason printed.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../src/codegen/module.js';
import type { Network } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';
import type { Backend, SimulationPlan } from '../src/runtime/backend.js';
import { cpuBackend, webGpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { openWebGpu } from './support/webgpu.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_DIR = join(ROOT, 'test', 'models', 'conformance');

const MODELS = [
  'Lif',
  'LifRef',
  'ExpIF',
  'ExpIFRef',
  'AdExIF',
  'AdExIFRef',
  'AdExIFRefLTC',
  'QuaIF',
  'Izhikevich',
  'HH',
] as const;
type ModelName = (typeof MODELS)[number];

/** Section boundaries of the S populations, in steps (100, 400, 600 ms at dt = 0.1 ms). */
const SEGMENTS: readonly (readonly [number, number])[] = [
  [0, 1000],
  [1000, 4000],
  [4000, 6000],
  [6000, 10000],
];

const REL = 1e-5;
/** The absolute floor, as a fraction of the largest magnitude in the trace. */
const FLOOR = 1e-5;

interface Divergence {
  /** Traces may differ by this fraction of a step times the local per-step change, on top of REL and FLOOR. */
  readonly shiftSteps: number;
  /** At most this many spikes per population may move by exactly one step (same neuron). */
  readonly spikeShifts: number;
  readonly why: string;
}

const KNOWN_DIVERGENCE: Partial<Record<ModelName, Divergence>> = {
  // Measured on llvmpipe (Mesa 22.3.6): the traces need a shift of at most 0.0114 steps. Printing
  // the product as (0.04 * V) * V on every target made the traces bit-identical in a trial.
  Izhikevich: {
    shiftSteps: 0.02,
    spikeShifts: 0,
    why: "llvmpipe's shader compiler reassociates `0.04 * (V * V)` into `(0.04 * V) * V`, so V differs by 1 ulp from the CPU's now and then; the V^2 upswing amplifies it",
  },
  // HH needed a shift of 0.0043 steps and one spike moved by a step while the GPU used its own
  // exp (up to 17 ulp off on llvmpipe); with the shared sf_exp / sf_log it is bit-identical.
};

/** Opens (and closes again) a WebGPU device once, to know whether the WebGPU comparisons can run. */
const probe = await openWebGpu();
if (probe.ok) probe.gpu.close();
else
  console.warn(
    `conformance: WebGPU comparisons SKIPPED, no WebGPU adapter could be opened: ${probe.reason}`,
  );
const HAVE_WEBGPU = probe.ok;

interface SpikeTrain {
  readonly steps: number[];
  readonly indices: number[];
}

interface Run {
  readonly plan: SimulationPlan;
  readonly spikes: ReadonlyMap<string, SpikeTrain>;
  /** Per trace request (plan.traces order): steps x width, row-major. */
  readonly traces: readonly Float64Array[];
  readonly seconds: number;
}

/** A network of MODEL_DIR by its file name (without .spk). */
function compileNetwork(model: string): Network {
  const file = join(MODEL_DIR, `${model}.spk`);
  const result = compileFiles([file]);
  expect(result.diagnostics.items.map((d) => d.message)).toEqual([]);
  const networks = [...(result.program?.networks.values() ?? [])];
  expect(networks).toHaveLength(1);
  return networks[0]!;
}

function planOf(model: string): SimulationPlan {
  const network = compileNetwork(model);
  expect(network.dt).toBe(0.1);
  expect(network.duration).toBe(1000);
  return buildPlan(network, Math.round(network.duration / network.dt));
}

/** Prepares, runs every step and disposes (the device too): nothing stays open between tests. */
async function runOn(plan: SimulationPlan, backend: Backend): Promise<Run> {
  const start = performance.now();
  try {
    await backend.prepare(plan);
    const { chunks } = await simulate(plan, backend);
    const spikes = new Map<string, SpikeTrain>(
      plan.spikeRecords.map((p) => [p, { steps: [], indices: [] }]),
    );
    const parts: Float64Array[][] = plan.traces.map(() => []);
    for (const chunk of chunks) {
      for (const [p, s] of chunk.spikes) {
        const train = spikes.get(p)!;
        train.steps.push(...s.steps);
        train.indices.push(...s.indices);
      }
      chunk.traces.forEach((t, r) => parts[r]!.push(t));
    }
    const traces = parts.map((list) => {
      const all = new Float64Array(list.reduce((n, a) => n + a.length, 0));
      let offset = 0;
      for (const a of list) {
        all.set(a, offset);
        offset += a.length;
      }
      return all;
    });
    return { plan, spikes, traces, seconds: (performance.now() - start) / 1000 };
  } finally {
    backend.dispose();
  }
}

/** CPU runs are cheap and hold no device: each model's are computed once and shared by its tests. */
const cpuRuns = new Map<string, Promise<Run>>();
function cpuRun(model: string, precision: 'f32' | 'f64'): Promise<Run> {
  const key = `${model}:${precision}`;
  let run = cpuRuns.get(key);
  if (run === undefined) {
    run = runOn(planOf(model), cpuBackend(precision));
    cpuRuns.set(key, run);
  }
  return run;
}

function spikesOf(train: SpikeTrain, index: number): number[] {
  return train.steps.filter((_, k) => train.indices[k] === index);
}

/** Spikes present in one train and not the other, as [step, index] pairs. */
function trainDifference(
  a: SpikeTrain,
  b: SpikeTrain,
): { onlyA: [number, number][]; onlyB: [number, number][] } {
  const key = (s: number, i: number): string => `${s}:${i}`;
  const inA = new Set(a.steps.map((s, k) => key(s, a.indices[k]!)));
  const inB = new Set(b.steps.map((s, k) => key(s, b.indices[k]!)));
  return {
    onlyA: a.steps
      .map((s, k): [number, number] => [s, a.indices[k]!])
      .filter(([s, i]) => !inB.has(key(s, i))),
    onlyB: b.steps
      .map((s, k): [number, number] => [s, b.indices[k]!])
      .filter(([s, i]) => !inA.has(key(s, i))),
  };
}

interface TraceComparison {
  readonly violations: string[];
  /** Largest relative difference among values above 1 % of the trace's largest magnitude (for the log). */
  readonly maxRel: number;
  /** Largest shift (in steps) the shift allowance had to absorb; 0 when REL and FLOOR sufficed. */
  readonly maxShift: number;
  readonly bitIdentical: boolean;
}

/**
 * a (reference) and b: steps x width. |a - b| <= REL * max(|a|, |b|) + FLOOR * max|a|, plus,
 * with shiftSteps > 0, shiftSteps times the local per-step change of a (a shift in time).
 */
function compareTraces(
  a: Float64Array,
  b: Float64Array,
  width: number,
  shiftSteps: number,
): TraceComparison {
  const violations: string[] = [];
  let scale = 0;
  for (const v of a) scale = Math.max(scale, Math.abs(v));
  const floor = FLOOR * scale;
  const rows = a.length / width;
  let maxRel = 0;
  let maxShift = 0;
  let bitIdentical = a.length === b.length;
  for (let n = 0; n < rows; n++) {
    for (let i = 0; i < width; i++) {
      const k = n * width + i;
      const x = a[k]!;
      const y = b[k]!;
      if (x === y) continue;
      bitIdentical = false;
      const error = Math.abs(x - y);
      const size = Math.max(Math.abs(x), Math.abs(y));
      if (size > 0.01 * scale) maxRel = Math.max(maxRel, error / size);
      const tolerance = REL * size + floor;
      if (error <= tolerance) continue;
      const before = n > 0 ? a[k - width]! : x;
      const after = n + 1 < rows ? a[k + width]! : x;
      const change = Math.max(Math.abs(x - before), Math.abs(after - x));
      const shift = change > 0 ? (error - tolerance) / change : Infinity;
      maxShift = Math.max(maxShift, shift);
      if (shift <= shiftSteps) continue;
      if (violations.length < 8)
        violations.push(
          `step ${n}, neuron ${i}: ${x} vs ${y} (|diff| ${error.toExponential(2)}, tolerance ${tolerance.toExponential(2)})`,
        );
      else if (violations.length === 8) violations.push('...');
    }
  }
  return { violations, maxRel, maxShift, bitIdentical };
}

describe.each(MODELS)('%s', (model) => {
  const divergence = KNOWN_DIVERGENCE[model];

  it('every neuron fires under both stimuli, and the stepped input switches at the section boundaries', async () => {
    const run = await cpuRun(model, 'f32');
    for (const population of ['C', 'S']) {
      const train = run.spikes.get(population)!;
      for (let i = 0; i < 4; i++)
        expect(
          spikesOf(train, i).length,
          `${model} ${population}[${i}] spikes`,
        ).toBeGreaterThanOrEqual(10);
    }
    // S[0] gets the section alone: nothing before 100 ms, spikes in every later segment.
    const s0 = spikesOf(run.spikes.get('S')!, 0);
    const perSegment = SEGMENTS.map(([from, to]) => s0.filter((s) => s >= from && s < to).length);
    expect(perSegment[0], `${model} S[0] spikes in the first 100 ms (no input)`).toBe(0);
    for (let k = 1; k < SEGMENTS.length; k++)
      expect(perSegment[k], `${model} S[0] spikes in segment ${k}`).toBeGreaterThan(0);
    // A larger constant input never gives fewer spikes.
    const counts = [0, 1, 2, 3].map((i) => spikesOf(run.spikes.get('C')!, i).length);
    for (let i = 1; i < 4; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
    console.log(
      `${model}: C spikes ${counts.join('/')}, S[0] per segment ${perSegment.join('/')} (cpu f32, ${run.seconds.toFixed(2)} s)`,
    );
  });

  const title =
    divergence === undefined
      ? 'WebGPU float32: identical spike trains and traces within 1e-5 of the CPU float32 backend'
      : `WebGPU float32 vs CPU float32 within 1e-5, known divergence allowed (time shift <= ${divergence.shiftSteps} step, <= ${divergence.spikeShifts} spike(s) moved by one step)`;
  it.skipIf(!HAVE_WEBGPU)(title, async () => {
    const cpu = await cpuRun(model, 'f32');
    const gpu = await runOn(cpu.plan, webGpuBackend());
    const notes: string[] = [];
    for (const population of cpu.plan.spikeRecords) {
      const a = cpu.spikes.get(population)!;
      const b = gpu.spikes.get(population)!;
      expect(b.steps.length, `${model} ${population}: spike count`).toBe(a.steps.length);
      const { onlyA, onlyB } = trainDifference(a, b);
      if (onlyA.length === 0 && onlyB.length === 0) {
        expect(b).toEqual(a);
        continue;
      }
      // Only a known divergence may move a spike, by exactly one step, and only a few.
      const describeDiff = `cpu only ${JSON.stringify(onlyA)}, webgpu only ${JSON.stringify(onlyB)}`;
      expect(
        divergence,
        `${model} ${population}: spike trains differ: ${describeDiff}`,
      ).toBeDefined();
      expect(onlyA.length, `${model} ${population}: ${describeDiff}`).toBeLessThanOrEqual(
        divergence!.spikeShifts,
      );
      expect(onlyB.length).toBe(onlyA.length);
      for (const [step, index] of onlyA) {
        const partner = onlyB.find(([s, i]) => i === index && Math.abs(s - step) === 1);
        expect(
          partner,
          `${model} ${population}: ${describeDiff}: not a one-step shift`,
        ).toBeDefined();
      }
      notes.push(`${population}: spikes moved by one step (known divergence): ${describeDiff}`);
    }
    cpu.plan.traces.forEach((t, r) => {
      const width = t.range.end - t.range.start;
      const result = compareTraces(
        cpu.traces[r]!,
        gpu.traces[r]!,
        width,
        divergence?.shiftSteps ?? 0,
      );
      expect(
        result.violations,
        `${model} ${t.population}.${t.variable}: CPU f32 vs WebGPU`,
      ).toEqual([]);
      notes.push(
        `${t.population}.${t.variable} ${result.bitIdentical ? 'bit-identical' : `max rel ${result.maxRel.toExponential(1)}${result.maxShift > 0 ? `, shift up to ${result.maxShift.toFixed(4)} steps (known divergence)` : ''}`}`,
      );
    });
    console.log(
      `${model}: WebGPU (${gpu.seconds.toFixed(2)} s) vs CPU f32: ${notes.join('; ')}${divergence === undefined ? '' : `\n  known divergence: ${divergence.why}`}`,
    );
    if (divergence !== undefined && !notes.some((n) => n.includes('known divergence'))) {
      console.warn(
        `${model}: the KNOWN_DIVERGENCE allowance was not needed in this run; consider removing it`,
      );
    }
  });

  it('float64 agrees with float32 to within one step over the first ten spikes of every neuron', async () => {
    const f32 = await cpuRun(model, 'f32');
    const f64 = await cpuRun(model, 'f64');
    let largest = 0;
    for (const population of f32.plan.spikeRecords) {
      for (let i = 0; i < 4; i++) {
        const a = spikesOf(f32.spikes.get(population)!, i).slice(0, 10);
        const b = spikesOf(f64.spikes.get(population)!, i).slice(0, 10);
        expect(a, `${model} ${population}[${i}] float32 spikes`).toHaveLength(10);
        expect(b, `${model} ${population}[${i}] float64 spikes`).toHaveLength(10);
        for (let k = 0; k < 10; k++) {
          const gap = Math.abs(a[k]! - b[k]!);
          largest = Math.max(largest, gap);
          expect(
            gap,
            `${model} ${population}[${i}] spike ${k}: float32 step ${a[k]}, float64 step ${b[k]}`,
          ).toBeLessThanOrEqual(1);
        }
      }
    }
    console.log(
      `${model}: float64 vs float32, first ten spikes of 8 neurons: largest difference ${largest} step(s)`,
    );
  });
});

describe('OuNoise: noise in an equation and in a stimulus', () => {
  const NOISE = 'ou_noise';

  it('every neuron takes its own noisy path and fires', async () => {
    const run = await cpuRun(NOISE, 'f32');
    const train = run.spikes.get('N')!;
    const width = 64;
    const trace = run.traces[0]!;
    for (let i = 0; i < width; i++)
      expect(spikesOf(train, i).length, `N[${i}] spikes`).toBeGreaterThanOrEqual(3);
    // No two neurons share a value after the first step: each draws its own noise.
    expect(new Set(trace.subarray(0, width)).size).toBe(width);
  });

  it.skipIf(!HAVE_WEBGPU)(
    'WebGPU float32: spike trains and traces byte-identical to the CPU float32 backend',
    async () => {
      const cpu = await cpuRun(NOISE, 'f32');
      const gpu = await runOn(cpu.plan, webGpuBackend());
      expect(gpu.spikes.get('N')).toEqual(cpu.spikes.get('N'));
      cpu.traces.forEach((trace, r) => {
        const width = cpu.plan.traces[r]!.range.end - cpu.plan.traces[r]!.range.start;
        const rows = trace.length / width;
        let differing = 0;
        for (let n = 0; n < rows; n++) {
          const a = trace.subarray(n * width, (n + 1) * width);
          const b = gpu.traces[r]!.subarray(n * width, (n + 1) * width);
          if (
            !Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
              Buffer.from(b.buffer, b.byteOffset, b.byteLength),
            )
          )
            differing++;
        }
        expect(differing, `${cpu.plan.traces[r]!.variable}: rows differing of ${rows}`).toBe(0);
      });
      console.log(
        `OuNoise: WebGPU (${gpu.seconds.toFixed(2)} s) vs CPU f32: ${cpu.spikes.get('N')!.steps.length} spikes and ${cpu.traces[0]!.length} trace values, byte-identical`,
      );
    },
  );
});
