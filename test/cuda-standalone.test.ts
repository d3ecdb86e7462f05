/**
 * The standalone CUDA program's host side, without a GPU:
 *   1. sf_host.h (C++17, no CUDA) writes spikes.csv, the trace CSVs and summary.json byte for
 *      byte as `spikeforge run` (src/runtime/output.ts) does, for the same chunks: a small
 *      C++ driver built with the host compiler feeds it synthetic chunks (spikes of every
 *      kernel in random order, record rows with awkward values: ties at the rounding digit,
 *      -0, NaN, infinities, subnormals, random bits), and the same chunks go through
 *      OutputWriter; float and double, several dt (float noise in step * dt, times that
 *      JavaScript writes with an exponent). The driver also hands over a final state buffer
 *      with NaN and infinite values at known places: its warnings on stderr and in
 *      summary.json are those of `spikeforge run` (NonFiniteWatch, nonFiniteWarnings) for the
 *      same state and chunks, byte for byte;
 *   2. `spikeforge compile --target cuda --standalone` writes the folder, and its
 *      CMakeLists.txt configures and builds with CMake (sm_90) where cmake and nvcc exist.
 * The GPU run itself (spikes.csv equal to `run --backend cuda`) is in cuda-runtime.test.ts.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Io } from '../src/cli/io.js';
import { EXIT, main } from '../src/cli/main.js';
import {
  SF_HOST_H,
  initialStateBytes,
  networkHeader,
  standaloneFiles,
} from '../src/codegen/cuda/standalone.js';
import { buildPlan, layoutOf } from '../src/codegen/module.js';
import type { Precision } from '../src/codegen/printer.js';
import { renderDiagnostic } from '../src/diagnostics/diagnostic.js';
import type { Network } from '../src/ir/types.js';
import type { SimulationPlan } from '../src/runtime/backend.js';
import { splitSpikes, splitTraces } from '../src/runtime/cpu.js';
import { probeCuda } from '../src/runtime/cuda/backend.js';
import {
  type NonFiniteState,
  NonFiniteWatch,
  nonFiniteWarnings,
  userStates,
} from '../src/runtime/non-finite.js';
import { OutputWriter } from '../src/runtime/output.js';
import { ROOT, compileNetworks } from './golden/cases.js';
import { EMULATION_HEADER } from './support/cuda-emulation.js';

const TEMP = mkdtempSync(join(tmpdir(), 'spikeforge-cuda-standalone-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

const CXX = ['g++', 'c++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);
if (CXX === undefined)
  console.warn(
    'cuda-standalone: host code comparison SKIPPED: no C++ compiler (g++, c++, clang++)',
  );

function findNvcc(): string | undefined {
  for (const candidate of ['nvcc', '/usr/local/cuda/bin/nvcc'])
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  return undefined;
}
const NVCC = findNvcc();
const CMAKE = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
const cmakeVersion = /cmake version (\d+)\.(\d+)/.exec(CMAKE.stdout ?? '');
const HAVE_CMAKE =
  CMAKE.status === 0 &&
  cmakeVersion !== null &&
  Number(cmakeVersion[1]) * 100 + Number(cmakeVersion[2]) >= 318;
const cuda = await probeCuda();
const HAVE_CUDA = cuda.ok;
if (!cuda.ok)
  console.warn(
    `cuda-standalone: executable against \`run --backend cuda\` SKIPPED: ${cuda.reason}`,
  );
if (NVCC === undefined || !HAVE_CMAKE)
  console.warn(
    `cuda-standalone: CMake build SKIPPED: ${NVCC === undefined ? 'nvcc not found' : 'cmake 3.18 or later not found'}`,
  );

/** A deterministic generator (xorshift32), so that a failure can be reproduced. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** Values that exercise the formatting: ties at digits 6..9, signs, specials, extremes, random bits. */
function awkwardValue(next: () => number, precision: Precision): number {
  const bits = new DataView(new ArrayBuffer(8));
  const pick = Math.floor(next() * 16);
  switch (pick) {
    case 0:
      return [0, -0, NaN, Infinity, -Infinity][Math.floor(next() * 5)]!;
    case 1:
      // float32 values whose exact decimal ends in 5 one digit after the precision formatValue
      // settles on: JavaScript rounds the tie up, printf to even (1856.90625 -> 1856.9063, not .9062).
      return [
        1856.90625, -1221795.25, -1789.78125, 184.515625, -356.609375, 178.828125, 10.03125,
        -65.03125, 0.0009765625, 1234.5625,
      ][Math.floor(next() * 10)]!;
    case 2:
      return (next() - 0.5) * 1e-38;
    case 3:
      return (next() - 0.5) * 6e38;
    case 4:
      return Math.round((next() - 0.5) * 1e6) / 64;
    case 5:
      bits.setUint32(0, Math.floor(next() * 2 ** 32));
      return precision === 'f32' ? bits.getFloat32(0) : bits.getFloat32(0) * (1 + next() * 1e-12);
    case 6:
      bits.setUint32(0, Math.floor(next() * 2 ** 32));
      bits.setUint32(4, Math.floor(next() * 2 ** 32));
      return bits.getFloat64(0);
    case 7:
      return 2 ** Math.floor((next() - 0.5) * 200);
    default:
      return -70 + next() * 40;
  }
}

interface SyntheticChunk {
  readonly first: number;
  readonly steps: number;
  readonly pairs: Uint32Array;
  readonly rows: Float32Array | Float64Array;
}

/**
 * Record rows of awkward values (NaN and infinities anywhere), or of finite values with a NaN or
 * an infinity put into some traces at a random step (of any chunk) and element.
 */
type Rows = 'awkward' | 'finite';

function syntheticChunks(
  plan: SimulationPlan,
  precision: Precision,
  seed: number,
  kind: Rows,
): SyntheticChunk[] {
  const layout = layoutOf(plan);
  const next = random(seed);
  const injected = new Map<number, number>();
  layout.traces.forEach((t, r) => {
    for (let k = 0; k < 2; k++)
      if (next() < 0.6)
        injected.set(
          Math.floor(next() * plan.steps) * layout.recordRow +
            layout.traceOffset(r) +
            Math.floor(next() * (t.end - t.start)),
          [NaN, Infinity, -Infinity][Math.floor(next() * 3)]!,
        );
  });
  const chunks: SyntheticChunk[] = [];
  const lengths = [1, 6, Math.max(1, plan.steps - 7 - 40), 40];
  let first = 0;
  for (const length of lengths) {
    const steps = Math.min(length, plan.steps - first);
    if (steps <= 0) break;
    const pairs: number[] = [];
    const count = Math.floor(next() * Math.min(400, layout.totalNeurons * steps));
    const seen = new Set<string>();
    for (let k = 0; k < count; k++) {
      const s = Math.floor(next() * steps);
      const g = Math.floor(next() * layout.totalNeurons);
      if (seen.has(`${s}:${g}`)) continue;
      seen.add(`${s}:${g}`);
      pairs.push(s, g);
    }
    const rows =
      precision === 'f32'
        ? new Float32Array(layout.recordRow * steps)
        : new Float64Array(layout.recordRow * steps);
    for (let k = 0; k < rows.length; k++)
      rows[k] =
        kind === 'awkward'
          ? awkwardValue(next, precision)
          : (injected.get(first * layout.recordRow + k) ?? -70 + next() * 40);
    chunks.push({ first, steps, pairs: Uint32Array.from(pairs), rows });
    first += steps;
  }
  return chunks;
}

/**
 * A final state buffer: the initial state with NaN and infinite values put into the user
 * states, each at random one of: none, one NaN, one infinity, every element infinite, NaN and
 * -infinity (a state of one element: NaN). The first state has one NaN when the draws left
 * every state finite.
 */
function finalState(
  plan: SimulationPlan,
  precision: Precision,
  seed: number,
): Float32Array | Float64Array {
  const bytes = initialStateBytes(plan, precision);
  const state =
    precision === 'f32'
      ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
      : new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
  const layout = layoutOf(plan);
  // Mixed: xorshift's first draws from a small seed are small, and would leave the first states alone.
  const next = random(Math.imul(seed, 0x9e3779b1));
  const element = (size: number): number => Math.floor(next() * size);
  const users = userStates(plan);
  for (const u of users) {
    const offset = layout.stateOffset(u.owner, u.state);
    switch (Math.floor(next() * 5)) {
      case 0:
        break;
      case 1:
        state[offset + element(u.size)] = NaN;
        break;
      case 2:
        state[offset + element(u.size)] = Infinity;
        break;
      case 3:
        for (let k = 0; k < u.size; k++) state[offset + k] = k % 2 === 0 ? Infinity : -Infinity;
        break;
      default: {
        const nan = element(u.size);
        state[offset + nan] = NaN;
        if (u.size > 1) state[offset + ((nan + 1 + element(u.size - 1)) % u.size)] = -Infinity;
      }
    }
  }
  if (state.every((v) => Number.isFinite(v)))
    state[layout.stateOffset(users[0]!.owner, users[0]!.state)] = NaN;
  return state;
}

/** The chunks in the driver's input format: u32 count, then per chunk first, steps, pairs, pairs..., rows... */
function chunkFile(chunks: readonly SyntheticChunk[]): Buffer {
  const parts: Buffer[] = [Buffer.from(new Uint32Array([chunks.length]).buffer)];
  for (const c of chunks) {
    parts.push(
      Buffer.from(new Uint32Array([c.first, c.steps, c.pairs.length / 2]).buffer),
      Buffer.from(c.pairs.buffer, c.pairs.byteOffset, c.pairs.byteLength),
    );
    parts.push(Buffer.from(c.rows.buffer, c.rows.byteOffset, c.rows.byteLength));
  }
  return Buffer.concat(parts);
}

const DRIVER = String.raw`// Feeds chunks and a final state buffer from files to sf::OutputWriter and sf::NonFiniteWatch,
// as main.cu does with the GPU's.
#include "network.h"
#include "sf_host.h"
int main(int argc, char** argv) {
  if (argc != 5) return 2;
  std::FILE* in = std::fopen(argv[1], "rb");
  if (in == nullptr) return 3;
  auto word = [&]() { unsigned w = 0; if (std::fread(&w, 4, 1, in) != 1) std::exit(4); return w; };
  sf::OutputWriter writer(argv[3]);
  sf::NonFiniteWatch watch;
  const unsigned chunks = word();
  for (unsigned c = 0; c < chunks; ++c) {
    const unsigned first = word();
    const unsigned steps = word();
    const unsigned count = word();
    std::vector<unsigned> pairs(2 * static_cast<std::size_t>(count));
    for (auto& p : pairs) p = word();
    std::vector<sf_net::real> rows(sf_net::kRecordRow * steps);
    if (!rows.empty() && std::fread(rows.data(), sizeof(sf_net::real), rows.size(), in) != rows.size()) return 5;
    writer.add(first, steps, pairs.data(), count, rows.data());
    watch.add(first, steps, rows.data());
  }
  const std::vector<sf_net::real> state = sf::read_binary<sf_net::real>(argv[2], sf_net::kStateFloats);
  const sf::NonFiniteWarnings warnings = sf::non_finite_warnings(watch.finish(state.data()));
  writer.copy_synapse_tables(argv[4]);
  writer.finish("cuda-standalone", "test device \"quoted\"", 1.25, 0.5, warnings.summary);
  for (const auto& w : warnings.diagnostics) std::fprintf(stderr, "%s\n", w.c_str());
  return 0;
}
`;

function planOf(file: string, name: string, dt: number, steps: number): SimulationPlan {
  const network = compileNetworks(file).find((n) => n.name === name);
  if (network === undefined) throw new Error(`no network ${name} in ${file}`);
  const adjusted: Network = { ...network, dt };
  return buildPlan(adjusted, steps);
}

/**
 * Two recordings of one state (files H.V.0-2.csv and H.V.1-3.csv; its first non-finite value
 * is the earlier of the two) and a trace of a value that is not a state (I).
 */
const TWICE_RECORDED = `neuron Stiff {
  state {
    V = 1 mV
    u = 0 mV
  }
  current I : mV/ms
  equations {
    dV/dt = -V / (0.025 ms) + I
    du/dt = (V - u) / (1 ms)
  }
  method rk2
  spike when V > 10 mV
}

network TwiceRecorded {
  dt = 0.1 ms
  duration = 5 ms
  population H = Stiff(3)
  population K = Stiff(2)
  record H.V[0:2]
  record H.V[1:3]
  record H.u
  record K.I
  record H.spikes
}
`;
writeFileSync(join(TEMP, 'twice_recorded.spk'), TWICE_RECORDED);

const CASES: readonly {
  label: string;
  file: string;
  network: string;
  dt: number;
  steps: number;
  precision: Precision;
  rows: Rows;
  /** Added to the seeds of the chunks and of the final state (chosen so that every part of the warnings is compared). */
  seed?: number;
}[] = [
  {
    label: 'RtBasic, dt 0.1 ms, float',
    file: join(ROOT, 'test/models/conformance/rt_basic.spk'),
    network: 'RtBasic',
    dt: 0.1,
    steps: 500,
    precision: 'f32',
    rows: 'awkward',
  },
  {
    label: 'RtBasic, dt 0.07 ms, double',
    file: join(ROOT, 'test/models/conformance/rt_basic.spk'),
    network: 'RtBasic',
    dt: 0.07,
    steps: 300,
    precision: 'f64',
    rows: 'awkward',
  },
  {
    label: 'EINet (projections), dt 3e18 ms (times with exponents), float',
    file: join(ROOT, 'examples/ei_net.spk'),
    network: 'EINet',
    dt: 3e18,
    steps: 120,
    precision: 'f32',
    rows: 'awkward',
  },
  {
    label: 'RtRandom, dt 1e-7 ms (small times), double',
    file: join(ROOT, 'test/models/conformance/rt_random.spk'),
    network: 'RtRandom',
    dt: 1e-7,
    steps: 90,
    precision: 'f64',
    rows: 'awkward',
  },
  {
    label: 'BlowUp (rk4 and euler hints), float',
    file: join(ROOT, 'test/models/non-finite/blow_up.spk'),
    network: 'BlowUp',
    dt: 0.1,
    steps: 500,
    precision: 'f32',
    rows: 'finite',
  },
  {
    label: 'SynapsesBlowUp (merged, per-pre and per-synapse states), double',
    file: join(ROOT, 'test/models/non-finite/synapses.spk'),
    network: 'SynapsesBlowUp',
    dt: 0.1,
    steps: 200,
    precision: 'f64',
    rows: 'finite',
  },
  {
    label: 'NmdaHH (four states a neuron), dt 0.025 ms, float',
    file: join(ROOT, 'examples/nmda_hh.spk'),
    network: 'NmdaHH',
    dt: 0.025,
    steps: 400,
    precision: 'f32',
    rows: 'finite',
  },
  {
    label: 'RtSynapses (projections E, D merged), float',
    file: join(ROOT, 'test/models/conformance/rt_synapses.spk'),
    network: 'RtSynapses',
    dt: 0.1,
    steps: 300,
    precision: 'f32',
    rows: 'finite',
    // The merged g of projections E and D is non-finite.
    seed: 1,
  },
  {
    label: 'Overrides (the population lines a state depends on), float',
    file: join(ROOT, 'test/models/non-finite/overrides.spk'),
    network: 'Overrides',
    dt: 0.1,
    steps: 50,
    precision: 'f32',
    rows: 'finite',
  },
  {
    label: 'TwiceRecorded (one state in two traces), double',
    file: join(TEMP, 'twice_recorded.spk'),
    network: 'TwiceRecorded',
    dt: 0.1,
    steps: 80,
    precision: 'f64',
    rows: 'finite',
    // Both traces of H.V show a non-finite value, the second one first.
    seed: 26,
  },
];

/** What the warnings of the cases showed, for the check that each feature was compared. */
const shown = new Set<string>();

describe.skipIf(CXX === undefined)(
  'sf_host.h writes what OutputWriter writes, and warns of NaN and infinite states as run does, byte for byte',
  () => {
    it.each(CASES.map((c) => [c.label, c] as const))('%s', async (_label, c) => {
      const plan = planOf(c.file, c.network, c.dt, c.steps);
      const layout = layoutOf(plan);
      const dir = join(TEMP, c.label.replace(/[^A-Za-z0-9]+/g, '_'));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'network.h'), networkHeader(plan, c.precision));
      writeFileSync(join(dir, 'sf_host.h'), SF_HOST_H);
      writeFileSync(join(dir, 'driver.cpp'), DRIVER);
      // The data files compile writes beside the program (the per-synapse tables).
      for (const f of standaloneFiles(plan, '', { precision: c.precision }))
        if (f.name.endsWith('.synapses.csv')) writeFileSync(join(dir, f.name), f.data);
      const build = spawnSync(
        CXX!,
        [
          '-std=c++17',
          '-O1',
          '-Wall',
          '-Wextra',
          '-Werror',
          '-o',
          join(dir, 'driver'),
          join(dir, 'driver.cpp'),
        ],
        { encoding: 'utf8' },
      );
      expect(build.status, build.stderr).toBe(0);

      const chunks = syntheticChunks(plan, c.precision, 12345 + c.steps + (c.seed ?? 0), c.rows);
      const state = finalState(plan, c.precision, 777 + c.steps + (c.seed ?? 0));
      writeFileSync(join(dir, 'chunks.bin'), chunkFile(chunks));
      writeFileSync(
        join(dir, 'state.bin'),
        new Uint8Array(state.buffer, state.byteOffset, state.byteLength),
      );
      const run = spawnSync(
        join(dir, 'driver'),
        [join(dir, 'chunks.bin'), join(dir, 'state.bin'), join(dir, 'cpp'), dir],
        { encoding: 'utf8' },
      );
      expect(run.status, run.stderr).toBe(0);

      const writer = new OutputWriter(join(dir, 'js'), plan, c.precision);
      const watch = new NonFiniteWatch(plan);
      const converted = chunks.map((chunk) => ({
        firstStep: chunk.first,
        steps: chunk.steps,
        spikes: splitSpikes(chunk.pairs, chunk.first, layout, plan.spikeRecords),
        traces: splitTraces(Float64Array.from(chunk.rows), chunk.steps, layout),
      }));
      for (const chunk of converted) {
        writer.add(chunk);
        watch.add(chunk);
      }
      const nonFinite = await watch.finish({
        visitState: async (visit) => visit(0, Float64Array.from(state)),
      });
      const warnings = nonFiniteWarnings(plan, nonFinite);
      writer.finish(
        {
          backend: 'cuda-standalone',
          device: 'test device "quoted"',
          wallSeconds: 1.25,
          compileSeconds: 0.5,
          warnings: warnings.summary,
        },
        new Map(),
      );
      // What `spikeforge run` prints on stderr after the run.
      const stderr = warnings.diagnostics.map((d) => `${renderDiagnostic(d)}\n`).join('');
      expect(run.stderr).toBe(stderr);

      const files = readdirSync(join(dir, 'cpp')).sort();
      expect(files).toEqual(
        readdirSync(join(dir, 'js'))
          .filter((f) => !f.endsWith('.svg'))
          .sort(),
      );
      expect(files).toContain('spikes.csv');
      expect(files).toContain('summary.json');
      for (const f of files) {
        const expected = readFileSync(join(dir, 'js', f), 'utf8');
        const actual = readFileSync(join(dir, 'cpp', f), 'utf8');
        if (actual !== expected) {
          const a = actual.split('\n');
          const e = expected.split('\n');
          const line = e.findIndex((l, k) => l !== a[k]);
          expect(`${f} line ${line + 1}: ${a[line]}`).toBe(`${f} line ${line + 1}: ${e[line]}`);
        }
      }
      const spikeLines = readFileSync(join(dir, 'js', 'spikes.csv'), 'utf8').split('\n').length - 2;
      const cvs = readFileSync(join(dir, 'js', 'summary.json'), 'utf8').match(/isi_cv_mean/g);
      if (c.rows === 'awkward')
        expect(cvs, 'the ISI CV of some population is compared').not.toBeNull();
      expect(nonFinite.length, 'some state is NaN or infinite').toBeGreaterThan(0);
      for (const [feature, pattern] of [
        ['a note on other states', /also at the end of the run: /],
        ['states grouped by counts', /also at the end of the run: \S+(, \S+)* and \S+ are /],
        ['a first recorded value', /is first non-finite in the recording at t = /],
        ['an integration hint', /usually helps/],
        ['NaN and infinite counts together', / is NaN in \d+ and infinite in \d+ of /],
        ['a population line the state depends on', /: note: population \S+ sets /],
      ] as const)
        if (pattern.test(stderr)) shown.add(feature);
      if (nonFinite.some((s) => s.firstRecorded === undefined))
        shown.add('a non-finite state without a recorded one');
      if (warnings.summary.some((w) => w.variable === 'w' && w.projections !== undefined))
        shown.add('a per-synapse weight');
      if (warnings.summary.some((w) => (w.projections?.length ?? 0) > 1))
        shown.add('a merged state of several projections');
      const showsNonFinite = (r: number): boolean =>
        converted.some((chunk) => chunk.traces[r]!.some((v) => !Number.isFinite(v)));
      const tracesShowing = (s: NonFiniteState): number =>
        plan.traces.filter(
          (t, r) =>
            t.population === s.user.owner && t.variable === s.user.state && showsNonFinite(r),
        ).length;
      if (nonFinite.some((s) => tracesShowing(s) > 1))
        shown.add('a non-finite state in two traces that show one');
      console.log(
        `cuda-standalone: ${c.label}: ${files.length} files identical (${spikeLines} spikes, ${chunks.length} chunks, ${cvs?.length ?? 0} ISI CVs), ${warnings.diagnostics.length} warnings on ${nonFinite.length} non-finite states identical`,
      );
    });

    it('the cases compared every part of the warnings', () => {
      expect([...shown].sort()).toEqual(
        [
          'a first recorded value',
          'a merged state of several projections',
          'a non-finite state in two traces that show one',
          'a non-finite state without a recorded one',
          'a note on other states',
          'a per-synapse weight',
          'a population line the state depends on',
          'an integration hint',
          'NaN and infinite counts together',
          'states grouped by counts',
        ].sort(),
      );
    });
  },
);

/**
 * cuda_runtime.h for main.cu compiled as host C++: device memory is host memory (filled with
 * 0xff bytes when allocated, so nothing may rely on zeroed memory), and a launch runs the
 * kernel's threads one after the other (with test/support/cuda-emulation.ts's header).
 */
const FAKE_CUDA_RUNTIME = String.raw`#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
enum cudaError_t { cudaSuccess = 0 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost };
struct cudaDeviceProp { char name[256]; int major; int minor; };
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }
inline cudaError_t cudaGetDeviceCount(int* count) { *count = 1; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) { std::strcpy(p->name, "emulated"); p->major = 9; p->minor = 0; return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, std::size_t bytes) { *p = std::malloc(bytes); std::memset(*p, 0xff, bytes); return cudaSuccess; }
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void* to, const void* from, std::size_t bytes, cudaMemcpyKind) { if (bytes > 0) std::memcpy(to, from, bytes); return cudaSuccess; }
inline cudaError_t cudaMemset(void* p, int value, std::size_t bytes) { std::memset(p, value, bytes); return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
template <class Kernel, class... Args>
void sf_emu_launch(Kernel kernel, unsigned blocks, unsigned block, Args... args) {
  blockDim.x = block;
  for (unsigned b = 0; b < blocks; ++b) {
    blockIdx.x = b;
    for (unsigned t = 0; t < block; ++t) {
      threadIdx.x = t;
      kernel(args...);
    }
  }
}
`;

describe.skipIf(CXX === undefined)(
  'the standalone program, its kernels emulated on the CPU, warns as `spikeforge run --backend cpu` does',
  () => {
    const io = (): { io: Io; out: string[]; err: string[] } => {
      const out: string[] = [];
      const err: string[] = [];
      return { io: { out: (t) => out.push(t), err: (t) => err.push(t) }, out, err };
    };
    /** summary.json without what differs between the two runs (backend, device, timings). */
    const comparable = (dir: string): string =>
      readFileSync(join(dir, 'summary.json'), 'utf8').replace(
        /^ {2}"(backend|device|wall_s|compile_s)": .*\n/gm,
        '',
      );

    it.each([
      ['test/models/non-finite/blow_up.spk', 'BlowUp'],
      ['test/models/non-finite/synapses.spk', 'SynapsesBlowUp'],
    ])('%s', async (file, network) => {
      const model = join(ROOT, file);
      const dir = join(TEMP, `emulated_${network}`);
      const r = io();
      expect(
        await main(['compile', model, '--target', 'cuda', '--standalone', '-o', dir], r.io),
        r.err.join('\n'),
      ).toBe(EXIT.ok);
      // main.cu as it is, but for its launches: kernel<<<blocks, block>>>(...) becomes a call.
      const launches = /(\w+)<<<([^,]+), ([^>]+)>>>\(/g;
      const source = readFileSync(join(dir, 'main.cu'), 'utf8');
      expect(source).toMatch(launches);
      writeFileSync(
        join(dir, 'main_emulated.cpp'),
        source.replace(launches, 'sf_emu_launch($1, $2, $3, '),
      );
      mkdirSync(join(dir, 'fake'), { recursive: true });
      writeFileSync(join(dir, 'fake', 'cuda_runtime.h'), FAKE_CUDA_RUNTIME);
      writeFileSync(join(dir, 'fake', 'sf_emu.h'), EMULATION_HEADER);
      const build = spawnSync(
        CXX!,
        [
          '-std=c++17',
          '-O1',
          '-ffp-contract=off',
          '-I',
          join(dir, 'fake'),
          '-include',
          join(dir, 'fake', 'sf_emu.h'),
          '-o',
          join(dir, 'emulated'),
          join(dir, 'main_emulated.cpp'),
        ],
        { encoding: 'utf8' },
      );
      expect(build.status, build.stderr).toBe(0);
      const ran = spawnSync(join(dir, 'emulated'), ['-o', join(dir, 'out'), '--data', dir], {
        encoding: 'utf8',
      });
      expect(ran.status, ran.stdout + ran.stderr).toBe(0);
      // An output folder that cannot be made: a message and exit status 1, no abort.
      const blocked = spawnSync(
        join(dir, 'emulated'),
        ['-o', join(dir, 'main.cu', 'out'), '--data', dir],
        { encoding: 'utf8' },
      );
      expect(blocked.status, blocked.stderr).toBe(1);
      expect(blocked.stderr).toMatch(new RegExp(`^${network}: .*main\\.cu`));
      expect(blocked.stderr).not.toContain('terminate');
      if (network === 'SynapsesBlowUp') {
        // A data folder without Q.w's synapse table: exit 1, and no file of the run is left
        // (summary.json is written last; temporary files are removed).
        const partial = join(dir, 'partial-data');
        mkdirSync(partial, { recursive: true });
        for (const f of ['init.bin', 'conn.bin'])
          writeFileSync(join(partial, f), readFileSync(join(dir, f)));
        const failed = spawnSync(
          join(dir, 'emulated'),
          ['-o', join(dir, 'failed-out'), '--data', partial],
          { encoding: 'utf8' },
        );
        expect(failed.status, failed.stderr).toBe(1);
        expect(failed.stderr).toContain('Q.w.synapses.csv');
        expect(readdirSync(join(dir, 'failed-out')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
        expect(existsSync(join(dir, 'failed-out', 'summary.json'))).toBe(false);
      }

      const viaNode = join(TEMP, `emulated_${network}_run`);
      const run = io();
      expect(
        await main(['run', model, '--backend', 'cpu', '-o', viaNode], run.io),
        run.err.join('\n'),
      ).toBe(EXIT.ok);
      const warnings = run.err.filter((e) => e.includes(' at the end of the run'));
      expect(warnings.length).toBeGreaterThan(0);
      expect(ran.stderr).toBe(warnings.map((w) => `${w}\n`).join(''));
      expect(comparable(join(dir, 'out'))).toBe(comparable(viaNode));
      expect(comparable(viaNode)).toContain('"warnings": [');
      const csvs = readdirSync(join(dir, 'out')).filter((f) => f.endsWith('.csv'));
      expect(csvs.length).toBeGreaterThan(1);
      for (const f of csvs)
        expect(readFileSync(join(dir, 'out', f), 'utf8'), f).toBe(
          readFileSync(join(viaNode, f), 'utf8'),
        );
    });
  },
);

describe('spikeforge compile --target cuda --standalone', () => {
  const io = (): { io: Io; out: string[]; err: string[] } => {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (t) => out.push(t), err: (t) => err.push(t) }, out, err };
  };

  const EI_NET = join(ROOT, 'examples', 'ei_net.spk');
  const BLOW_UP = join(ROOT, 'test', 'models', 'non-finite', 'blow_up.spk');

  /** `spikeforge compile MODEL --target cuda --standalone -o dir` (examples/ei_net.spk unless given), which must succeed. */
  const compileStandalone = async (dir: string, model = EI_NET): Promise<void> => {
    const r = io();
    const code = await main(
      ['compile', model, '--target', 'cuda', '--standalone', '-o', dir],
      r.io,
    );
    expect(code, r.err.join('\n')).toBe(EXIT.ok);
  };

  it('writes the kernels, manifest, host program, data files and CMakeLists.txt', async () => {
    const dir = join(TEMP, 'cli_standalone');
    await compileStandalone(dir);
    expect(readdirSync(dir).sort()).toEqual(
      [
        'CMakeLists.txt',
        'EINet.cu',
        'EINet.manifest.json',
        'conn.bin',
        'init.bin',
        'main.cu',
        'network.h',
        'sf_host.h',
      ].sort(),
    );
    const manifest = JSON.parse(readFileSync(join(dir, 'EINet.manifest.json'), 'utf8')) as {
      standalone: { steps: number; initial_state: { count: number } };
    };
    const [network] = compileNetworks(join(ROOT, 'examples', 'ei_net.spk'));
    expect(manifest.standalone.steps).toBe(Math.round(network!.duration / network!.dt));
    expect(readFileSync(join(dir, 'init.bin')).length).toBe(
      4 * manifest.standalone.initial_state.count,
    );
    const cmake = readFileSync(join(dir, 'CMakeLists.txt'), 'utf8');
    expect(cmake).toContain('set(CMAKE_CUDA_ARCHITECTURES 90)');
    expect(cmake).toContain('LANGUAGES CXX CUDA');
    expect(cmake).not.toMatch(/^[^#]*fast_math/m);
  });

  it('--precision f64 writes double kernels and an 8-byte initial state', async () => {
    const dir = join(TEMP, 'cli_standalone_f64');
    const r = io();
    expect(
      await main(
        [
          'compile',
          join(ROOT, 'test', 'models', 'conformance', 'rt_basic.spk'),
          '--target',
          'cuda',
          '--standalone',
          '--precision',
          'f64',
          '-o',
          dir,
        ],
        r.io,
      ),
    ).toBe(EXIT.ok);
    expect(readFileSync(join(dir, 'RtBasic.cu'), 'utf8')).toContain('typedef double sf_real;');
    expect(readFileSync(join(dir, 'network.h'), 'utf8')).toContain('using real = double;');
    const manifest = JSON.parse(readFileSync(join(dir, 'RtBasic.manifest.json'), 'utf8')) as {
      standalone: { initial_state: { count: number } };
    };
    expect(readFileSync(join(dir, 'init.bin')).length).toBe(
      8 * manifest.standalone.initial_state.count,
    );
  });

  it('writes the rows of a from_file projection, read when the network is checked, to conn.bin', async () => {
    const dir = join(TEMP, 'from_file');
    mkdirSync(dir, { recursive: true });
    // Unsorted, with a repeated pair (kept) and a header.
    writeFileSync(join(dir, 'ring.csv'), 'pre,post\n3,4\n0,1\n1,2\n2,3\n4,0\n0,1\n');
    writeFileSync(
      join(dir, 'ring.spk'),
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Ring {
  duration = 1 ms
  population A = LifRef(5)
  population B = LifRef(5)
  projection P = A -> B { connect from_file("ring.csv")  weight 1 nA  synapse Expon  output CUBA }
}
`,
    );
    const r = io();
    const out = join(dir, 'standalone');
    const code = await main(
      ['compile', join(dir, 'ring.spk'), '--target', 'cuda', '--standalone', '-o', out],
      r.io,
    );
    expect(code, r.err.join('\n')).toBe(EXIT.ok);
    const conn = readFileSync(join(out, 'conn.bin'));
    // Out-row starts of the 5 pre neurons, then their targets, ascending.
    expect([...new Uint32Array(conn.buffer, conn.byteOffset, conn.length / 4)]).toEqual([
      0, 2, 3, 4, 5, 6, 1, 1, 2, 3, 4, 0,
    ]);
  });

  it('refuses --standalone and --precision f64 for other targets (exit 2)', async () => {
    for (const args of [
      ['--target', 'wgsl', '--standalone'],
      ['--target', 'wasm', '--precision', 'f64'],
      ['--target', 'cuda', '--precision', 'f16'],
    ]) {
      const r = io();
      expect(
        await main(
          ['compile', join(ROOT, 'examples', 'ei_net.spk'), ...args, '-o', join(TEMP, 'refused')],
          r.io,
        ),
        args.join(' '),
      ).toBe(EXIT.usage);
      expect(r.err.join('\n')).toMatch(/--standalone is for --target cuda|--precision/);
    }
  });

  /** A model (examples/ei_net.spk unless given) compiled standalone and built with CMake (once); the executable. */
  const built = new Map<string, Promise<string>>();
  const buildStandalone = (model = EI_NET, network = 'EINet'): Promise<string> => {
    const executable =
      built.get(model) ??
      (async () => {
        const dir = join(TEMP, `cmake_standalone_${network}`);
        await compileStandalone(dir, model);
        const build = join(dir, 'build');
        const configure = spawnSync(
          'cmake',
          ['-S', dir, '-B', build, `-DCMAKE_CUDA_COMPILER=${NVCC === 'nvcc' ? 'nvcc' : NVCC}`],
          { encoding: 'utf8', timeout: 300_000 },
        );
        expect(configure.status, configure.stdout + configure.stderr).toBe(0);
        const made = spawnSync('cmake', ['--build', build, '-j', '2'], {
          encoding: 'utf8',
          timeout: 300_000,
        });
        expect(made.status, made.stdout + made.stderr).toBe(0);
        return join(build, network);
      })();
    built.set(model, executable);
    return executable;
  };

  it.skipIf(NVCC === undefined || !HAVE_CMAKE)(
    'CMakeLists.txt configures and builds (sm_90, no GPU needed)',
    async () => {
      expect(existsSync(await buildStandalone())).toBe(true);
    },
  );

  it.skipIf(NVCC === undefined || !HAVE_CMAKE || !HAVE_CUDA)(
    'on a GPU the executable writes the spikes.csv and N.V.csv of `spikeforge run --backend cuda`',
    async () => {
      const executable = await buildStandalone();
      const standalone = join(TEMP, 'standalone_out');
      const ran = spawnSync(executable, ['-o', standalone], { encoding: 'utf8', timeout: 300_000 });
      expect(ran.status, ran.stdout + ran.stderr).toBe(0);
      const viaNode = join(TEMP, 'run_out');
      const r = io();
      const code = await main(['run', EI_NET, '--backend', 'cuda', '-o', viaNode], r.io);
      expect(code, r.err.join('\n')).toBe(EXIT.ok);
      for (const file of ['spikes.csv', 'N.V.csv'])
        expect(readFileSync(join(standalone, file), 'utf8'), file).toBe(
          readFileSync(join(viaNode, file), 'utf8'),
        );
    },
  );

  it.skipIf(NVCC === undefined || !HAVE_CMAKE || !HAVE_CUDA)(
    'on a GPU the executable warns of the NaN and infinite states `spikeforge run --backend cuda` warns of',
    async () => {
      const executable = await buildStandalone(BLOW_UP, 'BlowUp');
      const standalone = join(TEMP, 'standalone_blow_up');
      const ran = spawnSync(executable, ['-o', standalone], { encoding: 'utf8', timeout: 300_000 });
      expect(ran.status, ran.stdout + ran.stderr).toBe(0);
      const viaNode = join(TEMP, 'run_blow_up');
      const r = io();
      const code = await main(['run', BLOW_UP, '--backend', 'cuda', '-o', viaNode], r.io);
      expect(code, r.err.join('\n')).toBe(EXIT.ok);
      const warnings = r.err.filter((e) => e.includes(' at the end of the run'));
      expect(warnings.length).toBeGreaterThan(0);
      expect(ran.stderr).toBe(warnings.map((w) => `${w}\n`).join(''));
      const summary = (dir: string): unknown =>
        (JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { warnings?: unknown })
          .warnings;
      expect(summary(standalone)).toEqual(summary(viaNode));
    },
  );
});
