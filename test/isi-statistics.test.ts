/** IsiStatistics: the mean CV of the interspike intervals, kept incrementally, against its definition. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IsiStatistics } from '../src/runtime/isi-statistics.js';

/** The definition: per neuron with at least two intervals, population sd / mean of its intervals; their mean. */
function meanCv(trains: readonly (readonly number[])[]): number | undefined {
  const cvs = trains.flatMap((steps) => {
    const isi = steps.slice(1).map((s, k) => s - steps[k]!);
    if (isi.length < 2) return [];
    const mean = isi.reduce((a, b) => a + b, 0) / isi.length;
    const variance = isi.reduce((a, b) => a + (b - mean) ** 2, 0) / isi.length;
    return [Math.sqrt(variance) / mean];
  });
  return cvs.length === 0 ? undefined : cvs.reduce((a, b) => a + b, 0) / cvs.length;
}

/** The trains' spikes in time order (step, then index), cut into chunks at `cuts`. */
function chunks(trains: readonly (readonly number[])[], cuts: readonly number[]) {
  const spikes = trains
    .flatMap((steps, i) => steps.map((s) => [s, i] as const))
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const bounds = [
    0,
    ...cuts.map((c) => Math.floor(c * spikes.length)).sort((a, b) => a - b),
    spikes.length,
  ];
  return bounds.slice(1).map((end, k) => {
    const part = spikes.slice(bounds[k]!, end);
    return {
      steps: Uint32Array.from(part, (p) => p[0]),
      indices: Uint32Array.from(part, (p) => p[1]),
    };
  });
}

describe('IsiStatistics', () => {
  it('equals the definition on random spike trains, however the spikes are cut into chunks', () => {
    const train = fc
      .uniqueArray(fc.integer({ min: 0, max: 1_000_000 }), { maxLength: 30 })
      .map((s) => s.sort((a, b) => a - b));
    fc.assert(
      fc.property(
        fc.array(train, { minLength: 1, maxLength: 12 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        (trains, cuts) => {
          const statistics = new IsiStatistics(trains.length);
          for (const c of chunks(trains, cuts)) statistics.add(c.steps, c.indices);
          const want = meanCv(trains);
          const got = statistics.result();
          if (want === undefined) expect(got).toBeUndefined();
          else {
            expect(got?.meanCv).toBeCloseTo(want, 10);
            expect(got?.neurons).toBe(trains.filter((t) => t.length >= 3).length);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('is 0 for regular firing and about 1 for Poisson firing', () => {
    const regular = new IsiStatistics(2);
    regular.add(
      Uint32Array.from([10, 10, 20, 20, 30, 30, 40]),
      Uint32Array.from([0, 1, 0, 1, 0, 1, 0]),
    );
    expect(regular.result()).toEqual({ meanCv: 0, neurons: 2 });
    // Geometric intervals (a Bernoulli process per step, p = 0.01): CV sqrt(1 - p).
    let x = 12345;
    const draw = (): number => ((x = Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const steps: number[] = [];
    for (let s = 0; s < 2_000_000; s++) if (draw() < 0.01) steps.push(s);
    const poisson = new IsiStatistics(1);
    poisson.add(Uint32Array.from(steps), new Uint32Array(steps.length));
    expect(poisson.result()!.meanCv).toBeCloseTo(Math.sqrt(0.99), 1);
  });
});
