import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  boxMuller,
  philox4x32_10,
  randomU32x4,
  u32ToUniform01,
  u32ToUniformOpen,
} from '../src/random/philox.js';
import { PHILOX_WGSL } from '../src/random/philox-wgsl.js';
import {
  compileWgsl,
  formatCompilationMessages,
  openWebGpu,
  runCompute,
} from './support/webgpu.js';

const opened = await openWebGpu();
if (!opened.ok) console.warn(`philox-webgpu tests SKIPPED: no WebGPU adapter (${opened.reason})`);

const N = 4096;
const WORKGROUP = 64;

/** Applies every library function to one counter/key pair per invocation. */
const KERNEL = `${PHILOX_WGSL}
@group(0) @binding(0) var<storage, read> counters: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> keys: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> words: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> layout_words: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> uniform01: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> uniform_open: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> normals: array<vec4<f32>>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i >= arrayLength(&counters)) {
    return;
  }
  let c = counters[i];
  let k = keys[i];
  words[i] = sf_philox4x32_10(c, k);
  layout_words[i] = sf_random_u32x4(k.x, k.y, c.x, c.y, c.z);
  uniform01[i] = vec4<f32>(sf_u32_to_uniform01(c.x), sf_u32_to_uniform01(c.y),
                           sf_u32_to_uniform01(c.z), sf_u32_to_uniform01(c.w));
  uniform_open[i] = vec4<f32>(sf_u32_to_uniform_open(c.x), sf_u32_to_uniform_open(c.y),
                              sf_u32_to_uniform_open(c.z), sf_u32_to_uniform_open(c.w));
  normals[i] = vec4<f32>(sf_box_muller(c.x, c.y), sf_box_muller(c.z, c.w));
}
`;

/**
 * Inputs: the three Random123 known-answer inputs, words at the edges of the conversions,
 * then seeded random words (fast-check biases them towards small and extreme values).
 */
function makeInputs(): { counters: Uint32Array; keys: Uint32Array } {
  const counters = new Uint32Array(
    fc.sample(fc.integer({ min: 0, max: 0xffffffff }), { seed: 7, numRuns: 4 * N }),
  );
  const keys = new Uint32Array(
    fc.sample(fc.integer({ min: 0, max: 0xffffffff }), { seed: 8, numRuns: 2 * N }),
  );
  const fixed: { ctr: number[]; key: number[] }[] = [
    { ctr: [0, 0, 0, 0], key: [0, 0] },
    { ctr: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], key: [0xffffffff, 0xffffffff] },
    { ctr: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], key: [0xa4093822, 0x299f31d0] },
    { ctr: [0xff, 0x100, 0x7fffffff, 0x80000000], key: [1, 2] },
    { ctr: [0xffffff00, 0xfffffeff, 0x00ffffff, 0x01000000], key: [3, 4] },
  ];
  fixed.forEach(({ ctr, key }, i) => {
    counters.set(ctr, 4 * i);
    keys.set(key, 2 * i);
  });
  return { counters, keys };
}

/** The first few indices where two equal-length word arrays differ, as readable text. */
function bitMismatches(actual: Uint32Array, expected: Uint32Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < expected.length && out.length < 5; i++) {
    if (actual[i] !== expected[i])
      out.push(`[${i}] got ${actual[i]?.toString(16)}, want ${expected[i]?.toString(16)}`);
  }
  return out;
}

/** Spacing of float32 values near x (x > 0); the smallest subnormal for 0. */
function f32Ulp(x: number): number {
  return x === 0 ? 2 ** -149 : 2 ** (Math.max(Math.floor(Math.log2(x)), -126) - 23);
}

/**
 * How far a WebGPU Box-Muller component may be from the JavaScript one, for a pair of radius
 * r = sqrt(-2 log u1). Words and uniforms are bit-identical, but log, sqrt, cos and sin cannot
 * be: WGSL only bounds their error and leaves the rest to the implementation (log: 3 ulp, or
 * 2^-21 absolute on [0.5, 2]; sqrt: 2.5 ulp; cos/sin: 2^-11 absolute on [-pi, pi]), while the
 * JavaScript rounds nearly exact double results to float32. So the bound is a few ulp of r, plus:
 * - r * 2^-21 for the absolute error of cos/sin: what fast hardware sin/cos reach (CUDA
 *   documents 2^-21.41 for __sinf/__cosf on [-pi, pi]); llvmpipe is well inside it.
 * - for u1 >= 0.5, log's absolute error e <= 2^-21 perturbs r^2 = -2 log u1 by 2e, hence r
 *   by at most 2e / r and never more than sqrt(2e) = 2^-10. This dominates for small r
 *   (u1 near 1), where llvmpipe's log is off by about 2^-22 absolute.
 * Measured on llvmpipe: at most 2 ulp of r wherever u1 < 0.5.
 */
function normalTolerance(r: number, u1: number): number {
  const logError = u1 >= 0.5 ? Math.min(2 ** -20 / r, 2 ** -10) : 0;
  return 4 * f32Ulp(r) + r * 2 ** -21 + logError;
}

describe.skipIf(!opened.ok)('Philox WGSL on WebGPU', () => {
  const gpu = () => {
    if (!opened.ok) throw new Error('unreachable: suite skipped without a device');
    return opened.gpu;
  };
  afterAll(() => gpu().close());

  it('compiles with no errors or warnings', async () => {
    console.info(`WebGPU adapter: ${gpu().description}`);
    for (const code of [PHILOX_WGSL, KERNEL]) {
      const { messages } = await compileWgsl(gpu().device, code);
      expect(formatCompilationMessages(messages.filter((m) => m.type !== 'info'))).toEqual([]);
    }
  });

  it('matches the JavaScript bit for bit (words, uniforms) and to a few ulp (normals)', async () => {
    const { device } = gpu();
    const { counters, keys } = makeInputs();
    const { module } = await compileWgsl(device, KERNEL);
    const [, , wordsBuf, layoutBuf, u01Buf, openBuf, normalsBuf] = await runCompute(device, {
      module,
      entryPoint: 'main',
      buffers: [
        { data: counters },
        { data: keys },
        ...[0, 1, 2, 3, 4].map(() => ({ byteLength: 16 * N })),
      ],
      workgroups: [N / WORKGROUP, 1, 1],
    });
    const words = new Uint32Array(wordsBuf!);
    const layoutWords = new Uint32Array(layoutBuf!);
    const normals = new Float32Array(normalsBuf!);

    const want = {
      words: new Uint32Array(4 * N),
      layoutWords: new Uint32Array(4 * N),
      u01: new Float32Array(4 * N),
      open: new Float32Array(4 * N),
      normals: new Float32Array(4 * N),
    };
    for (let i = 0; i < N; i++) {
      const c = [0, 1, 2, 3].map((j) => counters[4 * i + j]!) as [number, number, number, number];
      const k = [keys[2 * i]!, keys[2 * i + 1]!] as const;
      want.words.set(philox4x32_10(c, k), 4 * i);
      want.layoutWords.set(randomU32x4(k[0], k[1], c[0], c[1], c[2]), 4 * i);
      want.u01.set(c.map(u32ToUniform01), 4 * i);
      want.open.set(c.map(u32ToUniformOpen), 4 * i);
      want.normals.set([...boxMuller(c[0], c[1]), ...boxMuller(c[2], c[3])], 4 * i);
    }

    expect(bitMismatches(words, want.words)).toEqual([]);
    expect(bitMismatches(layoutWords, want.layoutWords)).toEqual([]);
    expect(bitMismatches(new Uint32Array(u01Buf!), new Uint32Array(want.u01.buffer))).toEqual([]);
    expect(bitMismatches(new Uint32Array(openBuf!), new Uint32Array(want.open.buffer))).toEqual([]);
    // Random123 known answers, straight from the GPU.
    expect([...words.subarray(0, 12)]).toEqual([
      0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
      0x6d5451fd, 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);

    const outOfTolerance: string[] = [];
    let worstRatio = 0;
    // Pair p is sf_box_muller(a, b) with a = counter word 2p (giving u1) and b = word 2p + 1.
    for (let p = 0; p < 2 * N; p++) {
      const r = Math.hypot(want.normals[2 * p]!, want.normals[2 * p + 1]!);
      const tolerance = normalTolerance(r, u32ToUniformOpen(counters[2 * p]!));
      for (const j of [2 * p, 2 * p + 1]) {
        const error = Math.abs(normals[j]! - want.normals[j]!);
        // Written so that NaN fails.
        if (!(error <= tolerance) && outOfTolerance.length < 5) {
          outOfTolerance.push(
            `[${j}] got ${normals[j]}, want ${want.normals[j]} (tolerance ${tolerance})`,
          );
        }
        worstRatio = Math.max(worstRatio, error / tolerance);
      }
    }
    console.info(
      `Box-Muller: worst difference from the JavaScript is ${worstRatio.toFixed(2)} of the tolerance`,
    );
    expect(outOfTolerance).toEqual([]);
  });
});
