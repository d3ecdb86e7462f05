import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boxMuller,
  philox4x32_10,
  randomU32x4,
  streamId,
  u32ToUniform01,
  u32ToUniformOpen,
} from '../src/random/philox.js';
import { PHILOX_RUN_MAX, philoxRun, standardDraws } from '../src/random/philox-wasm.js';
import { normalQuantile } from '../src/random/normal-quantile.js';

type Words4 = [number, number, number, number];

/**
 * Random123 known-answer vectors (tests/kat_vectors, "philox4x32 R" lines): counter, key,
 * expected output. The 7-round lines only check the BigInt reference below.
 */
const KAT: readonly { rounds: number; ctr: Words4; key: [number, number]; out: Words4 }[] = [
  {
    rounds: 7,
    ctr: [0, 0, 0, 0],
    key: [0, 0],
    out: [0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48],
  },
  {
    rounds: 7,
    ctr: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    out: [0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662],
  },
  {
    rounds: 7,
    ctr: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    out: [0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a],
  },
  {
    rounds: 10,
    ctr: [0, 0, 0, 0],
    key: [0, 0],
    out: [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
  },
  {
    rounds: 10,
    ctr: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    out: [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  },
  {
    rounds: 10,
    ctr: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    out: [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  },
];

/**
 * Reference Philox-4x32-R in BigInt, written after Random123's philox.h (key bumped before
 * rounds 2..R) rather than after the fast version, so the two check each other.
 */
function philoxReference(rounds: number, ctr: readonly number[], key: readonly number[]): Words4 {
  const mask = 0xffffffffn;
  let [c0, c1, c2, c3] = ctr.map(BigInt) as [bigint, bigint, bigint, bigint];
  let [k0, k1] = key.map(BigInt) as [bigint, bigint];
  for (let round = 1; round <= rounds; round++) {
    if (round > 1) {
      k0 = (k0 + 0x9e3779b9n) & mask;
      k1 = (k1 + 0xbb67ae85n) & mask;
    }
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [(p1 >> 32n) ^ c1 ^ k0, p1 & mask, (p0 >> 32n) ^ c3 ^ k1, p0 & mask];
  }
  return [Number(c0), Number(c1), Number(c2), Number(c3)];
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const hex = (words: readonly number[]) => words.map((w) => w.toString(16).padStart(8, '0'));

describe('philox4x32_10', () => {
  it.each(KAT.filter((v) => v.rounds === 10))(
    'matches the Random123 known answer for counter $ctr, key $key',
    ({ ctr, key, out }) => {
      expect(hex(philox4x32_10(ctr, key))).toEqual(hex(out));
    },
  );

  it.each(KAT)('the BigInt reference matches Random123 ($rounds rounds, key $key)', (v) => {
    expect(hex(philoxReference(v.rounds, v.ctr, v.key))).toEqual(hex(v.out));
  });

  it('agrees with the BigInt reference on random inputs', () => {
    fc.assert(
      fc.property(fc.tuple(u32, u32, u32, u32), fc.tuple(u32, u32), (ctr, key) => {
        expect(hex(philox4x32_10(ctr, key))).toEqual(hex(philoxReference(10, ctr, key)));
      }),
      { seed: 0x5eed, numRuns: 5000 },
    );
  });

  it('returns u32 values and reduces its inputs modulo 2^32', () => {
    const allOnes = KAT[4]!;
    expect(philox4x32_10([-1, -1, -1, -1], [-1, -1])).toEqual(allOnes.out);
    expect(philox4x32_10([2 ** 32, 2 ** 32, 2 ** 32, 2 ** 32], [2 ** 32, 2 ** 32])).toEqual(
      KAT[3]!.out,
    );
    for (const w of philox4x32_10([1, 2, 3, 4], [5, 6])) {
      expect(Number.isInteger(w) && w >= 0 && w <= 0xffffffff).toBe(true);
    }
  });
});

describe('stream layout', () => {
  it('streamId is 32-bit FNV-1a over UTF-8', () => {
    // Published FNV-1a 32-bit test values.
    expect(streamId('')).toBe(0x811c9dc5);
    expect(streamId('a')).toBe(0xe40c292c);
    expect(streamId('foobar')).toBe(0xbf9cf968);
    // 'é' is the two UTF-8 bytes c3 a9, hashed one at a time.
    const expected = Math.imul(Math.imul(0x811c9dc5 ^ 0xc3, 0x01000193) ^ 0xa9, 0x01000193) >>> 0;
    expect(streamId('é')).toBe(expected);
  });

  it('randomU32x4 is philox4x32_10 with key (seed, stream) and counter (index, step, purpose, 0)', () => {
    const stream = streamId('exc');
    expect(randomU32x4(42, stream, 7, 1000, 2)).toEqual(
      philox4x32_10([7, 1000, 2, 0], [42, stream]),
    );
    // Only the low 32 bits of the seed matter.
    expect(randomU32x4(2 ** 32 + 42, stream, 7, 1000, 2)).toEqual(
      randomU32x4(42, stream, 7, 1000, 2),
    );
    expect(randomU32x4(42, stream, 7, 1000, 2)).not.toEqual(randomU32x4(42, stream, 7, 1000, 3));
  });
});

describe('uniform conversions', () => {
  it('u32ToUniform01 maps the top 24 bits onto [0, 1)', () => {
    expect(u32ToUniform01(0)).toBe(0);
    expect(u32ToUniform01(0xff)).toBe(0);
    expect(u32ToUniform01(0x100)).toBe(2 ** -24);
    expect(u32ToUniform01(0x80000000)).toBe(0.5);
    expect(u32ToUniform01(0xffffffff)).toBe(1 - 2 ** -24);
  });

  it('u32ToUniformOpen maps the top 24 bits onto (0, 1]', () => {
    expect(u32ToUniformOpen(0)).toBe(2 ** -24);
    expect(u32ToUniformOpen(0x7fffffff)).toBe(0.5);
    expect(u32ToUniformOpen(0xffffffff)).toBe(1);
  });

  it('gives exact float32 values in range', () => {
    fc.assert(
      fc.property(u32, (x) => {
        const u = u32ToUniform01(x);
        const v = u32ToUniformOpen(x);
        expect(u >= 0 && u < 1).toBe(true);
        expect(v > 0 && v <= 1).toBe(true);
        expect(Math.fround(u)).toBe(u);
        expect(Math.fround(v)).toBe(v);
        expect(v - u).toBe(2 ** -24);
      }),
      { seed: 0x5eed, numRuns: 5000 },
    );
  });
});

describe('boxMuller', () => {
  it('handles the extreme uniforms', () => {
    // u1 = 1: radius 0.
    expect(boxMuller(0xffffffff, 0x12345678).map(Math.abs)).toEqual([0, 0]);
    // u1 = 2^-24 (the largest radius, sqrt(48 ln 2)); u2 = 0.5: angle 0.
    const [z0, z1] = boxMuller(0, 0x80000000);
    expect(z0).toBe(Math.fround(Math.sqrt(Math.fround(48 * Math.LN2))));
    expect(z1).toBe(0);
  });

  it('produces finite float32 standard normals (mean, variance, 1-sigma mass, correlation)', () => {
    const pairs = 100_000;
    const seed = 20240601;
    const stream = streamId('philox.test/boxMuller');
    const maxRadius = Math.sqrt(48 * Math.LN2) * (1 + 1e-6);
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    let withinOneSigma = 0;
    let sumProduct = 0;
    let invalid = 0;
    for (let i = 0; i < pairs / 2; i++) {
      const [a, b, c, d] = randomU32x4(seed, stream, i, 0, 0);
      for (const [x, y] of [boxMuller(a, b), boxMuller(c, d)]) {
        for (const z of [x, y]) {
          if (!(Math.fround(z) === z && Math.abs(z) <= maxRadius)) invalid++;
          n++;
          sum += z;
          sumSq += z * z;
          if (Math.abs(z) < 1) withinOneSigma++;
        }
        sumProduct += x * y;
      }
    }
    expect(invalid).toBe(0);
    const mean = sum / n;
    const variance = sumSq / n - mean * mean;
    // Standard errors for n = 2e5: mean 0.0022, variance 0.0032, mass 0.001, correlation 0.0032;
    // the bounds are about 5 of them (the draws are seeded, so the test is deterministic).
    expect(Math.abs(mean)).toBeLessThan(0.012);
    expect(Math.abs(variance - 1)).toBeLessThan(0.016);
    expect(Math.abs(withinOneSigma / n - 0.682689)).toBeLessThan(0.005);
    expect(Math.abs(sumProduct / pairs)).toBeLessThan(0.016);
  });
});

/** The spacing of float32 values at |y| (y not 0). */
function f32Ulp(y: number): number {
  return 2 ** (Math.max(Math.floor(Math.log2(Math.abs(y))), -126) - 23);
}

/** A word a whose u1 = ((a >> 8) + 1) 2^-24 gives a radius of exactly 1 (sf_log(u1) = -1/2). */
const RADIUS_ONE = 0x9b459700; // u1 = 10175896 * 2^-24

describe('boxMuller accuracy (src/codegen/normal32.ts), over every value of each uniform', () => {
  it('the radius is within 1 ulp of sqrt(-2 ln u1) for every u1 (u2 = 1/2: cos 1, sin 0)', () => {
    let worst = 0;
    let correctlyRounded = 0;
    for (let m = 0; m < 1 << 24; m++) {
      const [radius, zero] = boxMuller(m << 8, 0x80000000);
      const want = Math.sqrt(-2 * Math.log((m + 1) * 2 ** -24));
      if (want === 0) expect(Math.abs(radius) + Math.abs(zero)).toBe(0);
      else worst = Math.max(worst, Math.abs(radius - want) / f32Ulp(want));
      if (radius === Math.fround(want)) correctlyRounded++;
    }
    console.info(
      `boxMuller radius: within ${worst.toFixed(3)} ulp, ${((100 * correctlyRounded) / 2 ** 24).toFixed(1)} % correctly rounded`,
    );
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('cos and sin of 2 pi (u2 - 1/2) are within 1.25 ulp for every u2, and exact at the quarter turns', () => {
    expect(boxMuller(RADIUS_ONE, 0x80000000)).toEqual([1, 0]);
    let worst = 0;
    let correctlyRounded = 0;
    for (let m = 0; m < 1 << 24; m++) {
      const got = boxMuller(RADIUS_ONE, m << 8);
      const angle = 2 * Math.PI * (m * 2 ** -24 - 0.5);
      [Math.cos(angle), Math.sin(angle)].forEach((want, k) => {
        // Quarter turns: 0 (of either sign) and +-1 exactly.
        if (m % 0x400000 === 0) expect(got[k]! + 0).toBe(Math.round(want) + 0);
        else worst = Math.max(worst, Math.abs(got[k]! - want) / f32Ulp(want));
        if (got[k] === Math.fround(want) || Math.abs(want) < 1e-12) correctlyRounded++;
      });
    }
    console.info(
      `boxMuller cos, sin: within ${worst.toFixed(3)} ulp, ${((100 * correctlyRounded) / 2 ** 25).toFixed(1)} % correctly rounded`,
    );
    expect(worst).toBeLessThanOrEqual(1.25);
  });

  it('both values are N(0, 1): chi-square over 40 equiprobable bins, 2^20 draws each', () => {
    const bins = 40;
    const edges = Array.from({ length: bins - 1 }, (_, k) => normalQuantile((k + 1) / bins));
    const counts = [new Array<number>(bins).fill(0), new Array<number>(bins).fill(0)];
    const stream = streamId('philox.test/chi-square');
    const draws = 1 << 20;
    const tails = [0, 0];
    for (let i = 0; i < draws / 2; i++) {
      const [a, b, c, d] = randomU32x4(7, stream, i, 0, 0);
      for (const pair of [boxMuller(a, b), boxMuller(c, d)])
        pair.forEach((z, k) => {
          let bin = 0;
          while (bin < bins - 1 && z >= edges[bin]!) bin++;
          counts[k]![bin]!++;
          if (Math.abs(z) > 4) tails[k]!++;
        });
    }
    for (const [k, observed] of counts.entries()) {
      const expected = draws / bins;
      const chi2 = observed.reduce((sum, o) => sum + (o - expected) ** 2 / expected, 0);
      // 39 degrees of freedom: P(chi2 > 72) is about 1e-3; the draws are seeded.
      expect(chi2, `value ${k}: chi-square ${chi2.toFixed(1)}`).toBeLessThan(72);
    }
    // The tails are there: P(|z| > 4) = 6.3e-5, about 66 of 2^20 values (sd 8.1).
    for (const count of tails) {
      expect(count).toBeGreaterThan(34);
      expect(count).toBeLessThan(99);
    }
  });
});

describe('philoxRun (the host module, src/random/philox-wasm.ts)', () => {
  // Counters near 2^32 often, so that runs wrap.
  const nearWrap = fc.oneof(u32, fc.integer({ min: 0xffffff80, max: 0xffffffff }));
  const counterOf = (first: Words4, along: 0 | 1, b: number): Words4 =>
    along === 0
      ? [first[0] + b, first[1], first[2], first[3]]
      : [first[0], first[1] + b, first[2], first[3]];

  it('gives philox4x32_10 of each counter, counting along word 0 or word 1, wrapping at 2^32', () => {
    fc.assert(
      fc.property(
        fc.tuple(nearWrap, nearWrap, nearWrap, nearWrap),
        fc.tuple(u32, u32),
        fc.constantFrom<0 | 1>(0, 1),
        fc.integer({ min: 1, max: 70 }),
        (first, key, along, count) => {
          const words = philoxRun(key[0], key[1], first, along, count).slice(0, 4 * count);
          const want = new Uint32Array(4 * count);
          for (let b = 0; b < count; b++)
            want.set(philox4x32_10(counterOf(first, along, b), key), 4 * b);
          expect(words).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('covers a whole run of PHILOX_RUN_MAX blocks across the 2^32 wrap, and refuses longer runs', () => {
    const first: Words4 = [0xffffffff - 1000, 0xffffffff, 3, 0xfffffffe];
    for (const along of [0, 1] as const) {
      const words = philoxRun(7, 0xfeedface, first, along, PHILOX_RUN_MAX);
      for (const b of [0, 1, 1000, 1001, 1002, 2047, PHILOX_RUN_MAX - 1])
        expect([...words.subarray(4 * b, 4 * b + 4)], `block ${b} along ${along}`).toEqual(
          philox4x32_10(counterOf(first, along, b), [7, 0xfeedface]),
        );
    }
    expect(() => philoxRun(1, 2, [0, 0, 0, 0], 0, PHILOX_RUN_MAX + 1)).toThrow(/at most/);
  });

  it('standardDraws are the uniform and normal draws of randomU32x4 (element, step 0, purpose)', () => {
    const stream = streamId('philox.test/standardDraws');
    const out = new Float64Array(50);
    for (const distribution of ['uniform', 'normal'] as const) {
      standardDraws(distribution, 99, stream, 3, 0xffffffe0, 50, out);
      for (let b = 0; b < 50; b++) {
        const [w0, w1] = randomU32x4(99, stream, 0xffffffe0 + b, 0, 3);
        expect(out[b]).toBe(distribution === 'normal' ? boxMuller(w0, w1)[0] : u32ToUniform01(w0));
      }
    }
  });
});
