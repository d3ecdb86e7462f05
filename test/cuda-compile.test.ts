/**
 * Every generated CUDA source compiles with nvcc, warnings as errors, and ptxas's resource
 * report is kept: no GPU is needed (CI has nvcc and no GPU).
 *
 * Subjects: every stdlib neuron model (one neuron, modelNetwork) and every network of
 * examples/ and test/models/ that compiles; a network whose plan buildPlan refuses with a
 * DiagnosticError is skipped with the reason printed. Each subject is compiled three times:
 *   - `compile --target cuda` output in float and in double,
 *   - the runtime backend's source (float, the step read from device memory, with the
 *     NVRTC preamble), which is what `run --backend cuda` loads,
 * each with `nvcc -arch=sm_90 -Werror all-warnings --fmad=false -Xptxas -v --cubin`. Then the
 * standalone program of a network with projections, host code included (float and double),
 * and of networks with NaN-check tables of every kind and of none, with the host compiler's
 * -Wall -Wextra as errors too.
 *
 * ptxas's report (registers, stack, spill stores and loads per kernel) goes to
 * test-results/ptxas-report.txt; no stdlib model's kernel may spill.
 *
 * Compiles run in parallel, as many at a time as there are cores. Skipped, with the reason
 * printed, where nvcc is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitCudaModule } from '../src/codegen/cuda/kernel.js';
import { CudaPrinter } from '../src/codegen/cuda/printer.js';
import { standaloneFiles } from '../src/codegen/cuda/standalone.js';
import { kernelPrinter } from '../src/codegen/emit.js';
import { buildPlan, generateSource, layoutOf } from '../src/codegen/module.js';
import { DiagnosticError } from '../src/diagnostics/diagnostic.js';
import type { Network } from '../src/ir/types.js';
import type { SimulationPlan } from '../src/runtime/backend.js';
import { RUNTIME_PREAMBLE } from '../src/runtime/cuda/toolchain.js';
import { ROOT, compileNetworks, listSpk, repoPath, stdlibModelNetworks } from './golden/cases.js';

function findNvcc(): string | undefined {
  for (const candidate of ['nvcc', '/usr/local/cuda/bin/nvcc']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  return undefined;
}

const NVCC = findNvcc();
if (NVCC === undefined)
  console.warn('cuda-compile tests SKIPPED: nvcc not found (PATH, /usr/local/cuda/bin)');

const FLAGS = ['-arch=sm_90', '-Werror', 'all-warnings', '--fmad=false', '-std=c++17'];
const REPORT = join(ROOT, 'test-results', 'ptxas-report.txt');

interface Subject {
  readonly label: string;
  readonly stdlib: boolean;
  readonly plan: SimulationPlan;
}

function subjects(): Subject[] {
  const list: Subject[] = [];
  const add = (label: string, network: Network, stdlib: boolean): void => {
    try {
      list.push({ label, stdlib, plan: buildPlan(network, 1) });
    } catch (error) {
      if (!(error instanceof DiagnosticError)) throw error;
      console.log(
        `cuda-compile: skipped ${label}: buildPlan refuses it: ${error.diagnostics.map((d) => d.message).join('; ')}`,
      );
    }
  };
  for (const { network, origin } of stdlibModelNetworks()) add(origin, network, true);
  for (const path of [
    ...listSpk(join(ROOT, 'examples')),
    ...listSpk(join(ROOT, 'test', 'models')),
  ]) {
    let networks: Network[];
    try {
      networks = compileNetworks(path);
    } catch (error) {
      console.log(`cuda-compile: skipped ${repoPath(path)}: ${String(error)}`);
      continue;
    }
    for (const network of networks) add(`${repoPath(path)}: ${network.name}`, network, false);
  }
  return list;
}

/** The source `run --backend cuda` compiles (float, step from device memory, NVRTC preamble). */
function runtimeSource(plan: SimulationPlan): string {
  const layout = layoutOf(plan);
  const printer = kernelPrinter(new CudaPrinter({ precision: 'f32' }));
  return (
    RUNTIME_PREAMBLE +
    emitCudaModule(plan.kernels, layout, printer, plan.network.seed, 'f32', {
      stepSource: 'device',
    })
  );
}

/** ptxas's numbers for one kernel. */
interface KernelReport {
  registers: number;
  stack: number;
  spillStores: number;
  spillLoads: number;
}

/** Per kernel, from `-Xptxas -v` output. */
function parsePtxas(text: string): Map<string, KernelReport> {
  const kernels = new Map<string, KernelReport>();
  const get = (name: string): KernelReport => {
    let r = kernels.get(name);
    if (r === undefined) {
      r = { registers: 0, stack: 0, spillStores: 0, spillLoads: 0 };
      kernels.set(name, r);
    }
    return r;
  };
  let entry: string | undefined;
  let properties: string | undefined;
  for (const line of text.split('\n')) {
    const compiling = /Compiling entry function '([^']+)'/.exec(line);
    if (compiling !== null) entry = compiling[1]!;
    const props = /Function properties for (\S+)/.exec(line);
    if (props !== null) properties = props[1]!;
    const frame = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(
      line,
    );
    if (frame !== null && properties !== undefined)
      Object.assign(get(properties), {
        stack: Number(frame[1]),
        spillStores: Number(frame[2]),
        spillLoads: Number(frame[3]),
      });
    const used = /Used (\d+) registers/.exec(line);
    if (used !== null && entry !== undefined) get(entry).registers = Number(used[1]);
  }
  return kernels;
}

interface Compilation {
  readonly ok: boolean;
  readonly output: string;
  readonly kernels: Map<string, KernelReport>;
}

/** Runs at most `limit` child processes at a time. */
class Pool {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

function nvcc(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(NVCC!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
    child.on('error', (error) => resolve({ code: -1, output: String(error) }));
  });
}

const SUBJECTS = NVCC === undefined ? [] : subjects();
const VARIANTS = ['float', 'double', 'runtime'] as const;
type Variant = (typeof VARIANTS)[number];
const TEMP = mkdtempSync(join(tmpdir(), 'spikeforge-cuda-compile-'));
const pool = new Pool(Math.max(1, Math.min(4, availableParallelism())));
const results = new Map<string, Promise<Compilation>>();

function compileKernels(subject: Subject, variant: Variant, index: number): Promise<Compilation> {
  const source =
    variant === 'runtime'
      ? runtimeSource(subject.plan)
      : generateSource(subject.plan, 'cuda', variant === 'float' ? 'f32' : 'f64');
  const file = join(TEMP, `s${index}_${variant}.cu`);
  writeFileSync(file, source);
  return pool.run(async () => {
    const r = await nvcc([
      ...FLAGS,
      '-Xptxas',
      '-v',
      '--cubin',
      '-o',
      file.replace(/\.cu$/, '.cubin'),
      file,
    ]);
    return { ok: r.code === 0, output: r.output, kernels: parsePtxas(r.output) };
  });
}

beforeAll(() => {
  SUBJECTS.forEach((s, k) => {
    for (const v of VARIANTS) results.set(`${s.label}|${v}`, compileKernels(s, v, k));
  });
});

afterAll(async () => {
  if (NVCC !== undefined && results.size > 0) {
    const lines = [
      `ptxas report: ${FLAGS.join(' ')} -Xptxas -v (registers, stack frame bytes, spill stores / loads bytes per kernel)`,
      '',
    ];
    for (const s of SUBJECTS) {
      for (const v of VARIANTS) {
        const c = await results.get(`${s.label}|${v}`)!;
        lines.push(`${s.label} [${v}]${c.ok ? '' : ' FAILED TO COMPILE'}`);
        for (const [name, k] of c.kernels)
          lines.push(
            `  ${name.padEnd(28)} ${String(k.registers).padStart(4)} registers  stack ${k.stack}  spill stores ${k.spillStores}  spill loads ${k.spillLoads}`,
          );
      }
    }
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    writeFileSync(REPORT, `${lines.join('\n')}\n`);
    console.log(`cuda-compile: ptxas report written to ${repoPath(REPORT)}`);
  }
  rmSync(TEMP, { recursive: true, force: true });
});

describe.skipIf(NVCC === undefined)(
  'generated CUDA compiles with nvcc -Werror all-warnings',
  () => {
    it('has subjects: every stdlib model and some networks with projections', () => {
      expect(SUBJECTS.filter((s) => s.stdlib).length).toBeGreaterThanOrEqual(10);
      expect(SUBJECTS.some((s) => s.plan.network.projections.length > 0)).toBe(true);
    });

    describe.each(VARIANTS)('%s', (variant) => {
      it.each(SUBJECTS.map((s) => [s.label, s] as const))('%s', async (_label, subject) => {
        const c = await results.get(`${subject.label}|${variant}`)!;
        expect(c.ok, c.output).toBe(true);
        // ptxas reported on every kernel the step launches.
        const expected = subject.plan.kernels.length;
        expect(c.kernels.size, c.output).toBeGreaterThanOrEqual(expected);
        if (subject.stdlib) {
          const spilling = [...c.kernels]
            .filter(([, k]) => k.spillStores > 0 || k.spillLoads > 0)
            .map(([name, k]) => `${name}: ${k.spillStores} bytes stored, ${k.spillLoads} loaded`);
          expect(spilling, `${subject.label} [${variant}] kernels that spill registers`).toEqual(
            [],
          );
        }
      });
    });
  },
);

describe.skipIf(NVCC === undefined)(
  'standalone program (host code too) compiles with warnings as errors',
  () => {
    // No state at all, so none for the end-of-run NaN check either.
    const onlyPoisson = join(TEMP, 'only_poisson.spk');
    writeFileSync(
      onlyPoisson,
      'network OnlyPoisson {\n  duration = 10 ms\n  population P = Poisson(100, rate = 10 Hz)\n  record P.spikes\n}\n',
    );
    const network = (file: string): SimulationPlan => {
      const [n] = compileNetworks(file === 'OnlyPoisson' ? onlyPoisson : join(ROOT, file));
      return buildPlan(n!, Math.round(n!.duration / n!.dt));
    };
    it.each([
      ['examples/ei_net.spk', 'f32'],
      ['examples/ei_net.spk', 'f64'],
      // No spike records and no traces: the host code loops over empty lists.
      ['test/models/cuda/unrecorded_all_to_all.spk', 'f32'],
      // The tables of the end-of-run NaN check: hints, merged, per-pre and per-synapse states.
      ['test/models/non-finite/blow_up.spk', 'f32'],
      ['test/models/non-finite/synapses.spk', 'f64'],
      ['OnlyPoisson', 'f32'],
    ] as const)('%s, %s: nvcc main.cu links an executable', async (file, precision) => {
      const plan = network(file);
      const dir = join(TEMP, `standalone_${basename(file, '.spk')}_${precision}`);
      mkdirSync(dir, { recursive: true });
      for (const f of standaloneFiles(plan, generateSource(plan, 'cuda', precision), {
        precision,
      }))
        writeFileSync(join(dir, f.name), f.data);
      const r = await pool.run(() =>
        nvcc([
          ...FLAGS,
          '-O2',
          '-Xcompiler=-Wall,-Wextra,-Werror',
          '-o',
          join(dir, 'network'),
          join(dir, 'main.cu'),
        ]),
      );
      expect(r.code, r.output).toBe(0);
    });
  },
);
