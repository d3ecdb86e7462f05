/**
 * The CUDA backend (src/runtime/cuda) at run time.
 *
 * With a CUDA device (an NVIDIA driver, a GPU, NVRTC or nvcc):
 *   - conformance: CUDA float32 against the CPU float32 backend on a few networks (one or two
 *     populations, refractoriness, random initial states, a 4000-neuron network with
 *     projections); the kernels are compiled with --fmad=false and these models call no
 *     transcendental function per step, so spike trains must be identical and traces equal
 *     to 1e-5 (relative, with a floor of 1e-5 of the trace's largest magnitude);
 *   - graph and direct launches give the same results, and their times are printed (the
 *     measurement the launch design in src/runtime/cuda/README.md asks for);
 *   - the standalone program (compile --target cuda --standalone, built with nvcc) writes
 *     the same spikes.csv and trace CSVs, byte for byte, as `spikeforge run --backend cuda`.
 * All of these skip, printing the backend's one-sentence reason, where there is no device.
 *
 * Without a CUDA device: `run --backend cuda` exits 2 with that sentence, and `--backend auto`
 * says it and falls back. Always: the library search order and the cache folder.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Io } from '../src/cli/io.js';
import { EXIT, main } from '../src/cli/main.js';
import { buildPlan } from '../src/codegen/module.js';
import type { Network } from '../src/ir/types.js';
import type { Backend, SimulationPlan } from '../src/runtime/backend.js';
import { CudaBackend, type CudaLaunchMode, probeCuda } from '../src/runtime/cuda/backend.js';
import {
  NVRTC_SONAMES,
  builtinsBeside,
  nvrtcCandidates,
  wheelCandidates,
} from '../src/runtime/cuda/find.js';
import { cudaCompileOptions } from '../src/runtime/cuda/nvrtc.js';
import { cacheDir, cacheKey } from '../src/runtime/cuda/toolchain.js';
import { openWebGpu } from '../src/runtime/webgpu/device.js';
import { cpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { ROOT, compileNetworks } from './golden/cases.js';

const TEMP = mkdtempSync(join(tmpdir(), 'spikeforge-cuda-runtime-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

const probe = await probeCuda();
const HAVE_CUDA = probe.ok;
if (!probe.ok) console.warn(`cuda-runtime: CUDA comparisons SKIPPED: ${probe.reason}`);
else console.log(`cuda-runtime: CUDA device: ${probe.description}`);

function findNvcc(): string | undefined {
  for (const candidate of ['nvcc', '/usr/local/cuda/bin/nvcc'])
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  return undefined;
}

interface Run {
  readonly spikes: Map<string, { steps: number[]; indices: number[] }>;
  readonly traces: Float64Array[];
  readonly seconds: number;
}

async function runOn(plan: SimulationPlan, backend: Backend): Promise<Run> {
  const start = performance.now();
  try {
    await backend.prepare(plan);
    const { chunks } = await simulate(plan, backend);
    const spikes = new Map(
      plan.spikeRecords.map((p) => [p, { steps: [] as number[], indices: [] as number[] }]),
    );
    const parts: Float64Array[][] = plan.traces.map(() => []);
    for (const chunk of chunks) {
      for (const [p, s] of chunk.spikes) {
        spikes.get(p)!.steps.push(...s.steps);
        spikes.get(p)!.indices.push(...s.indices);
      }
      chunk.traces.forEach((t, r) => parts[r]!.push(t));
    }
    const traces = parts.map((list) => {
      const all = new Float64Array(list.reduce((n, a) => n + a.length, 0));
      let offset = 0;
      for (const a of list) {
        all.set(a, offset);
        offset += a.length;
      }
      return all;
    });
    return { spikes, traces, seconds: (performance.now() - start) / 1000 };
  } finally {
    backend.dispose();
  }
}

function planOf(file: string, name?: string): SimulationPlan {
  const networks = compileNetworks(join(ROOT, file));
  const network: Network | undefined =
    name === undefined ? networks[0] : networks.find((n) => n.name === name);
  if (network === undefined) throw new Error(`no network in ${file}`);
  return buildPlan(network, Math.round(network.duration / network.dt));
}

/** Violations of |a - b| <= 1e-5 * max(|a|, |b|) + 1e-5 * max|a| (a: the CPU's). */
function traceViolations(a: Float64Array, b: Float64Array): string[] {
  let scale = 0;
  for (const v of a) scale = Math.max(scale, Math.abs(v));
  const out: string[] = [];
  if (a.length !== b.length) return [`lengths ${a.length} and ${b.length}`];
  for (let k = 0; k < a.length && out.length < 8; k++) {
    const x = a[k]!;
    const y = b[k]!;
    if (x === y) continue;
    if (Math.abs(x - y) > 1e-5 * Math.max(Math.abs(x), Math.abs(y)) + 1e-5 * scale)
      out.push(`value ${k}: cpu ${x}, cuda ${y}`);
  }
  return out;
}

/**
 * Every conformance model (test/models/conformance: each stdlib neuron, the seed scenarios,
 * the runtime networks) and every example, each file's first network: taken from the
 * folders, so that a new model or example is compared on the GPU without editing this list.
 */
const CONFORMANCE: readonly string[] = ['test/models/conformance', 'examples'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.spk'))
    .sort()
    .map((f) => `${dir}/${f}`),
);

describe.skipIf(!HAVE_CUDA)('CUDA float32 against CPU float32', () => {
  it.each(CONFORMANCE)('%s', async (file) => {
    const plan = planOf(file);
    const cpu = await runOn(plan, cpuBackend('f32'));
    const cuda = await runOn(plan, new CudaBackend({ precision: 'f32' }));
    for (const p of plan.spikeRecords)
      expect(cuda.spikes.get(p), `${file} ${p}: spike trains`).toEqual(cpu.spikes.get(p));
    plan.traces.forEach((t, r) =>
      expect(
        traceViolations(cpu.traces[r]!, cuda.traces[r]!),
        `${t.population}.${t.variable}`,
      ).toEqual([]),
    );
    const identical = plan.traces.every((_, r) =>
      cpu.traces[r]!.every((v, k) => Object.is(v, cuda.traces[r]![k])),
    );
    console.log(
      `cuda-runtime: ${file}: CUDA ${cuda.seconds.toFixed(2)} s, CPU ${cpu.seconds.toFixed(2)} s; traces ${identical ? 'bit-identical' : 'within 1e-5'}`,
    );
  });
});

describe.skipIf(!HAVE_CUDA)(
  'CUDA launches: graphs and direct launches agree (timings printed)',
  () => {
    it('examples/ei_net.spk and a conformance network, in chunks of 100 steps', async () => {
      for (const [file, name] of [
        ['examples/ei_net.spk', 'EINet'],
        ['test/models/conformance/HH.spk', undefined],
      ] as const) {
        const plan = planOf(file, name);
        const results: Partial<Record<CudaLaunchMode, Run>> = {};
        const notes: string[] = [];
        for (const launch of ['direct', 'graph', 'auto'] as const) {
          const backend = new CudaBackend({ launch, chunkSteps: 100 });
          results[launch] = await runOn(plan, backend);
          const s = backend.stats;
          notes.push(
            `${launch}: ${results[launch]!.seconds.toFixed(3)} s (chunks ${s.chunkSeconds.toFixed(3)} s, ${s.graphChunks} graph / ${s.directChunks} direct, capture ${s.captureSeconds.toFixed(3)} s${s.graphError === undefined ? '' : `, graphs given up: ${s.graphError}`})`,
          );
        }
        for (const launch of ['graph', 'auto'] as const) {
          for (const p of plan.spikeRecords)
            expect(results[launch]!.spikes.get(p)).toEqual(results.direct!.spikes.get(p));
          plan.traces.forEach((_, r) =>
            expect(results[launch]!.traces[r]).toEqual(results.direct!.traces[r]),
          );
        }
        console.log(`cuda-runtime: ${file}, ${plan.steps} steps: ${notes.join('; ')}`);
      }
    });
  },
);

/** main(argv) with captured output. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const line = (t: string): string => (t.endsWith('\n') ? t : `${t}\n`);
  const io: Io = { out: (t) => (stdout += line(t)), err: (t) => (stderr += line(t)) };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

const NVCC = findNvcc();
describe.skipIf(!HAVE_CUDA || NVCC === undefined)(
  'the standalone program writes what `spikeforge run --backend cuda` writes',
  () => {
    it.each([
      ['test/models/conformance/rt_basic.spk', 'RtBasic'],
      ['examples/ei_net.spk', 'EINet'],
    ] as const)('%s', async (file, name) => {
      const project = join(TEMP, `standalone_${name}`);
      const compiled = await cli(
        'compile',
        join(ROOT, file),
        '--target',
        'cuda',
        '--standalone',
        '-o',
        project,
      );
      expect(compiled.code, compiled.stderr).toBe(EXIT.ok);
      const build = spawnSync(
        NVCC!,
        [
          '-std=c++17',
          '-O2',
          '-arch=native',
          '--fmad=false',
          '-o',
          join(project, name),
          join(project, 'main.cu'),
        ],
        { encoding: 'utf8' },
      );
      expect(build.status, build.stderr).toBe(0);
      const standaloneOut = join(TEMP, `standalone_out_${name}`);
      const ran = spawnSync(join(project, name), ['-o', standaloneOut, '--data', project], {
        encoding: 'utf8',
      });
      expect(ran.status, ran.stderr).toBe(0);
      const runOut = join(TEMP, `run_out_${name}`);
      const run = await cli('run', join(ROOT, file), '--backend', 'cuda', '-o', runOut);
      expect(run.code, run.stderr).toBe(EXIT.ok);
      const csvs = readdirSync(runOut)
        .filter((f) => f.endsWith('.csv'))
        .sort();
      expect(
        readdirSync(standaloneOut)
          .filter((f) => f.endsWith('.csv'))
          .sort(),
      ).toEqual(csvs);
      for (const f of csvs)
        expect(readFileSync(join(standaloneOut, f), 'utf8'), f).toBe(
          readFileSync(join(runOut, f), 'utf8'),
        );
      const summary = JSON.parse(
        readFileSync(join(standaloneOut, 'summary.json'), 'utf8'),
      ) as Record<string, unknown>;
      const reference = JSON.parse(readFileSync(join(runOut, 'summary.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      for (const key of ['network', 'dt_ms', 'steps', 'duration_ms', 'seed', 'populations'])
        expect(summary[key], key).toEqual(reference[key]);
      console.log(
        `cuda-runtime: ${file}: standalone and run --backend cuda wrote the same ${csvs.join(', ')}`,
      );
    });
  },
);

describe.skipIf(HAVE_CUDA)('without a CUDA device', () => {
  const reason = probe.ok ? '' : probe.reason;

  it('the reason is one sentence', () => {
    expect(reason).toMatch(/^CUDA backend unavailable: [^\n]+$/);
    expect(reason.split(/\.\s/)).toHaveLength(1);
  });

  it('`run --backend cuda` exits 2 with that sentence', async () => {
    const r = await cli(
      'run',
      join(ROOT, 'test', 'models', 'conformance', 'rt_basic.spk'),
      '--backend',
      'cuda',
      '-o',
      join(TEMP, 'no_cuda'),
    );
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr.split('\n')[0]).toBe(`spikeforge run: ${reason}`);
    expect(r.stderr).not.toMatch(/^ {4}at /m);
    expect(r.stdout).toBe('');
  });

  it('`run --backend auto` says it and falls back to WebGPU on a GPU, else the CPU', async () => {
    const dir = join(TEMP, 'auto');
    const r = await cli(
      'run',
      join(ROOT, 'test', 'models', 'conformance', 'rt_basic.spk'),
      '--backend',
      'auto',
      '-o',
      dir,
    );
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stderr).toContain(`spikeforge: ${reason}; trying WebGPU`);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
      backend: string;
    };
    // Mesa's software adapter is passed over: the CPU backend is faster on the same cores.
    const gpu = await openWebGpu({ software: false });
    if (gpu.ok) gpu.gpu.close();
    expect(summary.backend).toBe(gpu.ok ? 'webgpu' : 'cpu');
    if (!gpu.ok)
      expect(r.stderr).toContain(
        'its software adapter is slower than the CPU backend (--backend webgpu uses it); using the CPU',
      );
  });

  it('the backend itself throws BackendUnavailableError with the same sentence', async () => {
    const backend = new CudaBackend();
    await expect(
      backend.prepare(planOf('test/models/conformance/rt_basic.spk')),
    ).rejects.toMatchObject({ name: 'BackendUnavailableError', message: reason });
    backend.dispose();
  });
});

describe('where the CUDA pieces are looked for', () => {
  /** Empty files standing for libraries. */
  function touch(dir: string, ...names: string[]): string {
    mkdirSync(dir, { recursive: true });
    for (const n of names) writeFileSync(join(dir, n), '');
    return dir;
  }

  it('NVRTC: CUDA_PATH, /usr/local/cuda, LD_LIBRARY_PATH, the loader by soname; newest first in a folder', () => {
    const cudaPath = join(TEMP, 'toolkit');
    touch(
      join(cudaPath, 'lib64'),
      'libnvrtc.so',
      'libnvrtc.so.12',
      'libnvrtc.so.12.4.99',
      'libnvrtc-builtins.so.12.4',
      'libnvrtc.so.11.2',
    );
    touch(join(cudaPath, 'targets', 'x86_64-linux', 'lib'), 'libnvrtc.so.13');
    const ld = touch(join(TEMP, 'ld'), 'libnvrtc.so.12');
    const list = nvrtcCandidates({ CUDA_PATH: cudaPath, LD_LIBRARY_PATH: ld }).map(
      (c) => c.library,
    );
    const lib64 = join(cudaPath, 'lib64');
    expect(list.slice(0, 5)).toEqual([
      join(lib64, 'libnvrtc.so.12.4.99'),
      join(lib64, 'libnvrtc.so.12'),
      join(lib64, 'libnvrtc.so.11.2'),
      join(lib64, 'libnvrtc.so'),
      join(cudaPath, 'targets', 'x86_64-linux', 'lib', 'libnvrtc.so.13'),
    ]);
    const ldIndex = list.indexOf(join(ld, 'libnvrtc.so.12'));
    expect(ldIndex).toBeGreaterThan(4);
    // The sonames come last, in order, after every folder.
    expect(list.slice(-NVRTC_SONAMES.length)).toEqual([...NVRTC_SONAMES]);
    expect(ldIndex).toBeLessThan(list.length - NVRTC_SONAMES.length);
    expect(list.some((l) => l.includes('builtins'))).toBe(false);
    expect(builtinsBeside(join(lib64, 'libnvrtc.so.12'))).toBe(
      join(lib64, 'libnvrtc-builtins.so.12.4'),
    );
  });

  it("NVRTC: NVIDIA's pip wheels (nvidia/cu13/lib, then nvidia/cuda_nvrtc/lib)", () => {
    const venv = join(TEMP, 'venv');
    const site = join(venv, 'lib', 'python3.12', 'site-packages');
    touch(join(site, 'nvidia', 'cu13', 'lib'), 'libnvrtc.so.13', 'libnvrtc-builtins.so.13.0');
    touch(join(site, 'nvidia', 'cuda_nvrtc', 'lib'), 'libnvrtc.so.12');
    const list = wheelCandidates({ VIRTUAL_ENV: venv, HOME: TEMP }).map((c) => c.library);
    expect(list.indexOf(join(site, 'nvidia', 'cu13', 'lib', 'libnvrtc.so.13'))).toBe(0);
    expect(list.indexOf(join(site, 'nvidia', 'cuda_nvrtc', 'lib', 'libnvrtc.so.12'))).toBe(1);
  });

  it('the module cache: $XDG_CACHE_HOME/spikeforge/cuda, else ~/.cache; keyed by source and architecture', () => {
    expect(cacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe(join('/x/cache', 'spikeforge', 'cuda'));
    expect(cacheDir({})).toMatch(/\.cache[/\\]spikeforge[/\\]cuda$/);
    const options = cudaCompileOptions({});
    expect(cacheKey('a', 90, options)).not.toBe(cacheKey('a', 80, options));
    expect(cacheKey('a', 90, options)).not.toBe(cacheKey('b', 90, options));
    expect(cacheKey('a', 90, options)).not.toBe(
      cacheKey('a', 90, cudaCompileOptions({ SPIKEFORGE_CUDA_FMAD: '1' })),
    );
    expect(cacheKey('a', 90, options)).toMatch(/^[0-9a-f]{64}$/);
  });
});
