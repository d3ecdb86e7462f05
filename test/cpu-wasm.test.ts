/**
 * The CPU backend's WebAssembly kernels (src/codegen/wasm, src/runtime/cpu-kernels.ts) against
 * its JavaScript float32 kernels, which they replace as the default: both round every
 * operation to float32, so they must agree bit for bit.
 *
 * - The module's sf_exp, sf_log and sf_exprel32 against the JavaScript prelude's, on special
 *   values, the edges of their ranges and a million random float32 bit patterns.
 * - Its Philox-4x32-10, uniform and normal draws and procedural rows (with and without drawn
 *   weights) against src/random/philox.ts and connectivity.ts geometricRow.
 * - Every conformance model (each stdlib neuron, the seed scenarios, the runtime networks) and
 *   every example, at most 100 ms of each: identical spikes, traces and final states.
 * (test/printer.test.ts checks printed expressions the same way, on random expressions.)
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import wabt from 'wabt';
import { describe, expect, it } from 'vitest';
import { jsPrelude } from '../src/codegen/js/prelude.js';
import { EXP32 } from '../src/codegen/math32.js';
import { buildPlan, layoutOf } from '../src/codegen/module.js';
import { randomFunctions, wasmMemoryPlan } from '../src/codegen/wasm/kernel.js';
import {
  HOST_FUNCTIONS,
  HOST_IMPORT_DECLARATIONS,
  WASM_HELPERS,
  hostMath,
} from '../src/codegen/wasm/printer.js';
import { VECTOR_HELPERS, vectorRandomFunctions } from '../src/codegen/wasm/vector.js';
import { geometricRow, skipTable } from '../src/codegen/connectivity.js';
import { boxMuller, philox4x32_10, u32ToUniform01 } from '../src/random/philox.js';
import type { SimulationPlan } from '../src/runtime/backend.js';
import { CpuBackend } from '../src/runtime/cpu.js';
import type { CpuKernelLanguage } from '../src/runtime/cpu-kernels.js';
import { cpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { ROOT, compileNetworks } from './golden/cases.js';
import { drawnWeightsOf } from './support/drawn.js';

type Unary = (x: number) => number;

const HELPERS = ['sf_exp', 'sf_log', 'sf_exprel32'] as const;

async function wasmHelpers(): Promise<Unary[]> {
  const exports = HELPERS.map((h) => `(export "${h}" (func $${h}))`).join('\n');
  const parsed = (await wabt()).parseWat('helpers.wat', `(module\n${WASM_HELPERS}\n${exports})`);
  const binary = new Uint8Array(parsed.toBinary({}).buffer);
  parsed.destroy();
  const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), {});
  return HELPERS.map((h) => instance.exports[h] as Unary);
}

const jsHelpers = new Function(
  `${jsPrelude(HELPERS)}\nreturn [${HELPERS.join(', ')}];`,
)() as Unary[];

function fromBits(bits: number): number {
  const f = new Float32Array(1);
  new Uint32Array(f.buffer)[0] = bits;
  return f[0]!;
}

/** Bit for bit, except that every NaN equals every NaN. */
const identical = (p: number, q: number): boolean =>
  Object.is(p, q) || (Number.isNaN(p) && Number.isNaN(q));

describe('the WebAssembly sf_exp, sf_log, sf_exprel32', () => {
  it('equal the JavaScript helpers on special values, range edges and 1M random float32s', async () => {
    const wasm = await wasmHelpers();
    const edges = [EXP32.OVERFLOW, EXP32.UNDERFLOW, 1, 2 ** -25, 2 ** -126, 2 ** -149, 3.4e38];
    const inputs = [0, -0, Infinity, -Infinity, NaN, ...edges.flatMap((v) => [v, -v])].flatMap(
      (v) => [v, Math.fround(v * (1 + 2 ** -23)), Math.fround(v * (1 - 2 ** -24))],
    );
    // A fixed xorshift sequence of bit patterns: every exponent and sign, subnormals included.
    const bits = xorshift(0x9e3779b9);
    for (let k = 0; k < 1_000_000; k++) inputs.push(fromBits(bits()));
    // And the ranges the models use most, densely.
    for (let k = 0; k < 200_000; k++) inputs.push(Math.fround(-110 + (200 * k) / 200_000));
    HELPERS.forEach((name, h) => {
      let checked = 0;
      for (const x of inputs) {
        const got = wasm[h]!(x);
        const want = jsHelpers[h]!(x);
        if (!identical(got, want)) expect(`${name}(${x}) = ${got}`).toBe(`${name}(${x}) = ${want}`);
        checked++;
      }
      expect(checked).toBe(inputs.length);
    });
  });
});

/** Four-lane helpers (VECTOR_HELPERS), each exported as `x4_<name>(address)`: in place on memory. */
async function fourLaneHelpers(): Promise<{
  memory: Float32Array;
  run: Record<string, (address: number) => void>;
}> {
  const names = [...HELPERS, ...HOST_FUNCTIONS.map((f) => `host_${f}`)];
  const exports = names
    .map((h) => {
      const second = h === 'host_pow' ? ' (v128.load offset=16 (local.get $p))' : '';
      return `(func (export "x4_${h}") (param $p i32) (v128.store (local.get $p) (call $${h}_x4 (v128.load (local.get $p))${second})))`;
    })
    .join('\n');
  const text = `(module ${HOST_IMPORT_DECLARATIONS}\n(memory (export "memory") 1)\n${WASM_HELPERS}\n${VECTOR_HELPERS}\n${exports})`;
  const parsed = (await wabt()).parseWat('vector-helpers.wat', text);
  const binary = new Uint8Array(parsed.toBinary({}).buffer);
  parsed.destroy();
  const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), { math: hostMath() });
  const memory = new Float32Array((instance.exports['memory'] as WebAssembly.Memory).buffer, 0, 8);
  const run = Object.fromEntries(
    names.map((h) => [h, instance.exports[`x4_${h}`] as (address: number) => void]),
  );
  return { memory, run };
}

describe('the four-lane helpers', () => {
  it('give on each lane what the one-lane sf_exp, sf_log, sf_exprel32 and host functions give', async () => {
    const { memory, run } = await fourLaneHelpers();
    const oneLane = await wasmHelpers();
    const bits = xorshift(0x2545f491);
    const inputs = [0, -0, Infinity, -Infinity, NaN, EXP32.OVERFLOW, EXP32.UNDERFLOW, 1, -1];
    for (let k = 0; k < 400_000; k++) {
      const pattern = bits();
      inputs.push(k % 2 === 0 ? fromBits(pattern) : Math.fround(-110 + (200 * k) / 400_000));
    }
    const reference: Record<string, (x: number, y: number) => number> = {
      ...Object.fromEntries(HELPERS.map((h, n) => [h, (x: number) => oneLane[n]!(x)])),
      ...Object.fromEntries(
        HOST_FUNCTIONS.map((f) => [
          `host_${f}`,
          (x: number, y: number) =>
            Math.fround((Math[f] as (a: number, b: number) => number)(x, y)),
        ]),
      ),
    };
    for (const [name, want] of Object.entries(reference)) {
      // Host functions on a tenth of the inputs: they are the host's Math, lane by lane.
      const count = name.startsWith('host_') ? inputs.length / 10 : inputs.length;
      for (let k = 0; k + 8 <= count; k += 8) {
        memory.set(inputs.slice(k, k + 8));
        run[name]!(0);
        for (let lane = 0; lane < 4; lane++) {
          const x = inputs[k + lane]!;
          const expected = want(x, inputs[k + 4 + lane]!);
          if (!identical(memory[lane]!, expected))
            expect(`${name}_x4 lane ${lane} at ${x}: ${memory[lane]}`).toBe(`${expected}`);
        }
      }
    }
  });
});

/** A module of random functions (and the float32 helpers) on an imported two-page memory, the thread scratch at byte 0. */
async function randomModule(functions: string) {
  const text = `(module (import "env" "memory" (memory 2))\n${HOST_IMPORT_DECLARATIONS}\n(global $sf_scratch i32 (i32.const 0))\n${WASM_HELPERS}\n${functions})`;
  const parsed = (await wabt()).parseWat('random.wat', text);
  const binary = new Uint8Array(parsed.toBinary({}).buffer);
  parsed.destroy();
  const memory = new WebAssembly.Memory({ initial: 2 });
  const exports = new WebAssembly.Instance(new WebAssembly.Module(binary), {
    env: { memory },
    math: hostMath(),
  }).exports as Record<string, (...args: number[]) => number>;
  return { memory, exports };
}

/** A xorshift32 stream of u32 test inputs. */
function xorshift(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

describe('the WebAssembly Philox, draws and procedural rows', () => {
  it('equal philox4x32_10, u32ToUniform01, boxMuller and geometricRow', async () => {
    const seed = 0xdeadbeef;
    const { memory, exports } = await randomModule(
      `${randomFunctions(seed)}
      (export "philox" (func $sf_philox)) (export "uniform" (func $sf_uniform)) (export "normal" (func $sf_normal))`,
    );
    const words = new Uint32Array(memory.buffer, 0, 4);
    const next = xorshift(12345);
    for (let k = 0; k < 20_000; k++) {
      const [index, step, purpose, stream] = [next(), next(), next() & 0xff, next()];
      exports['philox']!(index, step, purpose, stream);
      const want = philox4x32_10([index, step, purpose, 0], [seed, stream]);
      expect(Array.from(words)).toEqual(want);
      expect(exports['uniform']!()).toBe(u32ToUniform01(want[0]));
      expect(exports['normal']!()).toBe(boxMuller(want[0], want[1])[0]);
    }
    // Procedural rows: the table at byte 1024 (entries, then guide, then the knots of drawn
    // weights), the counters at byte 65536.
    const counters = new Uint32Array(memory.buffer, 65536, 4096);
    const drawn = [
      undefined,
      drawnWeightsOf('normal', 0.6, 0.1, 4000),
      drawnWeightsOf('uniform', -2, 1, 4000),
    ];
    for (const p of [1, 0.5, 0.1, 0.02, 0.001]) {
      const table = skipTable(p);
      const guide = 1024 + 4 * table.entries.length;
      const knots = guide + 4 * table.guide.length;
      new Uint32Array(memory.buffer, 1024).set(table.entries);
      new Uint32Array(memory.buffer, guide).set(table.guide);
      for (const weights of drawn) {
        if (weights !== undefined) new Int32Array(memory.buffer, knots).set(weights.knots);
        for (const [j, nPost] of [
          [0, 4000],
          [17, 4000],
          [3, 1],
          [1234, 999],
        ] as const) {
          counters.fill(0);
          exports['sf_add_geometric']!(
            1024,
            guide,
            777,
            j,
            nPost,
            65536,
            weights === undefined ? 0 : knots,
            weights?.bits ?? 0,
          );
          const want = new Uint32Array(4096);
          geometricRow(table, seed, 777, j, nPost, (i, w) => (want[i]! += w), weights);
          expect(Array.from(counters), `p ${p}, row ${j}`).toEqual(Array.from(want));
        }
      }
    }
  });
});

describe('the WebAssembly sf_box_muller', () => {
  it('equals boxMuller, both values, for every u1 and every u2 and at their edges', async () => {
    const { exports } = await randomModule('(export "box_muller" (func $sf_box_muller))');
    const wasm = exports['box_muller'] as unknown as (a: number, b: number) => [number, number];
    const check = (a: number, b: number): void => {
      const got = wasm(a, b);
      const want = boxMuller(a >>> 0, b >>> 0);
      if (!Object.is(got[0], want[0]) || !Object.is(got[1], want[1]))
        expect(`(${a >>> 0}, ${b >>> 0}): ${got}`).toBe(`(${a >>> 0}, ${b >>> 0}): ${want}`);
    };
    // k takes every u1 = ((a >> 8) + 1) 2^-24 and (an odd multiplier permutes 2^24) every u2.
    for (let k = 0; k < 1 << 24; k++) check(k << 8, (Math.imul(k, 0x9e3779) & 0xffffff) << 8);
    // The smallest and largest u1 against u2 at and beside every eighth of a turn, low bytes set.
    for (let m1 = 0; m1 < 64; m1++)
      for (let eighth = 0; eighth <= 8; eighth++)
        for (const d of [-1, 0, 1])
          for (const m of [m1, 0xffffff - m1])
            check((m << 8) | 0xff, (((eighth * 0x200000 + d) & 0xffffff) << 8) | 0xff);
  });
});

/** Every conformance model and example, each file's first network, at most 100 ms of it. */
const FILES: readonly string[] = ['test/models/conformance', 'examples'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.spk'))
    .sort()
    .map((f) => `${dir}/${f}`),
);

function planOf(file: string): SimulationPlan {
  const network = compileNetworks(join(ROOT, file))[0];
  if (network === undefined) throw new Error(`no network in ${file}`);
  return buildPlan(network, Math.round(Math.min(network.duration, 100) / network.dt));
}

async function runWith(plan: SimulationPlan, language: CpuKernelLanguage | CpuBackend) {
  const backend =
    language instanceof CpuBackend ? language : new CpuBackend('f32', language, 2 ** 32, 1);
  try {
    await backend.prepare(plan);
    const { chunks } = await simulate(plan, backend);
    const final = await Promise.all(plan.kernels.map((k) => backend.readState(k.population)));
    return { chunks, final, source: backend.source, device: backend.device, note: backend.note };
  } finally {
    backend.dispose();
  }
}

type Run = Awaited<ReturnType<typeof runWith>>;

/** Identical spikes, traces (bit for bit) and final states. */
function expectSameRun(plan: SimulationPlan, got: Run, want: Run): void {
  expect(got.chunks.length).toBe(want.chunks.length);
  got.chunks.forEach((chunk, c) => {
    const other = want.chunks[c]!;
    for (const [population, spikes] of chunk.spikes)
      expect(spikes, `${population} spikes`).toEqual(other.spikes.get(population));
    chunk.traces.forEach((trace, r) =>
      expect(
        Buffer.from(trace.buffer).equals(Buffer.from(other.traces[r]!.buffer)),
        `trace ${r}`,
      ).toBe(true),
    );
  });
  got.final.forEach((states, k) => {
    for (const [name, values] of states)
      expect(
        Buffer.from(values.buffer).equals(Buffer.from(want.final[k]!.get(name)!.buffer)),
        `${plan.kernels[k]!.population}.${name} at the end`,
      ).toBe(true);
  });
}

describe('the four-lane Philox and draws', () => {
  it('give on each lane the words of philox4x32_10 and the one-lane uniform and normal draws', async () => {
    const seed = 0x1234abcd;
    const { memory, exports } = await randomModule(
      `${randomFunctions(seed)}
      ${vectorRandomFunctions()}
      (func (export "philox_x4") (param $i i32) (param $s i32) (param $p i32) (param $k i32)
        (call $sf_philox_lanes (i32x4.add (i32x4.splat (local.get $i)) (v128.const i32x4 0 1 2 3)) (i32x4.splat (local.get $s)) (local.get $p) (local.get $k) (i32.const 0)))
      (func (export "draws_x4")
        (v128.store offset=64 (i32.const 0) (call $sf_uniform_x4))
        (v128.store offset=80 (i32.const 0) (call $sf_normal_x4)))`,
    );
    const words = new Uint32Array(memory.buffer, 0, 16);
    const draws = new Float32Array(memory.buffer, 64, 8);
    const next = xorshift(987654);
    for (let k = 0; k < 20_000; k++) {
      // Indices near 2^32 too: the lanes' counters wrap as the one-lane ones do.
      const index = k % 100 === 0 ? 0xfffffffe : next();
      const [step, purpose, stream] = [next(), next() & 0xff, next()];
      exports['philox_x4']!(index, step, purpose, stream);
      exports['draws_x4']!();
      for (let lane = 0; lane < 4; lane++) {
        const want = philox4x32_10([(index + lane) >>> 0, step, purpose, 0], [seed, stream]);
        for (let w = 0; w < 4; w++) expect(words[4 * w + lane]).toBe(want[w]);
        expect(draws[lane]).toBe(u32ToUniform01(want[0]));
        expect(draws[4 + lane]).toBe(boxMuller(want[0], want[1])[0]);
      }
    }
  });
});

describe('a network too large for a WebAssembly memory', () => {
  it('runs on the JavaScript kernels, says so, and computes the same', async () => {
    const plan = planOf('examples/ei_net.spk');
    const small = new CpuBackend('f32', 'wasm', 1024);
    await small.prepare(plan);
    expect(small.device).toContain('(JavaScript, float32');
    // Said on stderr (openBackend), not only in summary.json's device.
    expect(small.note).toMatch(
      /^the network needs \d+(\.\d)? (KiB|MiB) even without its connectivity, more than the 1 KiB a WebAssembly memory holds: the cpu backend runs it on the JavaScript kernels \(the same results, several times slower\)$/,
    );
    // Kernels that read the connectivity (a per-synapse STDP trace) cannot leave it to the host.
    const reading = new CpuBackend('f32', 'wasm', 1024);
    await reading.prepare(planOf('examples/stdp_song.spk'));
    reading.dispose();
    expect(reading.note).toMatch(
      /^the network needs \d+(\.\d)? (KiB|MiB) with its connectivity, which its kernels read, more than the 1 KiB /,
    );
    const fallback = await simulate(plan, small);
    const wasm = await runWith(plan, 'wasm');
    expect(fallback.chunks.map((c) => [...c.spikes])).toEqual(
      wasm.chunks.map((c) => [...c.spikes]),
    );
  });
});

describe('a network whose connectivity does not fit in a WebAssembly memory', () => {
  it('runs on the WebAssembly kernels with the delivery on the host, says so, and computes the same', async () => {
    const plan = planOf('test/models/cpu/stored_rows.spk');
    const layout = layoutOf(plan);
    const steps = new CpuBackend('f32').maxChunkSteps(plan);
    const withRows = wasmMemoryPlan(plan.kernels, layout, steps).bytes;
    const withoutRows = wasmMemoryPlan(plan.kernels, layout, steps, undefined, false).bytes;
    expect(withRows - withoutRows).toBe(4 * layout.connectivityWords);
    const hostDelivery = await runWith(plan, new CpuBackend('f32', 'wasm', withRows - 1, 1));
    expect(hostDelivery.device).toContain(
      'WebAssembly SIMD, float32, one thread, delivery in JavaScript',
    );
    expect(hostDelivery.source).not.toContain('sf_deliver');
    expect(hostDelivery.note).toBeUndefined();
    const moduleDelivery = await runWith(plan, 'wasm');
    expect(moduleDelivery.source).toContain('sf_deliver');
    const spikes = moduleDelivery.chunks.reduce((n, c) => n + c.spikes.get('N')!.steps.length, 0);
    expect(spikes).toBeGreaterThan(100);
    expectSameRun(plan, hostDelivery, moduleDelivery);
  });
});

describe('the CPU backend: WebAssembly kernels equal the JavaScript float32 kernels', () => {
  it.each(FILES)('%s', async (file) => {
    const plan = planOf(file);
    expectSameRun(plan, await runWith(plan, 'wasm'), await runWith(plan, 'js'));
  });
});

describe('the CPU backend on several threads', () => {
  // Every kernel of at least 4 elements split over three threads (the default splits only
  // kernels of 32768 elements or more): the last thread's range ends off the four-lane grid.
  it.each([...FILES, 'test/models/cpu/vector_lanes.spk'])('%s', async (file) => {
    const plan = planOf(file);
    const threaded = await runWith(plan, new CpuBackend('f32', 'wasm', 2 ** 32, 3, 4));
    if (plan.kernels.some((k) => k.size >= 12)) expect(threaded.device).toContain('3 threads');
    expectSameRun(plan, threaded, await runWith(plan, 'wasm'));
  });
});

describe('the four-lane kernels', () => {
  it('equal the one-lane ones with a tail of three, traces over part and all, noise, exp and a delay', async () => {
    const plan = planOf('test/models/cpu/vector_lanes.spk');
    const vector = await runWith(plan, 'wasm');
    const oneLane = await runWith(plan, 'wasm-one-lane');
    // Both populations run four at a time; A's last three neurons one by one.
    expect(vector.source).toContain('(func $step_A_x4');
    expect(vector.source).toContain('(func $step_B_x4');
    expect(oneLane.source).not.toContain('_x4');
    const spikesOf = (population: string): number[] =>
      vector.chunks.flatMap((c) => [...(c.spikes.get(population)?.indices ?? [])]);
    // The tail and the lanes fire, and B receives A's spikes.
    expect(spikesOf('A').filter((i) => i >= 100).length).toBeGreaterThan(0);
    expect(new Set(spikesOf('A').map((i) => i % 4)).size).toBe(4);
    expect(spikesOf('B').length).toBeGreaterThan(0);
    expectSameRun(plan, vector, oneLane);
    expectSameRun(plan, vector, await runWith(plan, 'js'));
  });

  it('run every stdlib neuron model four at a time', async () => {
    const models = ['AdExIF', 'AdExIFRef', 'AdExIFRefLTC', 'ExpIF', 'ExpIFRef', 'HH'];
    for (const model of [...models, 'Izhikevich', 'Lif', 'LifRef', 'QuaIF']) {
      const plan = planOf(`test/models/conformance/${model}.spk`);
      const backend = new CpuBackend('f32');
      await backend.prepare(plan);
      expect(backend.source, model).toContain('(func $step_C_x4');
      expect(backend.device).toContain('WebAssembly SIMD');
      backend.dispose();
    }
  });
});
