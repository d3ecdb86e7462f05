import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  boxMuller,
  philox4x32_10,
  randomU32x4,
  u32ToUniform01,
  u32ToUniformOpen,
} from '../src/random/philox.js';
import { wgslPrelude } from '../src/codegen/wgsl/prelude.js';
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
/** Invocations per row of a two-dimensional dispatch (at most 65535 workgroups a dimension). */
const SWEEP_ROW = 65536;
/** Invocations per dispatch of the sweeps. */
const BATCH = 1 << 22;

/** The library and the normal draws (a prelude helper, with the sf_log and sf_sqrt it calls). */
const LIBRARY = `${PHILOX_WGSL}\n${wgslPrelude(['sf_box_muller'])}`;

/** Applies every library function to one counter/key pair per invocation. */
const KERNEL = `${LIBRARY}
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
 * sf_box_muller of one (a, b) word pair per invocation, and 0.4 times it as a kernel's noise
 * term computes it (which a shader compiler must not fold into the helper's last product).
 */
const PAIRS_KERNEL = `${LIBRARY}
@group(0) @binding(0) var<storage, read> pairs: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read_write> normals: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> scaled: array<vec2<f32>>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&pairs)) {
    normals[id.x] = sf_box_muller(pairs[id.x].x, pairs[id.x].y);
    scaled[id.x] = 0.4f * sf_box_muller(pairs[id.x].x, pairs[id.x].y);
  }
}
`;

/**
 * sf_box_muller of the pair k = base + index: a = k << 8 and b = (k * 0x9e3779 mod 2^24) << 8,
 * so that k in [0, 2^24) takes every u1 and (an odd multiplier permutes 2^24) every u2.
 */
const SWEEP_KERNEL = `${LIBRARY}
@group(0) @binding(0) var<storage, read> base: array<u32>;
@group(0) @binding(1) var<storage, read_write> normals: array<vec2<f32>>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x + id.y * ${SWEEP_ROW}u;
  let k = base[0] + i;
  normals[i] = sf_box_muller(k << 8u, ((k * 0x9e3779u) & 0xffffffu) << 8u);
}
`;

/** sf_sqrt of one float per invocation, in `prelude`. */
function sqrtKernel(prelude: string): string {
  return `${prelude}
@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> roots: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x + id.y * ${SWEEP_ROW}u;
  if (i < arrayLength(&xs)) {
    roots[i] = sf_sqrt(xs[i]);
  }
}
`;
}

const SQRT_KERNEL = sqrtKernel(wgslPrelude(['sf_sqrt']));

/** The target's sqrt in sf_sqrt: the first guess, which the integer steps correct. */
const SQRT_GUESS = 'sqrt(f) * 8388608.0f';

/**
 * sf_sqrt with its first guess moved by -60 to 60 ulp (a function of the input's bits), as
 * a GPU whose sqrt is less accurate than llvmpipe's (correctly rounded) would give it.
 */
const SQRT_OFF_GUESS_KERNEL = sqrtKernel(
  wgslPrelude(['sf_sqrt']).replace(
    SQRT_GUESS,
    'bitcast<f32>(bitcast<u32>(sqrt(f)) + u32(i32((ix * 2654435761u) % 121u) - 60i)) * 8388608.0f',
  ),
);
/** The float32 with bit pattern `bits`. */
function f32FromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
}

/**
 * (a, b) word pairs for sf_box_muller: the 2^17 random pairs, then every pairing of the
 * edges of u1 = ((a >> 8) + 1) 2^-24 (the 256 smallest and the 256 largest, 1 included) with
 * those of u2 = (b >> 8) 2^-24 (0, the largest, and each eighth of a turn, where the reduced
 * angle changes quadrant, with its neighbours), each with low bytes 0 and 0xff.
 */
function boxMullerInputs(): Uint32Array {
  const random = fc.sample(fc.integer({ min: 0, max: 0xffffffff }), { seed: 9, numRuns: 1 << 18 });
  const u1Edges = Array.from({ length: 256 }, (_, k) => [k, 0xffffff - k]).flat();
  const u2Edges = [0, 0xffffff];
  for (let eighth = 1; eighth < 8; eighth++)
    for (const d of [-2, -1, 0, 1, 2]) u2Edges.push(eighth * 0x200000 + d);
  const edges: number[] = [];
  for (const m1 of u1Edges)
    for (const m2 of u2Edges)
      for (const low of [0, 0xff]) edges.push(((m1 << 8) | low) >>> 0, ((m2 << 8) | low) >>> 0);
  return new Uint32Array([...random, ...edges]);
}

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

describe.skipIf(!opened.ok)('Philox WGSL on WebGPU', () => {
  const gpu = () => {
    if (!opened.ok) throw new Error('unreachable: suite skipped without a device');
    return opened.gpu;
  };
  afterAll(() => gpu().close());

  it('compiles with no errors or warnings', async () => {
    console.info(`WebGPU adapter: ${gpu().description}`);
    for (const code of [
      PHILOX_WGSL,
      LIBRARY,
      KERNEL,
      PAIRS_KERNEL,
      SWEEP_KERNEL,
      SQRT_KERNEL,
      SQRT_OFF_GUESS_KERNEL,
    ]) {
      const { messages } = await compileWgsl(gpu().device, code);
      expect(formatCompilationMessages(messages.filter((m) => m.type !== 'info'))).toEqual([]);
    }
  });

  it('matches the JavaScript bit for bit (words, uniforms, normals)', async () => {
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

    expect(
      bitMismatches(new Uint32Array(normalsBuf!), new Uint32Array(want.normals.buffer)),
    ).toEqual([]);
  });

  it('sf_box_muller equals boxMuller bit for bit on 2^17 random pairs and the edges of u1 and u2, also times a constant', async () => {
    const { device } = gpu();
    const pairs = boxMullerInputs();
    const count = pairs.length / 2;
    const { module } = await compileWgsl(device, PAIRS_KERNEL);
    const [, got, scaled] = await runCompute(device, {
      module,
      entryPoint: 'main',
      buffers: [{ data: pairs }, { byteLength: 8 * count }, { byteLength: 8 * count }],
      workgroups: [Math.ceil(count / WORKGROUP), 1, 1],
    });
    const want = new Float32Array(2 * count);
    for (let p = 0; p < count; p++) want.set(boxMuller(pairs[2 * p]!, pairs[2 * p + 1]!), 2 * p);
    expect(bitMismatches(new Uint32Array(got!), new Uint32Array(want.buffer))).toEqual([]);
    const wantScaled = want.map((z) => Math.fround(0.4) * z);
    expect(bitMismatches(new Uint32Array(scaled!), new Uint32Array(wantScaled.buffer))).toEqual([]);
    console.info(`sf_box_muller: ${count} pairs bit-identical to the JavaScript`);
  });

  it('sf_box_muller equals boxMuller bit for bit for every u1 and every u2 (2^24 pairs)', async () => {
    const { device } = gpu();
    const { module } = await compileWgsl(device, SWEEP_KERNEL);
    const want = new Float32Array(2 * BATCH);
    const wrong: string[] = [];
    for (let base = 0; base < 1 << 24; base += BATCH) {
      const [, got] = await runCompute(device, {
        module,
        entryPoint: 'main',
        buffers: [{ data: new Uint32Array([base]) }, { byteLength: 8 * BATCH }],
        workgroups: [SWEEP_ROW / WORKGROUP, BATCH / SWEEP_ROW, 1],
      });
      for (let i = 0; i < BATCH; i++) {
        const k = base + i;
        want.set(boxMuller(k << 8, (Math.imul(k, 0x9e3779) & 0xffffff) << 8), 2 * i);
      }
      wrong.push(...bitMismatches(new Uint32Array(got!), new Uint32Array(want.buffer)));
    }
    expect(wrong).toEqual([]);
  });

  it('sf_sqrt is the correctly rounded square root: every significand at both exponent parities, every subnormal, special values; also from a guess 60 ulp off', async () => {
    const { device } = gpu();
    expect(wgslPrelude(['sf_sqrt'])).toContain(SQRT_GUESS);
    const special = [0, -0, Infinity, -Infinity, NaN, -1, -(2 ** -149), 3.4028234663852886e38];
    // Every exponent, at both ends of its significands.
    for (let e = 0; e < 255; e++)
      special.push(f32FromBits(e << 23), f32FromBits((e << 23) | 0x7fffff));
    // Every float in [1, 4), whose significands and exponent parities are every input the
    // integer steps see for a normal float, and every subnormal: bit patterns from `first`.
    const ranges: [first: number, count: number][] = [
      [0x3f800000, 1 << 24],
      [1, (1 << 23) - 1],
    ];
    const batches = [new Float32Array(special)];
    for (const [first, count] of ranges)
      for (let from = 0; from < count; from += BATCH) {
        const bits = new Uint32Array(Math.min(BATCH, count - from)).map((_, i) => first + from + i);
        batches.push(new Float32Array(bits.buffer));
      }
    for (const kernel of [SQRT_KERNEL, SQRT_OFF_GUESS_KERNEL]) {
      const { module } = await compileWgsl(device, kernel);
      const wrong: string[] = [];
      let checked = 0;
      for (const inputs of batches) {
        const [, got] = await runCompute(device, {
          module,
          entryPoint: 'main',
          buffers: [{ data: inputs }, { byteLength: 4 * inputs.length }],
          workgroups: [
            Math.min(Math.ceil(inputs.length / WORKGROUP), SWEEP_ROW / WORKGROUP),
            Math.ceil(inputs.length / SWEEP_ROW),
            1,
          ],
        });
        const roots = new Float32Array(got!);
        inputs.forEach((x, i) => {
          const want = Math.fround(Math.sqrt(x));
          const same = Object.is(roots[i], want) || (Number.isNaN(want) && Number.isNaN(roots[i]));
          if (!same && wrong.length < 5) wrong.push(`sf_sqrt(${x}) = ${roots[i]}, want ${want}`);
        });
        checked += inputs.length;
      }
      expect(wrong, kernel === SQRT_KERNEL ? 'sf_sqrt' : 'sf_sqrt from an off guess').toEqual([]);
      expect(checked).toBe(special.length + (1 << 24) + (1 << 23) - 1);
    }
  });
});
