/**
 * `spikeforge run` end to end, through main(argv, io) into temporary folders: the output
 * files (spikes.csv, one CSV and one SVG per trace, summary.json, raster.svg), the step
 * semantics visible in them (refractoriness in whole steps, time from the step counter,
 * seeded random initial states equal on CPU and WebGPU), the --duration / --dt / --seed
 * overrides, the exit code of a bad --backend, and the warning (stderr and summary.json) for
 * states that end the run NaN or infinite.
 *
 * Networks: test/models/conformance/rt_*.spk and test/models/non-finite/*.spk. WebGPU parts
 * skip, with the reason printed, when no WebGPU adapter can be opened.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Io } from '../src/cli/io.js';
import { EXIT, main } from '../src/cli/main.js';
import { openWebGpu } from './support/webgpu.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODELS = join(ROOT, 'test', 'models', 'conformance');
const TEMP = mkdtempSync(join(tmpdir(), 'spikeforge-runtime-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

const probe = await openWebGpu();
if (probe.ok) probe.gpu.close();
else
  console.warn(`runtime: WebGPU parts SKIPPED, no WebGPU adapter could be opened: ${probe.reason}`);

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly dir: string;
}

let runs = 0;
/** `spikeforge run rt_<name>.spk ...args -o <fresh temp dir>`. */
async function run(network: string, ...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const line = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);
  const io: Io = { out: (t) => (stdout += line(t)), err: (t) => (stderr += line(t)) };
  const dir = join(TEMP, `run${++runs}`);
  const file = network.includes('/') ? network : join(MODELS, `${network}.spk`);
  const code = await main(['run', file, ...args, '-o', dir], io);
  return { code, stdout, stderr, dir };
}

function expectOk(r: Run): void {
  expect(r.stderr.replace(/^WebGPU: no hardware adapter.*\n/m, '')).not.toMatch(/error/i);
  expect(r.code, r.stderr).toBe(EXIT.ok);
}

/** The names in a folder; none when it does not exist. */
function readdirNames(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** A CSV file as header + rows of cells. */
function readCsv(path: string): { header: string; rows: string[][] } {
  const lines = readFileSync(path, 'utf8').split('\n');
  expect(lines.pop()).toBe(''); // ends with a newline
  return { header: lines[0]!, rows: lines.slice(1).map((l) => l.split(',')) };
}

interface Summary {
  network: string;
  backend: string;
  device: string;
  dt_ms: number;
  steps: number;
  duration_ms: number;
  wall_s: number;
  compile_s: number;
  seed: number;
  populations: Record<string, { size: number; spikes?: number; mean_rate_hz?: number }>;
}

function readSummary(dir: string): Summary {
  return JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Summary;
}

/**
 * step * dt written exactly in decimal, dt given as `units` of 10^-decimals ms
 * (0.1 ms = 1 unit of 10^-1): what a time computed from the step counter must print as.
 */
function exactTime(step: number, units: number, decimals: number): string {
  const n = step * units;
  const scale = 10 ** decimals;
  const whole = Math.floor(n / scale);
  const fraction = String(n % scale)
    .padStart(decimals, '0')
    .replace(/0+$/, '');
  return fraction === '' ? String(whole) : `${whole}.${fraction}`;
}

/** Spike steps of one population (index 0) from spikes.csv, dt in ms. */
function spikeSteps(rows: readonly string[][], population: string, dt: number): number[] {
  return rows.filter((r) => r[1] === population).map((r) => Math.round(Number(r[0]) / dt));
}

describe('spikeforge run: output files', () => {
  it('writes spikes.csv, one CSV and SVG per trace, summary.json and raster.svg', async () => {
    const r = await run('rt_basic', '--backend', 'cpu');
    expectOk(r);
    expect(r.stdout).toContain('RtBasic: 500 steps of 0.1 ms on cpu');

    // spikes.csv: header, one row per spike, chronological, t a multiple of dt.
    const spikes = readCsv(join(r.dir, 'spikes.csv'));
    expect(spikes.header).toBe('t_ms,population,index');
    expect(spikes.rows.length).toBeGreaterThan(0);
    let last = -1;
    for (const [t, population, index] of spikes.rows) {
      const step = Math.round(Number(t) / 0.1);
      expect(t).toBe(exactTime(step, 1, 1));
      expect(step).toBeGreaterThanOrEqual(last);
      last = step;
      expect(['N', 'M']).toContain(population);
      expect(Number(index)).toBeLessThan(population === 'N' ? 5 : 4);
    }

    // Trace CSVs: header t_ms then the recorded indices; one row per step, labelled t_n + dt.
    for (const [file, header] of [
      ['N.V.csv', 't_ms,0,1,2'],
      ['M.V.csv', 't_ms,1,2,3'],
    ] as const) {
      const trace = readCsv(join(r.dir, file));
      expect(trace.header).toBe(header);
      expect(trace.rows).toHaveLength(500);
      trace.rows.forEach((row, n) => {
        expect(row[0]).toBe(exactTime(n + 1, 1, 1));
        expect(row).toHaveLength(4);
        for (const v of row.slice(1)) expect(Number.isFinite(Number(v))).toBe(true);
      });
    }
    // The first row is the state after step 0: LifRef from V_rest = -65 mV under 15 nA, one
    // exponential Euler step: -65 + 15 * (1 - exp(-0.1 / 10)) mV.
    const firstV = Number(readCsv(join(r.dir, 'N.V.csv')).rows[0]![1]);
    expect(firstV).toBeCloseTo(-65 + 15 * -Math.expm1(-0.01), 5);

    // summary.json
    const summary = readSummary(r.dir);
    expect(summary.network).toBe('RtBasic');
    expect(summary.backend).toBe('cpu');
    expect(typeof summary.device).toBe('string');
    expect(summary.device.length).toBeGreaterThan(0);
    expect(summary.dt_ms).toBe(0.1);
    expect(summary.steps).toBe(500);
    expect(summary.duration_ms).toBe(50);
    expect(summary.seed).toBe(5);
    expect(summary.wall_s).toBeGreaterThanOrEqual(0);
    expect(summary.compile_s).toBeGreaterThanOrEqual(0);
    for (const [name, size] of [
      ['N', 5],
      ['M', 4],
    ] as const) {
      const p = summary.populations[name]!;
      const count = spikes.rows.filter((row) => row[1] === name).length;
      expect(p.size).toBe(size);
      expect(p.spikes).toBe(count);
      expect(p.mean_rate_hz).toBeCloseTo(count / size / 0.05, 9);
    }
    expect(r.stdout).toContain(`N: ${summary.populations['N']!.spikes} spikes`);
    // Every state is finite at the end: no warning, and summary.json has no `warnings`.
    expect(r.stderr).not.toContain('warning:');
    expect(summary).not.toHaveProperty('warnings');

    // Plots: standalone SVG with axis labels.
    const raster = readFileSync(join(r.dir, 'raster.svg'), 'utf8');
    expect(raster.startsWith('<svg')).toBe(true);
    expect(raster.trimEnd().endsWith('</svg>')).toBe(true);
    expect(raster).toContain('time (ms)');
    expect(raster).toContain('neuron index');
    expect(raster).toContain('rate (Hz)');
    for (const file of ['N.V.svg', 'M.V.svg']) {
      const svg = readFileSync(join(r.dir, file), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('time (ms)');
      expect(svg).toContain('V (mV)');
      expect(svg).toContain('<polyline');
    }
    // Nothing half-written is left behind.
    expect(readdirNames(r.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('two recordings of the same state with different ranges: both written, each to its own file', async () => {
    // Both once mapped to N.V.csv and shared one temporary file; now the range is in the name.
    const file = join(TEMP, 'two_ranges.spk');
    writeFileSync(
      file,
      [
        'import "stdlib/neurons.spk"',
        'network TwoRanges {',
        '  dt = 0.1 ms',
        '  duration = 2 ms',
        '  population N = LifRef(5)',
        '  stimulus N.I = 15 nA',
        '  record N.V[0:2]',
        '  record N.V[3:5]',
        '}',
        '',
      ].join('\n'),
    );
    const r = await run(file, '--backend', 'cpu');
    expect(r.stderr).not.toContain('.tmp');
    expect(r.code).toBe(EXIT.ok);
    const files = readdirNames(r.dir).filter((f) => f.startsWith('N.V') && f.endsWith('.csv'));
    expect(files.sort()).toEqual(['N.V.0-2.csv', 'N.V.3-5.csv']);
    const columns = files.flatMap((f) => readCsv(join(r.dir, f)).header.split(',').slice(1));
    expect(columns.sort()).toEqual(['0', '1', '3', '4']);
  });
});

describe('spikeforge run: step semantics in the outputs', () => {
  it('refractoriness is counted in whole steps: tau_ref = 2 ms holds V for exactly 20 steps', async () => {
    const r = await run('rt_refractory', '--backend', 'cpu');
    expectOk(r);
    const spikes = readCsv(join(r.dir, 'spikes.csv')).rows;
    const V = readCsv(join(r.dir, 'A.V.csv')).rows.map((row) => Number(row[1]));

    // B: 2000 nA cross threshold in the first step that integrates, so spike, 20 held steps, spike.
    const b = spikeSteps(spikes, 'B', 0.1);
    expect(b.length).toBeGreaterThan(400);
    expect(b[0]).toBe(0);
    expect(new Set(b.slice(1).map((s, k) => s - b[k]!))).toEqual(new Set([21]));

    // A: V (post-step, row n = after step n) is V_reset at the spike step and the 20 steps after
    // it, and moves at the 21st: the first step that integrates again.
    const a = spikeSteps(spikes, 'A', 0.1);
    expect(a.length).toBeGreaterThan(50);
    for (const s of a) {
      if (s + 21 >= V.length) continue;
      for (let k = s; k <= s + 20; k++)
        expect(V[k], `A.V after step ${k}, spike at ${s}`).toBe(-68);
      expect(V[s + 21]).toBeGreaterThan(-68);
    }
  });

  it('refractory steps follow --dt: at 0.05 ms, tau_ref = 2 ms holds V for exactly 40 steps', async () => {
    const r = await run(
      'rt_refractory',
      '--backend',
      'cpu',
      '--dt',
      '0.05 ms',
      '--duration',
      '200 ms',
    );
    expectOk(r);
    const spikes = readCsv(join(r.dir, 'spikes.csv')).rows;
    const V = readCsv(join(r.dir, 'A.V.csv')).rows.map((row) => Number(row[1]));
    expect(V).toHaveLength(4000);
    const a = spikeSteps(spikes, 'A', 0.05);
    expect(a.length).toBeGreaterThan(5);
    for (const s of a) {
      if (s + 41 >= V.length) continue;
      for (let k = s; k <= s + 40; k++) expect(V[k]).toBe(-68);
      expect(V[s + 41]).toBeGreaterThan(-68);
    }
  });

  it('time comes from the step counter: 100000 steps of 0.1 ms print as exactly step * dt', async () => {
    const r = await run('rt_long', '--backend', 'cpu');
    expectOk(r);
    const summary = readSummary(r.dir);
    expect(summary.steps).toBe(100_000);
    expect(summary.duration_ms).toBe(10_000);
    const trace = readCsv(join(r.dir, 'N.V.csv')).rows;
    expect(trace).toHaveLength(100_000);
    let wrong = 0;
    trace.forEach((row, n) => {
      if (row[0] !== exactTime(n + 1, 1, 1)) wrong += 1;
    });
    expect(wrong).toBe(0);
    expect(trace[trace.length - 1]![0]).toBe('10000');
    const spikes = readCsv(join(r.dir, 'spikes.csv')).rows;
    expect(spikes.length).toBeGreaterThan(100);
    for (const [t] of spikes) expect(t).toBe(exactTime(Math.round(Number(t) / 0.1), 1, 1));
    // Late spikes are as regular as early ones (no drift from accumulating t += dt).
    const steps = spikeSteps(spikes, 'N', 0.1);
    const isi = steps.slice(1).map((s, k) => s - steps[k]!);
    expect(Math.max(...isi) - Math.min(...isi)).toBeLessThanOrEqual(1);
  });
});

describe('spikeforge run: the CPU backend on several threads', () => {
  it('--threads 2 splits a 40000-neuron population and writes the same files as --threads 1', async () => {
    const file = join(ROOT, 'test', 'models', 'cpu', 'threads.spk');
    const two = await run(file, '--backend', 'cpu', '--threads', '2');
    const one = await run(file, '--backend', 'cpu', '--threads', '1');
    expectOk(two);
    expectOk(one);
    expect(readSummary(two.dir).device).toContain('2 threads');
    expect(readSummary(one.dir).device).toContain('one thread');
    // Every neuron spikes many times: both threads append to the spike ring in every step.
    expect(readSummary(one.dir).populations['N']!.spikes).toBeGreaterThan(100_000);
    for (const name of ['spikes.csv', 'N.V.csv'])
      expect(
        readFileSync(join(two.dir, name)).equals(readFileSync(join(one.dir, name))),
        name,
      ).toBe(true);
  });

  it('--threads 0 is a usage error', async () => {
    const r = await run('rt_basic', '--backend', 'cpu', '--threads', '0');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('--threads takes a whole number from 1 to 256');
  });
});

describe('spikeforge run: subnormal states are flushed to 0', () => {
  const backends = ['cpu', 'cpu64', ...(probe.ok ? ['webgpu'] : [])];
  it.each(backends)(
    '%s: g decays by e^-0.1 a step, is never subnormal, and is exactly 0 from step 874 on',
    async (backend) => {
      const r = await run('rt_decay', '--backend', backend);
      expectOk(r);
      expect(r.stderr).not.toContain('warning:');
      const trace = readCsv(join(r.dir, 'N.g.csv'));
      expect(trace.rows.length).toBe(1200);
      const values = trace.rows.map((row) => row.slice(1).map(Number));
      expect(values[0]![0]).toBeCloseTo(Math.exp(-0.1), 6);
      // Without the flush, float32 sinks to a few subnormal ulps and stays there.
      const subnormal = values.flat().filter((g) => g !== 0 && Math.abs(g) < 2 ** -126);
      expect(subnormal).toEqual([]);
      // e^(-0.1 n) < 2^-126 from n = 874 (float32 rounding may reach it a step either side).
      const firstZero = values.findIndex((row) => row.every((g) => g === 0)) + 1;
      expect(Math.abs(firstZero - 874)).toBeLessThanOrEqual(1);
      expect(
        values
          .slice(firstZero - 1)
          .flat()
          .every((g) => g === 0),
      ).toBe(true);
    },
  );
});

describe('spikeforge run: random initial states and overrides', () => {
  /** The first trace row (state after step 0) of N.V.csv. */
  function firstRow(dir: string): number[] {
    const trace = readCsv(join(dir, 'N.V.csv'));
    expect(trace.header).toBe(
      ['t_ms', ...Array.from({ length: 64 }, (_, i) => String(i))].join(','),
    );
    expect(trace.rows[0]![0]).toBe('0.1');
    return trace.rows[0]!.slice(1).map(Number);
  }

  /** V0 from V after one step of a leaky neuron without input: V1 = V_rest + (V0 - V_rest) e^(-dt/tau). */
  function initialFrom(v1: readonly number[]): number[] {
    return v1.map((v) => -60 + (v + 60) / Math.exp(-0.1 / 20));
  }

  it('pi is the constant, unless a model declares its own', async () => {
    const file = join(TEMP, 'pi.spk');
    writeFileSync(
      file,
      `neuron Osc {
  parameters { f = 10 Hz   A = 1 mV }
  state { V = 0 mV }
  equations { dV/dt = 2 * pi * f * A * cos(2 * pi * f * t) }
}
neuron Shadow {
  parameters { pi = 3 }
  state { x = 0 }
  equations { dx/dt = pi / ms }
}
network N {
  dt = 0.01 ms
  duration = 25 ms
  population O = Osc(1)
  population S = Shadow(1)
  record O.V
  record S.x
}
`,
    );
    const r = await run(file, '--backend', 'cpu64');
    expectOk(r);
    // V = A sin(2 pi f t), 1 mV at t = 25 ms (a quarter period), to Euler's O(dt) error.
    const v = readCsv(join(r.dir, 'O.V.csv')).rows.at(-1)!;
    expect(v[0]).toBe('25');
    expect(Number(v[1])).toBeCloseTo(1, 3);
    const x = readCsv(join(r.dir, 'S.x.csv')).rows.at(-1)!;
    expect(Number(x[1])).toBeCloseTo(75, 9);
  });

  it('a run names the result files of an earlier run left in its folder, and cpu64 by its name', async () => {
    const first = await run('rt_basic', '--backend', 'cpu');
    expectOk(first);
    expect(first.stderr).not.toContain('note:');
    const into = (network: string, ...args: string[]): Promise<Run> =>
      main(['run', join(MODELS, `${network}.spk`), ...args, '-o', first.dir], {
        out: () => undefined,
        err: (t) => (stderr += `${t}\n`),
      }).then((code) => ({ code, stdout: '', stderr, dir: first.dir }));
    let stderr = '';
    const second = await into('rt_decay', '--backend', 'cpu64');
    expectOk(second);
    // rt_basic wrote N.V, M.V and a raster; rt_decay records only N.g.
    expect(second.stderr).toContain(
      `note: ${first.dir} also holds 5 result files this run did not write (from an earlier run?): M.V.csv, M.V.svg, N.V.csv, N.V.svg, raster.svg\n`,
    );
    expect(readSummary(first.dir).backend).toBe('cpu64');
  });

  it('V ~ normal(-60 mV, 3 mV) draws differ across neurons, follow the distribution and repeat with the seed', async () => {
    const a = await run('rt_random', '--backend', 'cpu');
    const b = await run('rt_random', '--backend', 'cpu');
    const c = await run('rt_random', '--backend', 'cpu64');
    for (const r of [a, b, c]) expectOk(r);
    const v = firstRow(a.dir);
    expect(firstRow(b.dir)).toEqual(v);
    firstRow(c.dir).forEach((x, i) =>
      expect(Math.abs(x - v[i]!)).toBeLessThanOrEqual(1e-5 * Math.abs(x)),
    );
    expect(new Set(v).size).toBe(64);
    const v0 = initialFrom(v);
    const mean = v0.reduce((s, x) => s + x, 0) / v0.length;
    const sd = Math.sqrt(v0.reduce((s, x) => s + (x - mean) ** 2, 0) / (v0.length - 1));
    expect(mean).toBeGreaterThan(-61.5);
    expect(mean).toBeLessThan(-58.5);
    expect(sd).toBeGreaterThan(2);
    expect(sd).toBeLessThan(4);
  });

  it.skipIf(!probe.ok)(
    'the same seed gives the same random initial states on CPU and WebGPU',
    async () => {
      const cpu = await run('rt_random', '--backend', 'cpu');
      const gpu = await run('rt_random', '--backend', 'webgpu');
      expectOk(cpu);
      expectOk(gpu);
      expect(readSummary(gpu.dir).backend).toBe('webgpu');
      const a = firstRow(cpu.dir);
      const b = firstRow(gpu.dir);
      const identical = a.filter((x, i) => x === b[i]).length;
      a.forEach((x, i) =>
        expect(Math.abs(x - b[i]!), `neuron ${i}: cpu ${x}, webgpu ${b[i]}`).toBeLessThanOrEqual(
          1e-5 * Math.abs(x),
        ),
      );
      console.log(
        `runtime: first-step V of 64 seeded random neurons, CPU vs WebGPU: ${identical}/64 bit-identical, all within 1e-5`,
      );
      // And a different seed draws different values on WebGPU too.
      const other = await run('rt_random', '--backend', 'webgpu', '--seed', '43');
      expectOk(other);
      expect(firstRow(other.dir).filter((x, i) => x === b[i])).toEqual([]);
    },
  );

  it('--duration, --dt and --seed override the network', async () => {
    const base = await run('rt_basic', '--backend', 'cpu');
    const r = await run(
      'rt_basic',
      '--backend',
      'cpu',
      '--duration',
      '20',
      '--dt',
      '0.05',
      '--seed',
      '9',
    );
    expectOk(base);
    expectOk(r);
    const summary = readSummary(r.dir);
    expect(summary.dt_ms).toBe(0.05);
    expect(summary.steps).toBe(400);
    expect(summary.duration_ms).toBe(20);
    expect(summary.seed).toBe(9);
    expect(r.stdout).toContain('400 steps of 0.05 ms');
    const trace = readCsv(join(r.dir, 'N.V.csv')).rows;
    expect(trace).toHaveLength(400);
    trace.forEach((row, n) => expect(row[0]).toBe(exactTime(n + 1, 5, 2)));
    for (const [t] of readCsv(join(r.dir, 'spikes.csv')).rows)
      expect(t).toBe(exactTime(Math.round(Number(t) / 0.05), 5, 2));
    expect(summary.populations['N']!.mean_rate_hz).toBeCloseTo(
      summary.populations['N']!.spikes! / 5 / 0.02,
      9,
    );

    // Units are accepted; the seed changes random initial values.
    const seconds = await run(
      'rt_random',
      '--backend',
      'cpu',
      '--duration',
      '0.5 ms',
      '--seed',
      '7',
    );
    expectOk(seconds);
    expect(readSummary(seconds.dir).steps).toBe(5);
    const seeded = await run('rt_random', '--backend', 'cpu', '--seed', '7');
    const unseeded = await run('rt_random', '--backend', 'cpu');
    expect(firstRow(seeded.dir)).toEqual(firstRow(seconds.dir));
    expect(firstRow(seeded.dir).filter((x, i) => x === firstRow(unseeded.dir)[i])).toEqual([]);

    for (const bad of [
      ['--dt', 'fast'],
      ['--duration', '-5 ms'],
      ['--duration', '10 mV'],
      ['--seed', '1.5'],
    ]) {
      const wrong = await run('rt_basic', '--backend', 'cpu', ...bad);
      expect(wrong.code, `${bad.join(' ')}: ${wrong.stderr}`).toBe(EXIT.usage);
      expect(wrong.stderr).toContain(bad[0]!);
    }
  });

  it('an unknown --backend exits 2 with the list of backends, before writing anything', async () => {
    const r = await run('rt_basic', '--backend', 'gpu');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain("unknown backend 'gpu'");
    for (const name of ['auto', 'cpu', 'cpu64', 'webgpu']) expect(r.stderr).toContain(name);
    expect(r.stderr).toContain('usage: spikeforge run');
    expect(r.stdout).toBe('');
    expect(existsSync(r.dir)).toBe(false);
  });
});

describe('spikeforge run: states that end the run NaN or infinite', () => {
  const backends = ['cpu', 'cpu64', ...(probe.ok ? ['webgpu'] : [])];
  /** A model of test/models/non-finite, by the path diagnostics show (relative to the working folder). */
  const model = (name: string): string =>
    relative(process.cwd(), join(ROOT, 'test', 'models', 'non-finite', name));

  /** The lines of the warning whose first line ends with `message`, up to the next diagnostic. */
  function warningBlock(stderr: string, location: string, message: string): string {
    const lines = stderr.split('\n');
    const start = lines.indexOf(`${location}: warning: ${message}`);
    expect(start, `no '${location}: warning: ${message}' in:\n${stderr}`).toBeGreaterThanOrEqual(0);
    const next = lines.findIndex((l, k) => k > start && /^\S.*: (warning|error|note): /.test(l));
    return lines.slice(start, next < 0 ? undefined : next).join('\n');
  }

  /** The first row of a one-column trace whose value is not finite: its time and value as written. */
  function firstNonFiniteRow(path: string): { time: string; value: string } {
    const row = readCsv(path).rows.find((r) => !Number.isFinite(Number(r[1])));
    expect(row, `${path} has no NaN or infinite value`).toBeDefined();
    return { time: row![0]!, value: row![1]! };
  }

  it.each(backends)(
    '%s: rk4 outside its stability region, and an unrecorded population that blows up',
    async (backend) => {
      const file = model('blow_up.spk');
      const r = await run(file, '--backend', backend);
      // A warning: the results are written and the exit code is 0.
      expect(r.code, r.stderr).toBe(EXIT.ok);
      expect(r.stderr).not.toMatch(/error/i);
      const spikes = readCsv(join(r.dir, 'spikes.csv')).rows.length;
      expect(r.stdout).toContain(`H: ${spikes} spike${spikes === 1 ? '' : 's'},`);

      const first = firstNonFiniteRow(join(r.dir, 'H.V.csv'));
      const h = warningBlock(
        r.stderr,
        `${file}:13:5`,
        'population H: V is NaN in 1 of 1 neurons at the end of the run',
      );
      expect(h).toContain('\n       V = 1 mV\n       ^\n');
      expect(h).toContain('= note: also at the end of the run: u is NaN in 1 of 1 neurons');
      expect(h).toContain(
        `= note: H.V is first non-finite in the recording at t = ${first.time} ms (${first.value} in neuron 0)`,
      );
      expect(h).toContain(
        '= note: method rk4 is unstable when dt (0.1 ms) is too long for the fastest dynamics of Stiff: a smaller --dt, or method exp_euler, usually helps',
      );
      // B is not recorded: counted from the final state, no time from a recording.
      const b = warningBlock(
        r.stderr,
        `${file}:25:11`,
        'population B: V is infinite in 2 of 4 neurons at the end of the run',
      );
      expect(b).not.toContain('in the recording');
      expect(b).toContain('method euler is unstable');

      const summary = readSummary(r.dir) as Summary & { warnings: Record<string, unknown>[] };
      // The fields of every run are there as before; `warnings` is added.
      for (const key of [
        'network',
        'backend',
        'device',
        'dt_ms',
        'steps',
        'duration_ms',
        'wall_s',
        'compile_s',
        'seed',
        'populations',
      ])
        expect(summary).toHaveProperty(key);
      expect(summary.steps).toBe(500);
      expect(summary.populations['H']).toEqual({
        size: 1,
        spikes,
        mean_rate_hz: spikes / 0.05,
      });
      expect(summary.warnings.map((w) => `${w['population']}.${w['variable']}`)).toEqual([
        'H.V',
        'H.u',
        'B.V',
      ]);
      const hint =
        'method rk4 is unstable when dt (0.1 ms) is too long for the fastest dynamics of Stiff: a smaller --dt, or method exp_euler, usually helps';
      expect(summary.warnings[0]).toEqual({
        message: 'population H: V is NaN in 1 of 1 neurons at the end of the run',
        location: `${file}:13:5`,
        population: 'H',
        variable: 'V',
        nan: 1,
        infinite: 0,
        elements: 1,
        first_non_finite_recorded_ms: Number(first.time),
        hint,
      });
      expect(summary.warnings[1]).toEqual({
        message: 'population H: u is NaN in 1 of 1 neurons at the end of the run',
        location: `${file}:14:5`,
        population: 'H',
        variable: 'u',
        nan: 1,
        infinite: 0,
        elements: 1,
        hint,
      });
      expect(summary.warnings[2]).toMatchObject({
        message: 'population B: V is infinite in 2 of 4 neurons at the end of the run',
        location: `${file}:25:11`,
        nan: 0,
        infinite: 2,
        elements: 4,
      });
      expect(summary.warnings[2]).not.toHaveProperty('first_non_finite_recorded_ms');
    },
  );

  it.each(backends)(
    '%s: synapse state merged per post neuron, kept per pre neuron and per synapse',
    async (backend) => {
      const file = model('synapses.spk');
      const r = await run(file, '--backend', backend);
      expect(r.code, r.stderr).toBe(EXIT.ok);
      const x = warningBlock(
        r.stderr,
        `${file}:14:11`,
        'projection P: x is infinite in 3 of 3 pre-synaptic neurons at the end of the run',
      );
      const px = firstNonFiniteRow(join(r.dir, 'P.x.csv'));
      expect(x).toContain(
        `= note: P.x is first non-finite in the recording at t = ${px.time} ms (${px.value} in pre-synaptic neuron 0)`,
      );
      // The weight is declared by the projection: the warning points at it.
      const w = warningBlock(
        r.stderr,
        `${file}:61:12`,
        'projection Q: w is infinite in 9 of 9 synapses at the end of the run',
      );
      expect(w).toContain('\n       weight 1 mV/ms\n              ^^^^^^^\n');
      expect(w).toContain('= note: Q.w is first non-finite in the recording at t = ');
      expect(w).toContain('(Infinity in synapse 0)');
      const g = warningBlock(
        r.stderr,
        `${file}:7:11`,
        'projection E: g is infinite in 3 of 3 post-synaptic neurons at the end of the run',
      );
      // Not recorded, and integrated with exp_euler: neither note applies.
      expect(g).not.toContain('= note:');
      const { warnings } = readSummary(r.dir) as Summary & { warnings: Record<string, unknown>[] };
      expect(
        warnings.map((e) => [e['projections'], e['variable'], e['infinite'], e['elements']]),
      ).toEqual([
        [['P'], 'x', 3, 3],
        [['Q'], 'w', 9, 9],
        [['E'], 'g', 3, 3],
      ]);
      expect(warnings[0]!['first_non_finite_recorded_ms']).toBe(Number(px.time));
    },
  );
});
