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
import { ProgressReport } from '../src/cli/progress.js';
import {
  SF_HOST_H,
  initialStateBytes,
  networkHeader,
  standaloneFiles,
} from '../src/codegen/cuda/standalone.js';
import { CONNECTIVITY_ARRAYS } from '../src/codegen/layout.js';
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
  sf::OutputWriter writer(argv[3], sf_net::kDefaultSteps);
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

/**
 * Builds `driver`, a host C++ program `source` that includes the standalone program's
 * network.h (for `plan`) and sf_host.h, in `dir`, with every warning an error.
 */
function buildDriver(
  dir: string,
  plan: SimulationPlan,
  precision: Precision,
  source: string,
): void {
  writeFileSync(join(dir, 'network.h'), networkHeader(plan, precision));
  writeFileSync(join(dir, 'sf_host.h'), SF_HOST_H);
  writeFileSync(join(dir, 'driver.cpp'), source);
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
}

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
      buildDriver(dir, plan, c.precision, DRIVER);
      // The data files compile writes beside the program (the per-synapse tables).
      for (const f of standaloneFiles(plan, '', { precision: c.precision }))
        if (f.name.endsWith('.synapses.csv')) writeFileSync(join(dir, f.name), f.data);

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

/** Output captured from `main`. */
function capture(): { io: Io; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t) => out.push(t), err: (t) => err.push(t) }, out, err };
}

/** summary.json without what differs between two runs (backend, device, timings). */
function comparableSummary(dir: string): string {
  return readFileSync(join(dir, 'summary.json'), 'utf8').replace(
    /^ {2}"(backend|device|wall_s|compile_s)": .*\n/gm,
    '',
  );
}

/**
 * `spikeforge compile MODEL --target cuda --standalone -o DIR`, and its main.cu as it is built
 * with the host compiler, but for its launches (kernel<<<blocks, block>>>(...) becomes a call of
 * the emulation): the executable.
 */
async function emulatedProgram(model: string, dir: string): Promise<string> {
  const r = capture();
  expect(
    await main(['compile', model, '--target', 'cuda', '--standalone', '-o', dir], r.io),
    r.err.join('\n'),
  ).toBe(EXIT.ok);
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
  const program = join(dir, 'emulated');
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
      program,
      join(dir, 'main_emulated.cpp'),
    ],
    { encoding: 'utf8' },
  );
  expect(build.status, build.stderr).toBe(0);
  return program;
}

describe.skipIf(CXX === undefined)(
  'the standalone program, its kernels emulated on the CPU, warns as `spikeforge run --backend cpu` does',
  () => {
    it.each([
      ['test/models/non-finite/blow_up.spk', 'BlowUp'],
      ['test/models/non-finite/synapses.spk', 'SynapsesBlowUp'],
      // Parameters and a refractory period set per neuron.
      ['test/models/non-finite/overrides.spk', 'Overrides'],
    ])('%s', async (file, network) => {
      const model = join(ROOT, file);
      const dir = join(TEMP, `emulated_${network}`);
      const program = await emulatedProgram(model, dir);
      const ran = spawnSync(program, ['-o', join(dir, 'out'), '--data', dir], {
        encoding: 'utf8',
      });
      expect(ran.status, ran.stdout + ran.stderr).toBe(0);
      // An output folder that cannot be made: a message and exit status 1, no abort.
      const blocked = spawnSync(program, ['-o', join(dir, 'main.cu', 'out'), '--data', dir], {
        encoding: 'utf8',
      });
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
        const failed = spawnSync(program, ['-o', join(dir, 'failed-out'), '--data', partial], {
          encoding: 'utf8',
        });
        expect(failed.status, failed.stderr).toBe(1);
        expect(failed.stderr).toContain('Q.w.synapses.csv');
        expect(readdirSync(join(dir, 'failed-out')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
        expect(existsSync(join(dir, 'failed-out', 'summary.json'))).toBe(false);
      }

      const viaNode = join(TEMP, `emulated_${network}_run`);
      const run = capture();
      expect(
        await main(['run', model, '--backend', 'cpu', '-o', viaNode], run.io),
        run.err.join('\n'),
      ).toBe(EXIT.ok);
      const warnings = run.err.filter((e) => e.includes(' at the end of the run'));
      expect(warnings.length).toBeGreaterThan(0);
      expect(ran.stderr).toBe(warnings.map((w) => `${w}\n`).join(''));
      expect(comparableSummary(join(dir, 'out'))).toBe(comparableSummary(viaNode));
      expect(comparableSummary(viaNode)).toContain('"warnings": [');
      const csvs = readdirSync(join(dir, 'out')).filter((f) => f.endsWith('.csv'));
      expect(csvs.length).toBeGreaterThan(1);
      for (const f of csvs)
        expect(readFileSync(join(dir, 'out', f), 'utf8'), f).toBe(
          readFileSync(join(viaNode, f), 'utf8'),
        );
    });
  },
);

/**
 * A network whose results depend on the length of a run in each way a length can reach: a spike
 * time after the file's 20 ms (it fires only in a longer run), a stimulus whose sections end
 * at 25 ms (0 nA after them), a recording every 3 steps (a shorter run can end between two
 * rows), Poisson draws keyed by the step, weights and delays per synapse, and weights drawn per
 * connection.
 */
const LENGTHS = `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"

network Lengths {
  dt = 0.1 ms
  duration = 20 ms
  seed = 7
  population S = SpikeTimes(2, indices = [0, 1, 0], times = [2 ms, 5.05 ms, 31 ms])
  population X = Poisson(40, rate = 100 Hz)
  population N = LifRef(20) { tau_ref = 2 ms }
  projection SN = S -> N {
    connect all_to_all
    weight 20 nA
    delay 1 ms
    synapse Expon(tau = 5 ms)
    output CUBA
  }
  projection XN = X -> N {
    connect fixed_probability(0.2)
    weight normal(3 nA, 1 nA)
    delay uniform(0.1 ms, 2 ms)
    synapse Expon(tau = 5 ms)
    output CUBA
  }
  projection XP = X[0:20] -> N {
    connect fixed_probability(0.3) procedural
    weight normal(2 nA, 0.5 nA)
    synapse Expon(tau = 5 ms)
    output CUBA
  }
  stimulus N.I = section([0 nA, 6 nA, 2 nA], [5 ms, 10 ms, 10 ms])
  record N.V[0:4] every 0.3 ms
  record N.spikes
  record S.spikes
  record X.spikes
}
`;
writeFileSync(join(TEMP, 'lengths.spk'), LENGTHS);

describe.skipIf(CXX === undefined)(
  'the standalone program on its command line, its kernels emulated on the CPU',
  () => {
    const model = join(TEMP, 'lengths.spk');
    const dir = join(TEMP, 'emulated_lengths');
    let program: Promise<string> | undefined;
    const built = (): Promise<string> => (program ??= emulatedProgram(model, dir));
    const usage = 'usage: Lengths [-o DIR] [--steps N | --duration MS] [--data DIR] [--device N]\n';

    it.each([
      ['no option: the 20 ms of the file', [], '-o', '20', 200],
      [
        '--duration 45.05, longer: the spike time at 31 ms, after the sections',
        ['--duration', '45.05'],
        '--out',
        '45.05',
        451,
      ],
      [
        '--steps 137, shorter: between two rows of the recording every 3 steps',
        ['--steps', '137'],
        '--out=',
        '13.7',
        137,
      ],
      ['--duration=600, 6000 steps in three chunks', ['--duration=600'], '-o', '600', 6000],
    ] as const)(
      '%s: the files of spikeforge run --duration',
      async (_label, options, outOption, duration, steps) => {
        const executable = await built();
        const out = join(dir, `out_${steps}`);
        const outArgs = outOption.endsWith('=') ? [`${outOption}${out}`] : [outOption, out];
        const ran = spawnSync(executable, [...options, ...outArgs, '--data', dir], {
          encoding: 'utf8',
        });
        expect(ran.status, ran.stderr).toBe(0);
        expect(ran.stderr).toBe('');
        expect(ran.stdout).toContain(`Lengths: ${steps} steps of 0.1 ms on cuda-standalone`);
        const viaNode = join(TEMP, `lengths_run_${steps}`);
        const r = capture();
        expect(
          await main(
            ['run', model, '--backend', 'cpu', '--duration', duration, '-o', viaNode],
            r.io,
          ),
          r.err.join('\n'),
        ).toBe(EXIT.ok);
        const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
          steps: number;
          duration_ms: number;
        };
        expect([summary.steps, summary.duration_ms]).toEqual([steps, steps * 0.1]);
        expect(comparableSummary(out)).toBe(comparableSummary(viaNode));
        const csvs = readdirSync(viaNode)
          .filter((f) => f.endsWith('.csv'))
          .sort();
        expect(
          readdirSync(out)
            .filter((f) => f.endsWith('.csv'))
            .sort(),
        ).toEqual(csvs);
        for (const f of csvs)
          expect(readFileSync(join(out, f), 'utf8'), f).toBe(
            readFileSync(join(viaNode, f), 'utf8'),
          );
        // What the length changes: the late spike time fires, the last row of the trace.
        const spikes = readFileSync(join(out, 'spikes.csv'), 'utf8');
        expect(spikes.includes('\n31,S,0\n')).toBe(steps > 310);
        const rows = readFileSync(join(out, 'N.V.csv'), 'utf8').trim().split('\n');
        expect(rows.length - 1).toBe(Math.floor(steps / 3));
        expect(rows.at(-1)!.split(',')[0]).toBe(
          String(Number((Math.floor(steps / 3) * 0.3).toPrecision(12))),
        );
      },
    );

    it.each([
      [['--bogus'], "unknown option '--bogus'"],
      [['--steps'], '--steps needs a value'],
      [['-o'], '-o needs a value'],
      [['--out='], '--out needs a value'],
      [['--steps', '0'], "--steps takes a whole number from 1 to 4294967295, not '0'"],
      [['--steps', '2.5'], "--steps takes a whole number from 1 to 4294967295, not '2.5'"],
      [
        ['--steps', '4294967296'],
        "--steps takes a whole number from 1 to 4294967295, not '4294967296'",
      ],
      [
        ['--duration', '2 s'],
        "--duration takes a number of milliseconds without a unit, such as 2000, not '2 s'",
      ],
      [['--duration', '-5'], "--duration must be positive, not '-5'"],
      [
        ['--steps', '10', '--duration', '5'],
        '--steps and --duration both set the length of the run: give one of them',
      ],
      [['results'], "unexpected argument 'results': the program takes only options"],
      [['--device', 'first'], "--device takes a device number (0, 1, ...), not 'first'"],
    ])('%j: exit status 2, the message and the usage line', async (args, message) => {
      const executable = await built();
      const out = join(dir, 'refused');
      const ran = spawnSync(executable, [...args, '-o', out], { encoding: 'utf8' });
      expect(ran.status, ran.stderr).toBe(2);
      expect(ran.stderr).toBe(`Lengths: ${message}\n${usage}`);
      expect(ran.stdout).toBe('');
      expect(existsSync(out)).toBe(false);
    });

    it.each([
      ['0.05', 'is longer than the duration of 0.05 ms'],
      ['1e9', 'is 1.000e+10 steps of 0.1 ms, more than the 4294967295 steps a run can have'],
    ])('--duration %s is refused in the words of spikeforge run', async (duration, words) => {
      const executable = await built();
      const ran = spawnSync(executable, ['--duration', duration], { encoding: 'utf8' });
      const r = capture();
      expect(
        await main(['run', model, '--duration', duration, '-o', join(dir, 'refused')], r.io),
      ).toBe(EXIT.usage);
      const message = r.err
        .join('\n')
        .split('\n')[0]!
        .replace(/^spikeforge run: /, '');
      expect(message).toContain(words);
      expect(ran.status).toBe(2);
      expect(ran.stderr).toBe(`Lengths: ${message}\n${usage}`);
    });

    it('--help and -h print the options and their defaults, and say that dt and the seed are fixed', async () => {
      const executable = await built();
      for (const flag of ['--help', '-h']) {
        const ran = spawnSync(executable, ['--steps', '5', flag], { encoding: 'utf8' });
        expect(ran.status, ran.stderr).toBe(0);
        expect(ran.stderr).toBe('');
        expect(ran.stdout.startsWith(usage)).toBe(true);
        for (const text of [
          '-o, --out DIR      output folder (default: out)',
          "--steps N      the length of the run in steps of 0.1 ms (default: 200, the network's duration)",
          '--duration MS  the length of the run in milliseconds, a number without a unit',
          'round(MS / 0.1) steps',
          '(default: 20)',
          // The emulated build does not define SF_DATA_DIR, as CMake does.
          '--data DIR     the folder with init.bin and conn.bin (default: .)',
          'The time step (0.1 ms) and the seed (7) cannot be changed here',
        ])
          expect(ran.stdout).toContain(text);
      }
    });

    it.skipIf(spawnSync('script', ['--version']).status !== 0)(
      'shows its progress on stderr only where stderr is a terminal (script(1) gives it one)',
      async () => {
        const executable = await built();
        // A run past a second, when the first status line comes: the steps grow until it is.
        let steps = 400_000;
        let args: string[] = [];
        for (let wall = 0; wall < 1.5; steps *= 4) {
          args = ['--steps', String(steps), '-o', join(dir, 'long'), '--data', dir];
          const piped = spawnSync(executable, args, { encoding: 'utf8' });
          expect(piped.status, piped.stderr).toBe(0);
          expect(piped.stderr).toBe('');
          wall = (
            JSON.parse(readFileSync(join(dir, 'long', 'summary.json'), 'utf8')) as {
              wall_s: number;
            }
          ).wall_s;
          if (wall >= 1.5) break;
        }
        // On a pseudo-terminal stdout and stderr arrive together.
        const shell = [executable, ...args].map((a) => `'${a}'`).join(' ');
        const terminal = spawnSync('script', ['-qec', shell, '/dev/null'], { encoding: 'utf8' });
        expect(terminal.status, terminal.stdout).toBe(0);
        expect(terminal.stdout).toMatch(
          new RegExp(
            `\\rLengths: \\d+% \\(\\d+(\\.\\d+)? of ${steps / 10} ms\\) in \\d+\\.\\d s, about \\d+(\\.\\d)? s left\\x1b\\[K`,
          ),
        );
        // Cleared before the report on stdout.
        expect(terminal.stdout).toContain(`\r\x1b[KLengths: ${steps} steps of 0.1 ms`);
      },
    );
  },
);

/** Feeds sf::Progress (done, seconds) pairs from the command line: argv[1] the steps, argv[2] 1 for a terminal. */
const PROGRESS_DRIVER = String.raw`#include "network.h"
#include "sf_host.h"
int main(int argc, char** argv) {
  sf::Progress progress(sf_net::kNetwork, std::stoull(argv[1]), std::string(argv[2]) == "1", stdout);
  for (int k = 3; k + 1 < argc; k += 2) progress.update(std::stoull(argv[k]), std::strtod(argv[k + 1], nullptr));
  progress.finish();
  return 0;
}
`;

describe.skipIf(CXX === undefined)('sf_host.h shows progress as spikeforge run does', () => {
  it('the status lines of ProgressReport on a terminal, at most once a second; none elsewhere', () => {
    const plan = planOf(join(TEMP, 'lengths.spk'), 'Lengths', 0.1, 200);
    const dir = join(TEMP, 'progress');
    mkdirSync(dir, { recursive: true });
    buildDriver(dir, plan, 'f32', PROGRESS_DRIVER);
    const steps = 123457;
    // Updates 0.05 s apart are too soon for either; the others are a second or more apart.
    const updates: [number, number][] = [
      [1000, 0.5],
      [20000, 1.25],
      [20100, 1.3],
      [60000, 2.75],
      [60001, 2.8],
      [100000, 75.2],
      [steps, 80],
    ];
    const statuses: string[] = [];
    let now = 0;
    const report = new ProgressReport(
      'Lengths',
      steps,
      0.1,
      { out: () => undefined, err: () => undefined, status: (t) => statuses.push(t) },
      () => now,
    );
    for (const [done, t] of updates) {
      now = t;
      report.update(done);
    }
    report.finish();
    expect(statuses.length).toBe(4);
    const args = updates.flatMap(([done, t]) => [String(done), String(t)]);
    const shown = spawnSync(join(dir, 'driver'), [String(steps), '1', ...args], {
      encoding: 'utf8',
    });
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toBe(statuses.map((t) => `\r${t}\x1b[K`).join(''));
    // An update 0.5 s after the last one: run redraws it (every 0.2 s), the program does not.
    const soon = spawnSync(
      join(dir, 'driver'),
      [String(steps), '1', '20000', '1.25', '30000', '1.75'],
      {
        encoding: 'utf8',
      },
    );
    expect(soon.stdout.split('\r').filter((l) => l.includes('%')).length).toBe(1);
    const hidden = spawnSync(join(dir, 'driver'), [String(steps), '0', ...args], {
      encoding: 'utf8',
    });
    expect(hidden.stdout).toBe('');
  });
});

describe('spikeforge compile --target cuda --standalone', () => {
  const EI_NET = join(ROOT, 'examples', 'ei_net.spk');
  const BLOW_UP = join(ROOT, 'test', 'models', 'non-finite', 'blow_up.spk');

  /** `spikeforge compile MODEL --target cuda --standalone -o dir` (examples/ei_net.spk unless given), which must succeed. */
  const compileStandalone = async (dir: string, model = EI_NET): Promise<void> => {
    const r = capture();
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
    const r = capture();
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
    const r = capture();
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
    // As the manifest describes them: the rows of ring.csv.
    const { layout } = readManifest(out, 'Ring').buffers.connectivity;
    const array = (name: string): number[] => {
      const segment = layout.find((l) => l.projection === 'P' && l.array === name)!;
      return wordsOf(join(out, 'conn.bin'), segment.offset, segment.words, segment.type);
    };
    const start = array('outStart');
    const targets = array('outTargets');
    const pairs = [0, 1, 2, 3, 4].flatMap((pre) =>
      targets.slice(start[pre], start[pre + 1]).map((post) => `${pre},${post}`),
    );
    expect(pairs.sort()).toEqual(['3,4', '0,1', '1,2', '2,3', '4,0', '0,1'].sort());
  });

  /** What the tests read of a standalone manifest. */
  interface StandaloneManifest {
    kernel_signature: string;
    kernel_parameters: { type: string; name: string; argument: string }[];
    dispatch_per_step: { entry_point: string; threads: number }[];
    buffers: {
      state: {
        type: string;
        floats: number;
        layout: { population: string; state: string; offset: number; count: number }[];
      };
      connectivity: {
        words: number;
        layout: {
          array: string;
          offset: number;
          words: number;
          type: 'u32' | 'i32';
          projection?: string;
          delivery?: string;
          population?: string;
          quantum?: number;
          quantum_unit?: string;
        }[];
        arrays: Record<string, string>;
      };
    };
    standalone: { initial_state: { file: string }; connectivity: { file: string } };
  }

  const readManifest = (dir: string, network: string): StandaloneManifest =>
    JSON.parse(readFileSync(join(dir, `${network}.manifest.json`), 'utf8')) as StandaloneManifest;

  /** The words of a little-endian file, as the manifest types them. */
  const wordsOf = (file: string, offset: number, count: number, type: 'u32' | 'i32'): number[] => {
    const bytes = readFileSync(file);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    return Array.from({ length: count }, (_, k) =>
      type === 'u32'
        ? view.getUint32(4 * (offset + k), true)
        : view.getInt32(4 * (offset + k), true),
    );
  };

  const LENGTHS_SPK = join(TEMP, 'lengths.spk');
  const RT_SYNAPSES = join(ROOT, 'test', 'models', 'conformance', 'rt_synapses.spk');

  it('manifest.json describes conn.bin: read with its layout, it holds the network connectivity', async () => {
    const seen = new Set<string>();
    for (const [model, name] of [
      [RT_SYNAPSES, 'RtSynapses'],
      [join(ROOT, 'test', 'models', 'conformance', 'rt_neuron_reads.spk'), 'RtNeuronReads'],
      [LENGTHS_SPK, 'Lengths'],
    ] as const) {
      const dir = join(TEMP, `layout_${name}`);
      await compileStandalone(dir, model);
      const manifest = readManifest(dir, name);
      const conn = join(dir, manifest.standalone.connectivity.file);
      const { layout, arrays, words } = manifest.buffers.connectivity;
      expect(readFileSync(conn).length).toBe(4 * words);
      // The arrays follow one another and fill the file.
      let next = 0;
      for (const segment of layout) {
        expect(segment.offset, `${segment.projection ?? segment.population}.${segment.array}`).toBe(
          next,
        );
        next += segment.words;
        expect(arrays[segment.array], segment.array).toBeDefined();
      }
      expect(next).toBe(words);

      // The network as the file has it (its own dt): what compile wrote.
      const plan = buildPlan(
        compileNetworks(model).find((n) => n.name === name)!,
        1,
      );
      const routing = plan.routing;
      for (const segment of layout) {
        const values = wordsOf(conn, segment.offset, segment.words, segment.type);
        const label = `${name} ${segment.projection ?? segment.population} ${segment.array}`;
        seen.add(segment.array);
        const route = routing.routes.find((r) => r.projection.name === segment.projection);
        const c = route?.connectivity;
        switch (segment.array) {
          case 'outStart':
          case 'outTargets':
          case 'outSources':
          case 'inStart':
          case 'inSources':
          case 'inSynapses':
            expect(c?.kind, label).toBe('rows');
            if (c?.kind === 'rows') expect(values, label).toEqual([...c.rows[segment.array]]);
            break;
          case 'skipEntries':
          case 'skipGuide':
            expect(c?.kind, label).toBe('geometric');
            if (c?.kind === 'geometric')
              expect(values, label).toEqual([
                ...(segment.array === 'skipEntries' ? c.table.entries : c.table.guide),
              ]);
            break;
          case 'weightKnots':
            expect(c?.kind === 'geometric' ? c.weights : undefined, label).toBeDefined();
            if (c?.kind === 'geometric' && c.weights !== undefined) {
              expect(values, label).toEqual([...c.weights.knots]);
              expect(segment.quantum, label).toBe(c.weights.quantum);
              expect(segment.quantum_unit, label).toBe('nA');
            }
            break;
          case 'weights': {
            // In quanta: times the quantum, each synapse's weight to half a quantum.
            const weights = route!.synapticWeights!;
            expect(values.length, label).toBe(weights.length);
            values.forEach((v, k) =>
              expect(Math.abs(v * segment.quantum! - weights[k]!), label).toBeLessThanOrEqual(
                segment.quantum! / 2,
              ),
            );
            expect(segment.delivery, label).toMatch(/^deliver_\d+$/);
            expect(segment.quantum_unit, label).toBe('nA');
            break;
          }
          case 'delays':
            expect(values, label).toEqual([...route!.synapticDelays!]);
            expect(segment.delivery, label).toMatch(/^deliver_\d+$/);
            break;
          case 'spikeTimeStart':
          case 'spikeTimeSteps': {
            const table = routing.spikeTimes.get(segment.population!)!;
            expect(values, label).toEqual([
              ...(segment.array === 'spikeTimeStart' ? table.start : table.steps),
            ]);
            // SpikeTimes(2, indices = [0, 1, 0], times = [2 ms, 5.05 ms, 31 ms]) at dt 0.1 ms.
            if (name === 'Lengths')
              expect(values, label).toEqual(
                segment.array === 'spikeTimeStart' ? [0, 2, 3] : [20, 310, 51],
              );
            break;
          }
          default:
            throw new Error(`${label}: an array the test does not know`);
        }
      }
    }
    // Every kind of array was read.
    expect([...seen].sort()).toEqual(Object.keys(CONNECTIVITY_ARRAYS).sort());
  });

  it('manifest.json describes init.bin: read with the state layout, it holds the initial values', async () => {
    const dir = join(TEMP, 'layout_Lengths');
    await compileStandalone(dir, LENGTHS_SPK);
    const manifest = readManifest(dir, 'Lengths');
    const file = join(dir, manifest.standalone.initial_state.file);
    const bytes = readFileSync(file);
    expect(manifest.buffers.state.type).toBe('f32');
    expect(bytes.length).toBe(4 * manifest.buffers.state.floats);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const plan = planOf(LENGTHS_SPK, 'Lengths', 0.1, 1);
    let covered = 0;
    for (const { population, state, offset, count } of manifest.buffers.state.layout) {
      const values = Array.from({ length: count }, (_, k) =>
        view.getFloat32(4 * (offset + k), true),
      );
      const expected = plan.initial.get(population)?.get(state);
      expect(expected, `${population}.${state}`).toBeDefined();
      expect(values, `${population}.${state}`).toEqual([...expected!].map(Math.fround));
      covered += count;
    }
    expect(covered).toBe(manifest.buffers.state.floats);
    // LifRef's V starts at V_rest, -65 mV.
    const v = manifest.buffers.state.layout.find((l) => l.population === 'N' && l.state === 'V')!;
    expect(view.getFloat32(4 * v.offset, true)).toBe(-65);
  });

  it('manifest.json gives the signature every kernel has and main.cu launches them with', async () => {
    const dir = join(TEMP, 'layout_RtSynapses');
    await compileStandalone(dir, RT_SYNAPSES);
    const manifest = readManifest(dir, 'RtSynapses');
    const kernels = readFileSync(join(dir, 'RtSynapses.cu'), 'utf8');
    const declared = [...kernels.matchAll(/__global__ void (\w+)\(/g)].map((m) => m[1]);
    expect(declared.sort()).toEqual(manifest.dispatch_per_step.map((d) => d.entry_point).sort());
    for (const { entry_point } of manifest.dispatch_per_step)
      expect(kernels).toContain(
        `${manifest.kernel_signature.replace('ENTRY_POINT', entry_point)} {\n`,
      );
    expect(manifest.kernel_parameters.map((p) => p.name)).toEqual([
      'sf_state',
      'sf_events',
      'sf_record',
      'sf_conn',
      'sf_step',
      'sf_chunk_step',
    ]);
    // main.cu: every dispatch with threads, in order, with an argument per parameter.
    const launches = [
      ...readFileSync(join(dir, 'main.cu'), 'utf8').matchAll(/(\w+)<<<[^>]*>>>\(([^)]*)\);/g),
    ];
    expect(launches.map((l) => l[1])).toEqual(
      manifest.dispatch_per_step.filter((d) => d.threads > 0).map((d) => d.entry_point),
    );
    for (const l of launches)
      expect(l[2]!.split(',').length, l[1]).toBe(manifest.kernel_parameters.length);
  });

  it('refuses --standalone and --precision f64 for other targets (exit 2)', async () => {
    for (const args of [
      ['--target', 'wgsl', '--standalone'],
      ['--target', 'wasm', '--precision', 'f64'],
      ['--target', 'cuda', '--precision', 'f16'],
    ]) {
      const r = capture();
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
      const r = capture();
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
      const r = capture();
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
