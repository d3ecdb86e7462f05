/**
 * The run's output files: recorded values print as the shortest float32 text (a fast path
 * checked against its toPrecision definition), wide traces are written whole but plotted in
 * part, and a failed run leaves no file behind.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlan } from '../src/codegen/module.js';
import { compileFiles } from '../src/pipeline.js';
import type { Chunk } from '../src/runtime/backend.js';
import { formatFloat32, formatValue } from '../src/runtime/format-number.js';
import { OutputWriter, isRunOutputName } from '../src/runtime/output.js';

describe('formatValue (float32)', () => {
  const bits = new DataView(new ArrayBuffer(4));
  const float32 = (u: number): number => {
    bits.setUint32(0, u >>> 0);
    return bits.getFloat32(0);
  };

  it('equals the toPrecision definition on 1M float32 bit patterns and reads back exactly', () => {
    let x = 0x2545f491;
    let differing = 0;
    let notReadBack = 0;
    for (let n = 0; n < 1_000_000; n++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const v = float32(x);
      const text = formatValue(v, 'f32');
      if (text !== formatFloat32(v)) differing++;
      if (Number.isFinite(v) && Math.fround(Number(text)) !== v) notReadBack++;
    }
    expect({ differing, notReadBack }).toEqual({ differing: 0, notReadBack: 0 });
  });

  it('equals the definition on membrane-like values, ties and powers of ten', () => {
    const values = [
      1856.90625, -1221795.25, -59.0703125, 10.03125, 0.0009765625, 1e-5, 1e20, 99999.995, -60, 0,
      -0, 1, 0.1, 123456789, 1e-6, 9.999999e19,
    ];
    for (let p = -12; p <= 24; p++) {
      const v = Math.fround(10 ** p);
      values.push(v, float32(new Uint32Array(new Float32Array([v]).buffer)[0]! + 1));
      values.push(float32(new Uint32Array(new Float32Array([v]).buffer)[0]! - 1));
    }
    for (const v of values) expect(formatValue(v, 'f32'), String(v)).toBe(formatFloat32(v));
    fc.assert(
      fc.property(fc.float({ min: -200, max: 200, noNaN: true }), (v) => {
        expect(formatValue(v, 'f32')).toBe(formatFloat32(v));
      }),
      { numRuns: 20_000 },
    );
    // Values that are not float32s (the f32 text of a double): toPrecision's digits are the double's.
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), (v) => {
        expect(formatValue(v, 'f32')).toBe(formatFloat32(v));
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('OutputWriter', () => {
  const source = `
import "stdlib/neurons.spk"
network Wide {
  dt = 0.1 ms
  duration = 1 ms
  population N = LifRef(1000) { V_rest = -60 mV  V_th = -50 mV  V_reset = -60 mV  tau = 20 ms  tau_ref = 5 ms }
  record N.spikes
  record N.V
}`;
  const stdlib = readFileSync(
    join(dirname(fileURLToPath(import.meta.url)), '..', 'stdlib', 'neurons.spk'),
    'utf8',
  );
  const compiled = compileFiles(
    ['wide.spk'],
    (p) => (p.endsWith('neurons.spk') ? stdlib : source),
    (p) => p.endsWith('neurons.spk') || p === 'wide.spk',
  );
  const network = compiled.program?.networks.get('Wide');
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const chunkOf = (steps: number, width: number): Chunk => ({
    firstStep: 0,
    steps,
    spikes: new Map([['N', { steps: new Uint32Array([3]), indices: new Uint32Array([7]) }]]),
    traces: [Float64Array.from({ length: steps * width }, (_, k) => Math.fround(-60 + k / 1000))],
  });

  it('writes every recorded neuron to the CSV but plots the first 16', () => {
    expect(compiled.diagnostics.items.map((d) => d.message)).toEqual([]);
    const plan = buildPlan(network!, 10);
    const dir = mkdtempSync(join(tmpdir(), 'spikeforge-output-'));
    dirs.push(dir);
    const writer = new OutputWriter(dir, plan);
    writer.add(chunkOf(10, 1000));
    writer.finish({ backend: 'cpu', device: 'test', wallSeconds: 0, compileSeconds: 0 }, new Map());
    const csv = readFileSync(join(dir, 'N.V.csv'), 'utf8').trimEnd().split('\n');
    expect(csv).toHaveLength(11);
    expect(csv[0]!.split(',')).toHaveLength(1001);
    expect(csv[10]!.split(',')[1000]).toBe(formatValue(Math.fround(-60 + 9999 / 1000), 'f32'));
    const svg = readFileSync(join(dir, 'N.V.svg'), 'utf8');
    expect(svg.match(/<polyline/g)).toHaveLength(16);
    expect(svg).toContain('(first 16 of 1000)');
  });

  it('record ... every T: the rows of the steps that end a multiple of T, across chunks of any size', () => {
    const text = `
import "stdlib/neurons.spk"
network Sampled {
  dt = 0.1 ms
  duration = 3 ms
  population N = LifRef(4)
  record N.V[1:3] every 0.3 ms
  record N.V[0:2]
}`;
    const sampled = compileFiles(
      ['sampled.spk'],
      (p) => (p.endsWith('neurons.spk') ? stdlib : text),
      (p) => p.endsWith('neurons.spk') || p === 'sampled.spk',
    );
    expect(sampled.diagnostics.items.map((d) => d.message)).toEqual([]);
    const plan = buildPlan(sampled.program!.networks.get('Sampled')!, 30);
    expect(plan.traces.map((t) => t.every)).toEqual([3, 1]);
    const dir = mkdtempSync(join(tmpdir(), 'spikeforge-output-'));
    dirs.push(dir);
    const writer = new OutputWriter(dir, plan);
    // Chunks of 7 steps (the last of 2), so that rows fall at every offset within a chunk.
    for (let first = 0; first < 30; first += 7) {
      const steps = Math.min(7, 30 - first);
      const values = Float64Array.from({ length: steps * 2 }, (_, k) => first * 2 + k);
      writer.add({ firstStep: first, steps, spikes: new Map(), traces: [values, values] });
    }
    writer.finish({ backend: 'cpu', device: 'test', wallSeconds: 0, compileSeconds: 0 }, new Map());
    const rows = (file: string): string[] =>
      readFileSync(join(dir, file), 'utf8').trimEnd().split('\n').slice(1);
    // Both traces get the same values: the sampled file holds every third row of the other.
    const everyStep = rows('N.V.0-2.csv');
    expect(everyStep).toHaveLength(30);
    const sampledRows = rows('N.V.1-3.csv');
    expect(sampledRows).toEqual(everyStep.filter((_, n) => (n + 1) % 3 === 0));
    expect(sampledRows[0]).toBe('0.3,4,5');
    expect(sampledRows[9]).toBe('3,58,59');
  });

  it('per-synapse traces get a table of each recorded synapse and its neurons, in population indices', () => {
    const text = `
import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Plastic {
  dt = 0.1 ms
  duration = 1 ms
  population A = Lif(4)
  population B = Lif(6)
  projection S = A[1:3] -> B[2:5] { connect all_to_all  weight 1 nA  synapse STDP  output CUBA }
  record S.w[1:5]
  record B.V
}`;
    const root = join(dirname(fileURLToPath(import.meta.url)), '..');
    const plastic = compileFiles(
      ['plastic.spk'],
      (p) =>
        p.endsWith('plastic.spk') ? text : readFileSync(join(root, 'stdlib', basename(p)), 'utf8'),
      (p) => p.endsWith('plastic.spk') || p.includes('stdlib'),
    );
    expect(plastic.diagnostics.items.map((d) => d.message)).toEqual([]);
    const plan = buildPlan(plastic.program!.networks.get('Plastic')!, 10);
    const dir = mkdtempSync(join(tmpdir(), 'spikeforge-output-'));
    dirs.push(dir);
    const writer = new OutputWriter(dir, plan);
    writer.add({
      firstStep: 0,
      steps: 10,
      spikes: new Map(),
      traces: [new Float64Array(10 * 4), new Float64Array(10 * 6)],
    });
    writer.finish({ backend: 'cpu', device: 'test', wallSeconds: 0, compileSeconds: 0 }, new Map());
    // Stored order: by pre neuron, then post neuron; A[1:3] x B[2:5], synapses 1 to 4.
    expect(readFileSync(join(dir, 'S.w.synapses.csv'), 'utf8')).toBe(
      'synapse,pre,post\n1,1,3\n2,1,4\n3,2,2\n4,2,3\n',
    );
    expect(readdirSync(dir).filter((f) => f.endsWith('.synapses.csv'))).toEqual([
      'S.w.synapses.csv',
    ]);
  });

  it('writes spikes.csv lines as String() would, for indices of every length, over chunks that outgrow the line buffer', () => {
    const plan = buildPlan(network!, 10);
    const dir = mkdtempSync(join(tmpdir(), 'spikeforge-output-'));
    dirs.push(dir);
    const writer = new OutputWriter(dir, plan);
    const want: string[] = ['t_ms,population,index'];
    // Each step: these ten indices (ascending, up to 2^32 - 1); 2000 steps are 20000 lines,
    // more than the 64 KiB the line buffer starts with.
    const each = [0, 1, 9, 10, 99, 100, 65535, 999999999, 1000000000, 4294967295];
    let firstStep = 0;
    for (const chunkSteps of [2000, 1, 2000]) {
      const steps = new Uint32Array(chunkSteps * each.length);
      const indices = new Uint32Array(chunkSteps * each.length);
      for (let s = 0; s < chunkSteps; s++)
        each.forEach((index, k) => {
          steps[s * each.length + k] = firstStep + s;
          indices[s * each.length + k] = index;
          want.push(`${Number(((firstStep + s) * 0.1).toPrecision(12))},N,${index}`);
        });
      writer.add({
        firstStep,
        steps: chunkSteps,
        spikes: new Map([['N', { steps, indices }]]),
        traces: [new Float64Array(chunkSteps * 1000)],
      });
      firstStep += chunkSteps;
    }
    writer.finish({ backend: 'cpu', device: 'test', wallSeconds: 0, compileSeconds: 0 }, new Map());
    expect(readFileSync(join(dir, 'spikes.csv'), 'utf8')).toBe(`${want.join('\n')}\n`);
  });

  it('draws the rate of each population under the raster: a constant 100 Hz is a flat line', () => {
    const plan = buildPlan(network!, 2000);
    const dir = mkdtempSync(join(tmpdir(), 'spikeforge-output-'));
    dirs.push(dir);
    const writer = new OutputWriter(dir, plan);
    // Ten of the 1000 neurons spike in every step of 0.1 ms: 100 Hz.
    const steps = Uint32Array.from({ length: 20_000 }, (_, k) => Math.floor(k / 10));
    const indices = Uint32Array.from({ length: 20_000 }, (_, k) => k % 10);
    writer.add({
      firstStep: 0,
      steps: 2000,
      spikes: new Map([['N', { steps, indices }]]),
      traces: [new Float64Array(2000 * 1000)],
    });
    writer.finish({ backend: 'cpu', device: 'test', wallSeconds: 0, compileSeconds: 0 }, new Map());
    const svg = readFileSync(join(dir, 'raster.svg'), 'utf8');
    expect(svg).toContain('rate (Hz)');
    const line = /<polyline points="([^"]*)"[^>]*><title>N rate<\/title>/.exec(svg);
    const ys = new Set(line![1]!.split(' ').map((point) => point.split(',')[1]));
    expect(ys.size).toBe(1);
    expect(line![1]!.split(' ')).toHaveLength(2 * 500);
  });

  it('leaves no file behind when the run is abandoned', () => {
    const plan = buildPlan(network!, 10);
    const dir = mkdtempSync(join(tmpdir(), 'spikeforge-output-'));
    dirs.push(dir);
    const writer = new OutputWriter(dir, plan);
    writer.add(chunkOf(10, 1000));
    writer.abandon();
    expect(readdirSync(dir)).toEqual([]);
  });

  it.skipIf(!existsSync('/dev/full'))(
    'a file that cannot be begun (no space left) is named, and the files begun before it are removed',
    () => {
      const plan = buildPlan(network!, 10);
      const dir = mkdtempSync(join(tmpdir(), 'spikeforge-output-'));
      dirs.push(dir);
      // N.V.csv, begun after spikes.csv, is written through its temporary name into /dev/full.
      symlinkSync('/dev/full', join(dir, `N.V.csv.${process.pid}.tmp`));
      expect(() => new OutputWriter(dir, plan)).toThrow(
        expect.objectContaining({ code: 'ENOSPC', path: join(dir, 'N.V.csv') }),
      );
      expect(readdirSync(dir)).toEqual([]);
    },
  );

  it('names the files a run writes, and no others', () => {
    for (const name of [
      'spikes.csv',
      'summary.json',
      'raster.svg',
      'N.V.csv',
      'E.g_e.svg',
      'N.V.0-9.csv',
      'N.V.0-9.svg',
    ])
      expect(isRunOutputName(name), name).toBe(true);
    for (const name of [
      'data.csv',
      'params.json',
      'N.V.txt',
      'my data.csv',
      'N.V.csv.123.tmp',
      'a.b.c.csv',
    ])
      expect(isRunOutputName(name), name).toBe(false);
  });
});
