/**
 * The standalone CUDA program's host side, without a GPU:
 *   1. sf_host.h (C++17, no CUDA) writes spikes.csv, the trace CSVs and summary.json byte for
 *      byte as `spikeforge run` (src/runtime/output.ts) does, for the same chunks: a small
 *      C++ driver built with the host compiler feeds it synthetic chunks (spikes of every
 *      kernel in random order, record rows with awkward values: ties at the rounding digit,
 *      -0, NaN, infinities, subnormals, random bits), and the same chunks go through
 *      OutputWriter; float and double, several dt (float noise in step * dt, times that
 *      JavaScript writes with an exponent);
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
import { SF_HOST_H, networkHeader } from '../src/codegen/cuda/standalone.js';
import { buildPlan, layoutOf } from '../src/codegen/module.js';
import type { Precision } from '../src/codegen/printer.js';
import type { Network } from '../src/ir/types.js';
import type { SimulationPlan } from '../src/runtime/backend.js';
import { splitSpikes, splitTraces } from '../src/runtime/cpu.js';
import { probeCuda } from '../src/runtime/cuda/backend.js';
import { OutputWriter } from '../src/runtime/output.js';
import { ROOT, compileNetworks } from './golden/cases.js';

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

function syntheticChunks(
  plan: SimulationPlan,
  precision: Precision,
  seed: number,
): SyntheticChunk[] {
  const layout = layoutOf(plan);
  const next = random(seed);
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
    for (let k = 0; k < rows.length; k++) rows[k] = awkwardValue(next, precision);
    chunks.push({ first, steps, pairs: Uint32Array.from(pairs), rows });
    first += steps;
  }
  return chunks;
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

const DRIVER = String.raw`// Feeds chunks from a file to sf::OutputWriter, as main.cu does with the GPU's.
#include "network.h"
#include "sf_host.h"
int main(int argc, char** argv) {
  if (argc != 3) return 2;
  std::FILE* in = std::fopen(argv[1], "rb");
  if (in == nullptr) return 3;
  auto word = [&]() { unsigned w = 0; if (std::fread(&w, 4, 1, in) != 1) std::exit(4); return w; };
  sf::OutputWriter writer(argv[2]);
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
  }
  writer.finish("cuda-standalone", "test device \"quoted\"", 1.25, 0.5);
  return 0;
}
`;

function planOf(file: string, name: string, dt: number, steps: number): SimulationPlan {
  const network = compileNetworks(join(ROOT, file)).find((n) => n.name === name);
  if (network === undefined) throw new Error(`no network ${name} in ${file}`);
  const adjusted: Network = { ...network, dt };
  return buildPlan(adjusted, steps);
}

const CASES: readonly {
  label: string;
  file: string;
  network: string;
  dt: number;
  steps: number;
  precision: Precision;
}[] = [
  {
    label: 'RtBasic, dt 0.1 ms, float',
    file: 'test/models/conformance/rt_basic.spk',
    network: 'RtBasic',
    dt: 0.1,
    steps: 500,
    precision: 'f32',
  },
  {
    label: 'RtBasic, dt 0.07 ms, double',
    file: 'test/models/conformance/rt_basic.spk',
    network: 'RtBasic',
    dt: 0.07,
    steps: 300,
    precision: 'f64',
  },
  {
    label: 'EINet (projections), dt 3e18 ms (times with exponents), float',
    file: 'examples/ei_net.spk',
    network: 'EINet',
    dt: 3e18,
    steps: 120,
    precision: 'f32',
  },
  {
    label: 'RtRandom, dt 1e-7 ms (small times), double',
    file: 'test/models/conformance/rt_random.spk',
    network: 'RtRandom',
    dt: 1e-7,
    steps: 90,
    precision: 'f64',
  },
];

describe.skipIf(CXX === undefined)(
  'sf_host.h writes what OutputWriter writes, byte for byte',
  () => {
    it.each(CASES.map((c) => [c.label, c] as const))('%s', (_label, c) => {
      const plan = planOf(c.file, c.network, c.dt, c.steps);
      const layout = layoutOf(plan);
      const dir = join(TEMP, c.label.replace(/[^A-Za-z0-9]+/g, '_'));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'network.h'), networkHeader(plan, c.precision));
      writeFileSync(join(dir, 'sf_host.h'), SF_HOST_H);
      writeFileSync(join(dir, 'driver.cpp'), DRIVER);
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

      const chunks = syntheticChunks(plan, c.precision, 12345 + c.steps);
      writeFileSync(join(dir, 'chunks.bin'), chunkFile(chunks));
      const run = spawnSync(join(dir, 'driver'), [join(dir, 'chunks.bin'), join(dir, 'cpp')], {
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);

      const writer = new OutputWriter(join(dir, 'js'), plan);
      for (const chunk of chunks) {
        writer.add({
          firstStep: chunk.first,
          steps: chunk.steps,
          spikes: splitSpikes(chunk.pairs, chunk.first, layout, plan.spikeRecords),
          traces: splitTraces(Float64Array.from(chunk.rows), chunk.steps, layout),
        });
      }
      writer.finish(
        {
          backend: 'cuda-standalone',
          device: 'test device "quoted"',
          wallSeconds: 1.25,
          compileSeconds: 0.5,
        },
        new Map(),
      );

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
      expect(cvs, 'the ISI CV of some population is compared').not.toBeNull();
      console.log(
        `cuda-standalone: ${c.label}: ${files.length} files identical (${spikeLines} spikes, ${chunks.length} chunks, ${cvs?.length ?? 0} ISI CVs)`,
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

  /** `spikeforge compile examples/ei_net.spk --target cuda --standalone -o dir`, which must succeed. */
  const compileStandalone = async (dir: string): Promise<void> => {
    const r = io();
    const code = await main(
      [
        'compile',
        join(ROOT, 'examples', 'ei_net.spk'),
        '--target',
        'cuda',
        '--standalone',
        '-o',
        dir,
      ],
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

  /** examples/ei_net.spk compiled standalone and built with CMake (once); the executable. */
  let built: Promise<string> | undefined;
  const buildStandalone = (): Promise<string> =>
    (built ??= (async () => {
      const dir = join(TEMP, 'cmake_standalone');
      await compileStandalone(dir);
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
      return join(build, 'EINet');
    })());

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
      const code = await main(
        ['run', join(ROOT, 'examples', 'ei_net.spk'), '--backend', 'cuda', '-o', viaNode],
        r.io,
      );
      expect(code, r.err.join('\n')).toBe(EXIT.ok);
      for (const file of ['spikes.csv', 'N.V.csv'])
        expect(readFileSync(join(standalone, file), 'utf8'), file).toBe(
          readFileSync(join(viaNode, file), 'utf8'),
        );
    },
  );
});
