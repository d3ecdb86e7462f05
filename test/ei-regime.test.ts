/**
 * Issue 6: the E/I network of language.md (examples/ei_net.spk) fires in the asynchronous
 * irregular regime. Irregular: the mean coefficient of variation of the interspike intervals
 * (summary.json's isi_cv_mean) is above 1. Asynchronous: the population's spike count in 1 ms
 * bins has a Fano factor near that of independent neurons (1), where synchronous volleys make
 * it hundreds. The same network with a tenth of its inhibition fires in synchronous regular
 * volleys, and fails both criteria: the measures tell the regimes apart.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPlan } from '../src/codegen/module.js';
import { compileFiles } from '../src/pipeline.js';
import { CpuBackend } from '../src/runtime/cpu.js';
import { OutputWriter } from '../src/runtime/output.js';
import { simulate } from '../src/runtime/simulate.js';
import { ROOT } from './golden/cases.js';

const EXAMPLE = join(ROOT, 'examples', 'ei_net.spk');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs the example's text (500 ms) and measures its regime from summary.json and spikes.csv. */
async function regime(text: string) {
  const compiled = compileFiles([EXAMPLE], (p) => (p === EXAMPLE ? text : readFileSync(p, 'utf8')));
  const network = compiled.program?.networks.get('EINet');
  if (network === undefined)
    throw new Error(compiled.diagnostics.items.map((d) => d.message).join('; '));
  const plan = buildPlan({ ...network, duration: 500 }, 5000);
  const dir = mkdtempSync(join(tmpdir(), 'spikeforge-ei-'));
  dirs.push(dir);
  const backend = new CpuBackend('f32');
  const writer = new OutputWriter(dir, plan);
  try {
    await backend.prepare(plan);
    await simulate(plan, backend, writer);
  } finally {
    backend.dispose();
  }
  const summary = writer.finish(
    { backend: 'cpu', device: '', wallSeconds: 0, compileSeconds: 0 },
    new Map(),
  );
  const n = (summary['populations'] as Record<string, Record<string, number>>)['N']!;
  // Population spike counts in 1 ms bins after the first 100 ms.
  const counts = new Float64Array(400);
  for (const line of readFileSync(join(dir, 'spikes.csv'), 'utf8').trim().split('\n').slice(1)) {
    const bin = Math.floor(Number(line.split(',')[0])) - 100;
    if (bin >= 0 && bin < counts.length) counts[bin]! += 1;
  }
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  const variance = counts.reduce((a, b) => a + (b - mean) ** 2, 0) / counts.length;
  return { rate: n['mean_rate_hz']!, cv: n['isi_cv_mean']!, fano: variance / mean };
}

describe('the E/I network of language.md', () => {
  it('fires in the asynchronous irregular regime; with a tenth of its inhibition it does not', async () => {
    const text = readFileSync(EXAMPLE, 'utf8');
    const ai = await regime(text);
    expect(ai.rate).toBeGreaterThan(10);
    expect(ai.rate).toBeLessThan(30);
    expect(ai.cv).toBeGreaterThan(1);
    expect(ai.fano).toBeLessThan(10);

    const weakInhibition = text.replace('weight 6.7 uS', 'weight 0.67 uS');
    expect(weakInhibition).not.toBe(text);
    const synchronous = await regime(weakInhibition);
    expect(synchronous.rate).toBeGreaterThan(100);
    expect(synchronous.cv).toBeLessThan(0.1);
    expect(synchronous.fano).toBeGreaterThan(100);
  }, 60_000);
});
