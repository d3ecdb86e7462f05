/**
 * Drawn weights of procedural projections (src/codegen/drawn-weights.ts) and the normal
 * quantile behind them (src/random/normal-quantile.ts):
 *   - Phi and Phi^-1 against Python's math.erfc and statistics.NormalDist;
 *   - the knots: nondecreasing, normal ones symmetric about the mean, the quantum the tightest
 *     power of two that keeps nPre weights below 2^30 quanta;
 *   - drawnWeight: between its two knots and nondecreasing in the word (property tests);
 *   - the weights drawn from Philox words: mean and standard deviation as asked, and a
 *     Kolmogorov-Smirnov distance to the normal (or uniform) law within its 1 % critical value.
 * That every backend adds these same integers is tested in connectivity.test.ts (delivery)
 * and cpu-wasm.test.ts (the WebAssembly row).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { drawnWeight } from '../src/codegen/drawn-weights.js';
import { normalCdf, normalQuantile } from '../src/random/normal-quantile.js';
import { philox4x32_10 } from '../src/random/philox.js';
import { drawnWeightsOf } from './support/drawn.js';

/** n Philox words of one stream, as a row's draws would be. */
function words(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let b = 0; b < n / 4; b++) out.set(philox4x32_10([b, 0, 2, 0], [2024, 11]), 4 * b);
  return out;
}

/** The Kolmogorov-Smirnov distance between a sample and a distribution function. */
function ksDistance(sample: number[], cdf: (x: number) => number): number {
  const sorted = [...sample].sort((a, b) => a - b);
  const n = sorted.length;
  return sorted.reduce(
    (d, x, k) => Math.max(d, Math.abs((k + 1) / n - cdf(x)), Math.abs(k / n - cdf(x))),
    0,
  );
}

describe('the standard normal', () => {
  it.each([
    [-6, 9.865876450377012e-10],
    [-3.5, 0.00023262907903552504],
    [-1.96, 0.024997895148220435],
    [-0.5, 0.3085375387259869],
    [0, 0.5],
    [1, 0.8413447460685429],
    [2.5, 0.9937903346742238],
  ])('Phi(%d) = %d (math.erfc)', (z, p) => {
    expect(Math.abs(normalCdf(z) - p)).toBeLessThan(2e-16 + 1e-14 * p);
  });

  it.each([
    [1e-6, -4.753424308822899],
    [2 ** -12, -3.4871041041144313],
    [0.025, -1.9599639845400538],
    [0.3, -0.5244005127080407],
    [0.5, 0],
    [0.975, 1.9599639845400536],
  ])('Phi^-1(%d) = %d (NormalDist)', (p, z) => {
    // Phi's absolute error, 1e-16, becomes 1e-16 / phi(z) in z: 2e-11 at p = 1e-6.
    expect(Math.abs(normalQuantile(p) - z)).toBeLessThan(p < 2 ** -12 ? 1e-10 : 1e-13);
  });
});

describe('drawn weights', () => {
  const normal = drawnWeightsOf('normal', 0.6, 0.1, 3200);
  const uniform = drawnWeightsOf('uniform', -0.5, 2, 300);

  it('knots: nondecreasing; normal ones symmetric about the mean; the tightest quantum', () => {
    for (const [w, nPre] of [
      [normal, 3200],
      [uniform, 300],
    ] as const) {
      expect(w.knots.every((k, i) => i === 0 || k >= w.knots[i - 1]!)).toBe(true);
      const largest = Math.max(Math.abs(w.knots[0]!), Math.abs(w.knots.at(-1)!));
      expect(nPre * largest).toBeLessThanOrEqual(2 ** 30 + nPre);
      expect(nPre * largest).toBeGreaterThan(2 ** 29);
    }
    expect(normal.knots.length).toBe(2 ** 12 + 1);
    const mean = Math.round(0.6 / normal.quantum);
    for (let k = 0; k <= 2 ** 11; k++)
      expect(
        Math.abs(normal.knots[k]! + normal.knots[2 ** 12 - k]! - 2 * mean),
      ).toBeLessThanOrEqual(1);
    // Uniform: the ends and the middle.
    expect(Array.from(uniform.knots, (k) => k * uniform.quantum)).toEqual([-0.5, 0.75, 2]);
  });

  it('a negative scale walks the quantiles backwards: the knots still rise', () => {
    const w = drawnWeightsOf('uniform', 2, -1, 10);
    expect(Array.from(w.knots, (k) => k * w.quantum)).toEqual([-1, 0.5, 2]);
  });

  it('drawnWeight lies between its two knots and rises with the word', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfffffffe }), (x) => {
        for (const w of [normal, uniform]) {
          const b = x >>> (32 - w.bits);
          const v = drawnWeight(w, x);
          expect(v).toBeGreaterThanOrEqual(w.knots[b]!);
          expect(v).toBeLessThanOrEqual(w.knots[b + 1]!);
          expect(drawnWeight(w, x + 1)).toBeGreaterThanOrEqual(v);
        }
      }),
    );
    expect(drawnWeight(uniform, 0)).toBe(uniform.knots[0]);
    expect(drawnWeight(uniform, 0xffffffff)).toBe(uniform.knots[2]);
  });

  it('rounds to the nearest quantum: over evenly spread words the mean is the middle (a floor is half a quantum low)', () => {
    let sum = 0;
    // x = k (2^16 + 1): the fractions of d f / 2^32 spread over [0, 1) (k 2^16 alone would give none).
    for (let k = 0; k < 2 ** 16; k++) sum += drawnWeight(uniform, k * 65537);
    const middle = (uniform.knots[0]! + uniform.knots[2]!) / 2;
    expect(Math.abs(sum / 2 ** 16 - middle)).toBeLessThan(0.05);
  });

  it('normal(0.6, 0.1) from Philox words: the mean, the deviation and the law', () => {
    const sample = Array.from(words(100_000), (x) => drawnWeight(normal, x) * normal.quantum);
    const mean = sample.reduce((s, x) => s + x, 0) / sample.length;
    const sd = Math.sqrt(sample.reduce((s, x) => s + (x - mean) ** 2, 0) / (sample.length - 1));
    // Standard errors: 0.1 / sqrt(1e5) = 3.2e-4 for the mean, 2.2e-4 for the deviation.
    expect(Math.abs(mean - 0.6)).toBeLessThan(1.3e-3);
    expect(Math.abs(sd - 0.1)).toBeLessThan(1e-3);
    expect(ksDistance(sample, (x) => normalCdf((x - 0.6) / 0.1))).toBeLessThan(
      1.63 / Math.sqrt(sample.length),
    );
    // Bounded: within 3.99 standard deviations.
    expect(Math.max(...sample.map((x) => Math.abs(x - 0.6)))).toBeLessThan(0.4);
  });

  it('uniform(-0.5, 2) from Philox words: the law', () => {
    const sample = Array.from(words(100_000), (x) => drawnWeight(uniform, x) * uniform.quantum);
    const cdf = (x: number): number => Math.min(1, Math.max(0, (x + 0.5) / 2.5));
    expect(ksDistance(sample, cdf)).toBeLessThan(1.63 / Math.sqrt(sample.length));
    expect(Math.min(...sample)).toBeGreaterThanOrEqual(-0.5);
    expect(Math.max(...sample)).toBeLessThan(2);
  });

  it('a zero weight has quantum 1 and zero knots', () => {
    const w = drawnWeightsOf('normal', 0, 0, 100);
    expect(w.quantum).toBe(1);
    expect(w.knots.every((k) => k === 0)).toBe(true);
  });
});
