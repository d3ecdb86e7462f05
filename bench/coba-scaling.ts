/**
 * (d) COBA scaling: the COBA network of examples/coba.spk (Brette et al. 2007, benchmark 1)
 * at a fixed in-degree of 80 for N = 4k, 40k, 400k (and 4M where a hardware accelerator is
 * found), spikes recorded, wall seconds per simulated second on each backend.
 *
 * The network text is generated from examples/coba.spk: its neuron model (CobaLif) and the
 * network block verbatim except for the size (N_E = 0.8 N, N_I = 0.2 N), the connectors
 * (`fixed_in_degree(64)` from E, `fixed_in_degree(16)` from I, stored rows instead of
 * Bernoulli(0.02) procedural ones), the duration, and the V trace (removed: spikes only).
 * Weights are coba.spk's, so every neuron gets the drive of the 4000-neuron benchmark
 * (64 E and 16 I inputs, as 2% of 3200 and 800) at every size.
 *
 * Each size runs in a fresh node process (clean heap and JIT, and a size that runs out of
 * memory fails alone): compile + buildPlan (connectivity included) are timed as "build", then
 * per backend `prepare` (code generation, layout, upload) and `simulate(plan, backend,
 * writer)` with an OutputWriter streaming spikes.csv into a temporary folder (removed after);
 * `writer.finish` (summary.json, raster.svg) is timed apart and not in the per-second figure.
 * The spikes are read back from spikes.csv for the rates (E, I, the first 20 ms, which every
 * size simulates, and the second half of the run) and a SHA-256 of the file (the same on two
 * backends: the same spikes).
 *
 *   npx tsx bench/coba-scaling.ts                       # 4k, 40k, 400k on CPU and WebGPU (~2 min, 2 cores)
 *   npx tsx bench/coba-scaling.ts --sizes 4000,40000 --durations 500,50 --no-webgpu
 *   npx tsx bench/coba-scaling.ts --profile             # also: node --cpu-prof of the CPU run at 40k, summarised
 *   npx tsx bench/coba-scaling.ts --repetitions 3 --profile --brian2 /usr/bin/python3   # docs/benchmarks.md (~5 min)
 *
 * Options: --sizes LIST, --durations LIST (ms, one per size; default by size, see
 * defaultDurationMs), --no-webgpu, --no-cuda, --profile [N] (the size to profile, default
 * 40000), --brian2 PYTHON (also run the same network in Brian2 standalone, one thread, where
 * that Python has Brian2), --repetitions R (runs of each backend and of Brian2's binary per
 * size, on a fresh backend each: the fastest is the figure, the median and every time are kept;
 * default 1), --cpu-threads N (the CPU backend's threads; default one per core), --quick (4k
 * and 40k, short), --keep-output (keep the spikes folders), --out FILE (default bench/results/<date>-coba.json). bench/run.ts runs the same
 * as its step (d), without the profile and Brian2.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildPlan } from '../src/codegen/module.js';
import type { Network } from '../src/ir/types.js';
import type { Backend, SimulationPlan } from '../src/runtime/backend.js';
import { OutputWriter } from '../src/runtime/output.js';
import { cpuBackend, cudaBackend, webGpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { BackendUnavailableError } from '../src/runtime/webgpu/backend.js';
import { openWebGpu } from '../src/runtime/webgpu/device.js';
import { compileFiles } from '../src/pipeline.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const THIS_FILE = fileURLToPath(import.meta.url);
const COBA_FILE = join(ROOT, 'examples', 'coba.spk');
/** The path the generated text pretends to have: beside coba.spk, so its imports resolve the same way. */
const GENERATED_FILE = join(ROOT, 'examples', 'coba-scaling.spk');

/** Inputs per neuron: 80% excitatory, 20% inhibitory (2% of 3200 and of 800 in the 4000-neuron original). */
export const IN_DEGREE = { E: 64, I: 16 } as const;
export const DEFAULT_SIZES: readonly number[] = [4_000, 40_000, 400_000];
/** Run by default only where a hardware accelerator (CUDA, or a hardware WebGPU adapter) is found. */
export const GPU_SIZE = 4_000_000;
export const QUICK_SIZES: readonly number[] = [4_000, 40_000];
export const PROFILE_SIZE = 40_000;
/** Every size simulates at least this much, so the rates of the first 20 ms compare across sizes. */
const FIRST_WINDOW_MS = 20;

/**
 * The C++ peer on the CPU: Brian2 standalone, COBA at 4000 neurons (2% connectivity, i.e. 80
 * inputs per neuron as here), one core. The figure is the one the issue quotes; `--brian2`
 * measures Brian2 on the same network here.
 */
export const BRIAN2_REFERENCE = {
  simulator: 'Brian2 standalone (generated C++), one core',
  neurons: 4000,
  secondsPerSimulatedSecond: 0.5,
  source:
    'figure quoted in the issue for one core of these machines; --brian2 PYTHON measures it here',
} as const;

/**
 * The same network in Brian2 (cpp_standalone, one thread, no OpenMP), run by `--brian2 PYTHON`
 * where Brian2 is installed (Debian: apt-get install python3-brian). coba.spk's model in
 * Brian's units: conductances in units of the leak (6 nS and 67 nS are 0.6 and 6.7), the same
 * initial distributions, fixed in-degree 64 + 16 drawn with numpy (not the same connections as
 * spikeforge's), forward Euler (Brian's COBA script; spikeforge integrates with exponential
 * Euler), refractory 5 ms, spikes recorded by a SpikeMonitor (kept in memory, written as binary
 * at the end). Prints one JSON line: compile time, Brian's own run time (network.run in C++,
 * without loading the connections and writing results), main's wall time, spike count.
 */
const BRIAN2_SCRIPT = `import json, sys, time
import numpy as np
from brian2 import *
N = int(sys.argv[1]); duration_ms = float(sys.argv[2]); directory = sys.argv[3]
set_device('cpp_standalone', directory=directory, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = 0
seed(2007)
rng = np.random.default_rng(2007)
def fixed_in_degree(n_pre, k):
    pre = rng.integers(0, n_pre, size=(N, k))
    while True:
        pre.sort(axis=1)
        bad = np.nonzero((np.diff(pre, axis=1) == 0).any(axis=1))[0]
        if len(bad) == 0:
            return pre
        pre[bad] = rng.integers(0, n_pre, size=(len(bad), k))
taum = 20*ms; taue = 5*ms; taui = 10*ms
Vt = -50*mV; Vr = -60*mV; El = -60*mV; Ee = 0*mV; Ei = -80*mV
eqs = '''
dv/dt = (ge*(Ee-v) + gi*(Ei-v) - (v-El)) / taum : volt (unless refractory)
dge/dt = -ge/taue : 1
dgi/dt = -gi/taui : 1
'''
P = NeuronGroup(N, eqs, threshold='v>Vt', reset='v=Vr', refractory=5*ms, method='euler')
NE = N * 4 // 5
Ce = Synapses(P[:NE], P, on_pre='ge += 0.6')
Ci = Synapses(P[NE:], P, on_pre='gi += 6.7')
Ce.connect(i=fixed_in_degree(NE, ${IN_DEGREE.E}).ravel(), j=np.repeat(np.arange(N), ${IN_DEGREE.E}))
Ci.connect(i=fixed_in_degree(N - NE, ${IN_DEGREE.I}).ravel(), j=np.repeat(np.arange(N), ${IN_DEGREE.I}))
P.v = 'El + (randn()*5 - 5)*mV'
P.ge = 'randn()*1.5 + 4'
P.gi = 'randn()*12 + 20'
M = SpikeMonitor(P)
run(duration_ms*ms)
t = time.time()
device.build(directory=directory, compile=True, run=False)
compile_s = time.time() - t
main_s = []
run_s = []
for r in range(int(sys.argv[4]) if len(sys.argv) > 4 else 1):
    t = time.time()
    device.run(directory=directory, with_output=False, run_args=[])
    main_s.append(time.time() - t)
    run_s.append(device._last_run_time)
import brian2
print(json.dumps({'version': brian2.__version__, 'compile_s': compile_s, 'main_wall_s': main_s, 'run_s': run_s, 'spikes': int(M.num_spikes), 'synapses': int(len(Ce) + len(Ci))}))
`;

export interface Brian2Run {
  readonly status: 'ok' | 'failed';
  readonly reason?: string;
  readonly version?: string;
  /** Code generation and g++ (not in the figure). */
  readonly compileSeconds?: number;
  /** Brian's own measure of network.run in the generated C++ (no loading of connections, no writing of results). */
  readonly runSeconds?: number;
  readonly runSecondsEach?: readonly number[];
  readonly secondsPerSimulatedSecond?: number;
  /** ./main as a whole: loading the connection arrays, the run, writing results. */
  readonly mainWallSeconds?: number;
  readonly spikes?: number;
  readonly rateHz?: number;
}

function runBrian2(
  python: string,
  neurons: number,
  durationMs: number,
  repetitions: number,
  work: string,
  timeoutSeconds: number,
): Brian2Run {
  const script = join(work, 'coba_brian2.py');
  writeFileSync(script, BRIAN2_SCRIPT);
  const dir = join(work, `brian2-${neurons}`);
  process.stderr.write(
    `    brian2: N = ${neurons.toLocaleString('en-US')}, ${durationMs} ms (code generation and g++ first)\n`,
  );
  const run = spawnSync(
    python,
    [script, String(neurons), String(durationMs), dir, String(repetitions)],
    { cwd: work, encoding: 'utf8', timeout: timeoutSeconds * 1000, maxBuffer: 64 * 1024 * 1024 },
  );
  rmSync(dir, { recursive: true, force: true });
  const line = (run.stdout ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (run.status !== 0 || line === undefined) {
    const err = (run.stderr ?? '')
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '' && !/Warning|^\s/.test(l))
      .slice(-2)
      .join(' | ');
    return {
      status: 'failed',
      reason: run.error?.message ?? `exit code ${String(run.status)}: ${err}`,
    };
  }
  const r = JSON.parse(line) as {
    version: string;
    compile_s: number;
    main_wall_s: number[];
    run_s: number[];
    spikes: number;
  };
  const seconds = durationMs / 1000;
  const runSeconds = Math.min(...r.run_s);
  process.stderr.write(
    `    brian2: ${r.run_s.map((x) => x.toFixed(2)).join(', ')} s for ${durationMs} ms (best ${(runSeconds / seconds).toFixed(2)} s per simulated second), ${r.spikes} spikes, ${(r.spikes / neurons / seconds).toFixed(1)} Hz\n`,
  );
  return {
    status: 'ok',
    version: r.version,
    compileSeconds: r.compile_s,
    runSeconds,
    runSecondsEach: r.run_s,
    secondsPerSimulatedSecond: runSeconds / seconds,
    mainWallSeconds: Math.min(...r.main_wall_s),
    spikes: r.spikes,
    rateHz: r.spikes / neurons / seconds,
  };
}

/**
 * Simulated milliseconds per size: 1000 ms (the duration of coba.spk) up to 40k, 200 ms at
 * 400k, 50 ms above. The default run (4k, 40k, 400k on the CPU and llvmpipe, one repetition)
 * takes about 2 minutes on the 2-core development machine, and with `--repetitions 3 --profile
 * --brian2` about 5, inside the 8 minutes allowed; the 400k run is shortened because its CPU
 * run costs about 80 s per simulated second (and 30 s to build).
 */
export function defaultDurationMs(neurons: number, quick = false): number {
  if (quick) return neurons <= 4_000 ? 200 : neurons <= 40_000 ? 20 : FIRST_WINDOW_MS;
  if (neurons <= 40_000) return 1000;
  if (neurons <= 400_000) return 200;
  return 50;
}

/** Replaces the one match of `pattern` in `text`, or says that examples/coba.spk no longer looks as expected. */
function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  const matches = text.match(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`));
  if (matches?.length !== 1)
    throw new Error(
      `examples/coba.spk changed: expected one ${what} (${String(pattern)}), found ${matches?.length ?? 0}; update bench/coba-scaling.ts`,
    );
  return text.replace(pattern, replacement);
}

/** The COBA network of examples/coba.spk at `neurons` neurons, fixed in-degree 64 + 16, spikes recorded only. */
export function cobaScalingSpk(
  neurons: number,
  durationMs: number,
  source = readFileSync(COBA_FILE, 'utf8'),
): string {
  if (!Number.isInteger(neurons) || neurons < 100 || neurons % 5 !== 0)
    throw new Error(`COBA sizes are whole multiples of 5 from 100 (N_E = 0.8 N), not ${neurons}`);
  const nE = (neurons * 4) / 5;
  let text = source;
  text = replaceOnce(
    text,
    /population N = CobaLif\(4000\)/,
    `population N = CobaLif(${neurons})`,
    'population of 4000 neurons',
  );
  text = replaceOnce(
    text,
    /N\[0:3200\] -> N \{(\s*)connect fixed_probability\(0\.02\) procedural/,
    `N[0:${nE}] -> N {$1connect fixed_in_degree(${IN_DEGREE.E})`,
    'E projection N[0:3200] with fixed_probability(0.02) procedural',
  );
  text = replaceOnce(
    text,
    /N\[3200:4000\] -> N \{(\s*)connect fixed_probability\(0\.02\) procedural/,
    `N[${nE}:${neurons}] -> N {$1connect fixed_in_degree(${IN_DEGREE.I})`,
    'I projection N[3200:4000] with fixed_probability(0.02) procedural',
  );
  text = replaceOnce(
    text,
    /duration = 1000 ms/,
    `duration = ${durationMs} ms`,
    'duration of 1000 ms',
  );
  text = replaceOnce(text, /\n\s*record N\.V\[0:10\]/, '', 'V trace');
  replaceOnce(text, /weight 6 nS/, 'weight 6 nS', 'E weight of 6 nS');
  replaceOnce(text, /weight 67 nS/, 'weight 67 nS', 'I weight of 67 nS');
  replaceOnce(text, /record N\.spikes/, 'record N.spikes', 'spike recording');
  return text;
}

function compileCoba(text: string): Network {
  const result = compileFiles(
    [GENERATED_FILE],
    (path) => (path === GENERATED_FILE ? text : readFileSync(path, 'utf8')),
    (path) => path === GENERATED_FILE || existsSync(path),
  );
  const network = result.program?.networks.get('CobaBenchmark');
  if (network === undefined)
    throw new Error(
      `the generated COBA network does not compile: ${result.diagnostics.items.map((d) => d.message).join('; ')}`,
    );
  return network;
}

export type BackendName = 'cpu' | 'webgpu' | 'cuda';

export interface BackendRun {
  readonly backend: BackendName;
  readonly status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or failed. */
  readonly reason?: string;
  readonly device?: string;
  readonly software?: boolean;
  /** backend.prepare: code generation, buffer layout (connectivity flattened), compilation, upload. */
  readonly prepareSeconds?: number;
  readonly chunkSteps?: number;
  /** simulate(plan, backend, writer): kernels, delivery, spike readback and lists, spikes.csv; the fastest repetition. */
  readonly wallSeconds?: number;
  readonly secondsPerSimulatedSecond?: number;
  readonly repetitions?: number;
  /** simulate()'s wall time of every repetition, in order. */
  readonly wallSecondsEach?: readonly number[];
  readonly medianSecondsPerSimulatedSecond?: number;
  /** Whether every repetition wrote the same spikes.csv. */
  readonly sameSpikesEachRepetition?: boolean;
  /** writer.finish: summary.json and raster.svg (not in the figure above). */
  readonly finishSeconds?: number;
  readonly spikes?: number;
  readonly spikesCsvBytes?: number;
  readonly spikesCsvSha256?: string;
  /** Mean rates in Hz over the whole run (all neurons, E, I), and of all neurons in the first 20 ms and in the second half of the run. */
  readonly rateHz?: {
    readonly all: number;
    readonly E: number;
    readonly I: number;
    readonly first20ms: number;
    readonly secondHalf: number;
  };
}

export interface SizeResult {
  readonly neurons: number;
  readonly excitatory: number;
  readonly inhibitory: number;
  readonly synapses: number;
  readonly durationMs: number;
  readonly steps: number;
  readonly status: 'ok' | 'failed';
  readonly reason?: string;
  /** compileFiles of the generated text (and the stdlib import) and buildPlan (routing, fixed_in_degree rows, kernels, initial values). */
  readonly build?: {
    readonly compileSeconds: number;
    readonly planSeconds: number;
    readonly seconds: number;
  };
  readonly peakRssMiB?: number;
  readonly runs: readonly BackendRun[];
  /** The same network in Brian2 standalone (--brian2), where asked for. */
  readonly brian2?: Brian2Run;
}

interface ChildRequest {
  readonly neurons: number;
  readonly durationMs: number;
  readonly backends: readonly BackendName[];
  readonly repetitions: number;
  /** Backends not run, with the reason, recorded as skipped. */
  readonly skipped: readonly { readonly backend: BackendName; readonly reason: string }[];
  readonly keepOutput: boolean;
  readonly resultFile: string;
  /** Threads of the CPU backend (default: its own, one per core). */
  readonly cpuThreads?: number;
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 400);
}

/** Counts the spikes of spikes.csv (t_ms,population,index) by E/I and in the first 20 ms, and hashes the file. */
function readSpikes(
  file: string,
  nE: number,
  durationMs: number,
): {
  spikes: number;
  E: number;
  I: number;
  first: number;
  secondHalf: number;
  bytes: number;
  sha256: string;
} {
  const data = readFileSync(file);
  const text = data.toString('latin1');
  let spikes = 0;
  let e = 0;
  let first = 0;
  let secondHalf = 0;
  let start = text.indexOf('\n') + 1;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const c1 = text.indexOf(',', start);
    const c2 = text.indexOf(',', c1 + 1);
    const t = Number(text.slice(start, c1));
    const index = Number(text.slice(c2 + 1, end));
    spikes += 1;
    if (index < nE) e += 1;
    if (t < FIRST_WINDOW_MS) first += 1;
    if (t >= durationMs / 2) secondHalf += 1;
    start = end + 1;
  }
  return {
    spikes,
    E: e,
    I: spikes - e,
    first,
    secondHalf,
    bytes: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
  };
}

function makeBackend(name: BackendName, cpuThreads: number | undefined): Backend {
  return name === 'cpu'
    ? cpuBackend('f32', undefined, cpuThreads)
    : name === 'webgpu'
      ? webGpuBackend()
      : cudaBackend('f32');
}

/** One prepare + simulate + finish on a fresh backend, spikes written into `dir`. */
async function runOnce(
  name: BackendName,
  plan: SimulationPlan,
  dir: string,
  cpuThreads: number | undefined,
): Promise<
  | { backend: Backend; prepareSeconds: number; wallSeconds: number; finishSeconds: number }
  | BackendRun
> {
  const backend = makeBackend(name, cpuThreads);
  try {
    let start = performance.now();
    try {
      await backend.prepare(plan);
    } catch (error) {
      const unavailable = error instanceof BackendUnavailableError;
      return {
        backend: name,
        status: unavailable ? 'skipped' : 'failed',
        reason: `${unavailable ? '' : 'prepare: '}${message(error)}`,
      };
    }
    const prepareSeconds = (performance.now() - start) / 1000;
    const writer = new OutputWriter(dir, plan);
    const { wallSeconds } = await simulate(plan, backend, writer);
    start = performance.now();
    writer.finish(
      { backend: backend.name, device: backend.device, wallSeconds, compileSeconds: 0 },
      new Map(),
    );
    return {
      backend,
      prepareSeconds,
      wallSeconds,
      finishSeconds: (performance.now() - start) / 1000,
    };
  } finally {
    backend.dispose();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `repetitions` runs of one backend (each on a fresh backend, the plan shared); the fastest is the figure. */
async function runBackend(
  name: BackendName,
  plan: SimulationPlan,
  durationMs: number,
  repetitions: number,
  keepOutput: boolean,
  cpuThreads: number | undefined,
): Promise<BackendRun> {
  const n = plan.network.populations[0]!.size;
  const nE = (n * 4) / 5;
  const seconds = durationMs / 1000;
  const walls: number[] = [];
  const hashes = new Set<string>();
  let first:
    | {
        device: string;
        prepareSeconds: number;
        finishSeconds: number;
        chunkSteps: number;
        spikes: ReturnType<typeof readSpikes>;
      }
    | undefined;
  for (let r = 0; r < repetitions; r++) {
    const dir = mkdtempSync(join(tmpdir(), `spikeforge-coba-${n}-${name}-`));
    try {
      const run = await runOnce(name, plan, dir, cpuThreads);
      if ('status' in run) return run;
      const spikes = readSpikes(join(dir, 'spikes.csv'), nE, durationMs);
      hashes.add(spikes.sha256);
      walls.push(run.wallSeconds);
      first ??= {
        device: run.backend.device,
        prepareSeconds: run.prepareSeconds,
        finishSeconds: run.finishSeconds,
        chunkSteps: run.backend.maxChunkSteps(plan),
        spikes,
      };
      process.stderr.write(
        `    ${name}${repetitions > 1 ? ` (${r + 1}/${repetitions})` : ''}: prepare ${run.prepareSeconds.toFixed(1)} s, ${run.wallSeconds.toFixed(2)} s for ${durationMs} ms (${(run.wallSeconds / seconds).toFixed(2)} s per simulated second), ${spikes.spikes} spikes, ${(spikes.spikes / n / seconds).toFixed(1)} Hz\n`,
      );
    } catch (error) {
      return { backend: name, status: 'failed', reason: message(error) };
    } finally {
      if (keepOutput) process.stderr.write(`    ${name}: output kept in ${dir}\n`);
      else rmSync(dir, { recursive: true, force: true });
    }
  }
  const { device, prepareSeconds, finishSeconds, chunkSteps, spikes: s } = first!;
  const wallSeconds = Math.min(...walls);
  return {
    backend: name,
    status: 'ok',
    device,
    software: name === 'cpu' ? true : name === 'webgpu' ? /\(software/.test(device) : false,
    prepareSeconds,
    chunkSteps,
    wallSeconds,
    secondsPerSimulatedSecond: wallSeconds / seconds,
    repetitions: walls.length,
    wallSecondsEach: walls,
    medianSecondsPerSimulatedSecond: median(walls) / seconds,
    sameSpikesEachRepetition: hashes.size === 1,
    finishSeconds,
    spikes: s.spikes,
    spikesCsvBytes: s.bytes,
    spikesCsvSha256: s.sha256,
    rateHz: {
      all: s.spikes / n / seconds,
      E: s.E / nE / seconds,
      I: s.I / (n - nE) / seconds,
      first20ms: s.first / n / (Math.min(FIRST_WINDOW_MS, durationMs) / 1000),
      secondHalf: s.secondHalf / n / (seconds / 2),
    },
  };
}

/** One size in this process (the child's side). */
async function runSize(request: ChildRequest): Promise<SizeResult> {
  const { neurons, durationMs } = request;
  const nE = (neurons * 4) / 5;
  const base = {
    neurons,
    excitatory: nE,
    inhibitory: neurons - nE,
    synapses: neurons * (IN_DEGREE.E + IN_DEGREE.I),
    durationMs,
    steps: Math.round(durationMs / 0.1),
  };
  const skipped: BackendRun[] = request.skipped.map((s) => ({
    backend: s.backend,
    status: 'skipped',
    reason: s.reason,
  }));
  let plan: SimulationPlan;
  let build: SizeResult['build'];
  try {
    const text = cobaScalingSpk(neurons, durationMs);
    const start = performance.now();
    const network = compileCoba(text);
    const compiled = performance.now();
    plan = buildPlan(network, base.steps);
    const planned = performance.now();
    build = {
      compileSeconds: (compiled - start) / 1000,
      planSeconds: (planned - compiled) / 1000,
      seconds: (planned - start) / 1000,
    };
    process.stderr.write(
      `  N = ${neurons.toLocaleString('en-US')}: built in ${build.seconds.toFixed(1)} s (compile ${build.compileSeconds.toFixed(2)} s, plan ${build.planSeconds.toFixed(1)} s)\n`,
    );
  } catch (error) {
    return { ...base, status: 'failed', reason: `build: ${message(error)}`, runs: skipped };
  }
  const runs: BackendRun[] = [];
  for (const name of request.backends)
    runs.push(
      await runBackend(
        name,
        plan,
        durationMs,
        request.repetitions,
        request.keepOutput,
        request.cpuThreads,
      ),
    );
  return {
    ...base,
    status: 'ok',
    build,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    runs: [...runs, ...skipped],
  };
}

// ---------------------------------------------------------------------------------------------
// The profile: node --cpu-prof of the CPU run, restricted to the samples during simulate().

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export const PROFILE_CATEGORIES = [
  'kernels (generated step functions)',
  'delivery (sf_deliver, or deliverInJs for JavaScript kernels)',
  'spike lists (splitSpikes, sortSpikes)',
  'output (OutputWriter.add: merge, format, write spikes.csv)',
  'garbage collection',
  'other',
] as const;
export type ProfileCategory = (typeof PROFILE_CATEGORIES)[number];

export interface ProfileWindow {
  /** Milliseconds of samples in the window (idle and "(program)" left out). */
  readonly ms: number;
  /** The functions with the most self time in the window. */
  readonly topSelf: readonly {
    readonly function: string;
    readonly ms: number;
    readonly share: number;
  }[];
}

export interface ProfileSummary {
  readonly neurons: number;
  readonly durationMs: number;
  /** simulate()'s wall time in the profiled run (the profiler slows it a little). */
  readonly profiledSimulateSeconds: number;
  /** simulate(): each sample goes to the category of the innermost frame of its stack that has one. */
  readonly simulate: ProfileWindow & {
    readonly categories: readonly {
      readonly category: ProfileCategory;
      readonly ms: number;
      readonly share: number;
    }[];
  };
  /** buildPlan() (routing, fixed_in_degree rows, kernels, initial values). */
  readonly buildPlan: ProfileWindow;
  /** CpuBackend.prepare() (layout with the connectivity flattened, code generation). */
  readonly prepare: ProfileWindow;
  readonly file: string;
}

function frameName(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  // tsx compiles the sources, so the profile's line numbers are not the .ts file's: the file name only.
  const file = url === '' ? '' : url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
  return `${functionName === '' ? '(anonymous)' : functionName}${file === '' ? '' : ` (${file})`}`;
}

function isFrame(node: ProfileNode | undefined, functionName: string, urlEnd: string): boolean {
  return (
    node !== undefined &&
    node.callFrame.functionName === functionName &&
    node.callFrame.url.endsWith(urlEnd)
  );
}

/** The category of one frame, or undefined when an outer frame decides. */
function frameCategory(node: ProfileNode): ProfileCategory | undefined {
  const { functionName, url } = node.callFrame;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (url.endsWith('/runtime/output.ts'))
    return 'output (OutputWriter.add: merge, format, write spikes.csv)';
  if (functionName === 'splitSpikes' || functionName === 'sortSpikes')
    return 'spike lists (splitSpikes, sortSpikes)';
  if (
    isFrame(node, 'deliverInJs', '/runtime/cpu-delivery.ts') ||
    (url.startsWith('wasm://') && /^\$?sf_(deliver|add_geometric)$/.test(functionName)) ||
    url.endsWith('/codegen/connectivity.ts')
  )
    return 'delivery (sf_deliver, or deliverInJs for JavaScript kernels)';
  // WebAssembly kernels profile by their names (the module has a name section); JavaScript ones are new Function(...)
  // bodies with no file and no name, called from the backend's step.
  if (url.startsWith('wasm://')) return 'kernels (generated step functions)';
  if (url === '' && (functionName === '' || functionName === 'anonymous'))
    return 'kernels (generated step functions)';
  return undefined;
}

/**
 * Summarises a .cpuprofile of a child run (node --cpu-prof): the samples under simulate() by
 * category, and the top functions under simulate(), buildPlan() and CpuBackend.prepare(). Garbage
 * collection samples have no stack; they count in a window when they fall between its first and
 * last sample.
 */
export function summariseProfile(
  file: string,
  neurons: number,
  durationMs: number,
  profiledSimulateSeconds: number,
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const under = (functionName: string, urlEnd: string): ((id: number) => boolean) => {
    const memo = new Map<number, boolean>();
    const test = (id: number): boolean => {
      const known = memo.get(id);
      if (known !== undefined) return known;
      const p = parent.get(id);
      const result = isFrame(byId.get(id), functionName, urlEnd) || (p !== undefined && test(p));
      memo.set(id, result);
      return result;
    };
    return test;
  };
  const categoryOf = (id: number): ProfileCategory => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const c = frameCategory(byId.get(at)!);
      if (c !== undefined) return c;
    }
    return 'other';
  };
  // Sample k lasts until sample k + 1 (timeDeltas in microseconds).
  const times: number[] = [];
  let t = 0;
  for (const d of profile.timeDeltas) times.push((t += d));
  const window = (
    inside: (id: number) => boolean,
    categorise: boolean,
  ): ProfileWindow & { categories: Map<ProfileCategory, number> } => {
    const flags = profile.samples.map((id) => inside(id));
    const first = flags.indexOf(true);
    const last = flags.lastIndexOf(true);
    const categories = new Map<ProfileCategory, number>(PROFILE_CATEGORIES.map((c) => [c, 0]));
    const self = new Map<string, number>();
    let ms = 0;
    for (let k = Math.max(0, first); first >= 0 && k <= last; k++) {
      const id = profile.samples[k]!;
      const node = byId.get(id)!;
      const name = node.callFrame.functionName;
      if (!flags[k] && name !== '(garbage collector)') continue;
      const dt = ((times[k + 1] ?? times[k]!) - times[k]!) / 1000;
      ms += dt;
      if (categorise) {
        const c = categoryOf(id);
        categories.set(c, categories.get(c)! + dt);
      }
      const f = frameName(node);
      self.set(f, (self.get(f) ?? 0) + dt);
    }
    const topSelf = [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([f, v]) => ({ function: f, ms: v, share: v / ms }));
    return { ms, topSelf, categories };
  };
  const sim = window(under('simulate', '/runtime/simulate.ts'), true);
  if (sim.ms === 0) throw new Error(`${file}: no samples under simulate()`);
  const plan = window(under('buildPlan', '/codegen/module.ts'), false);
  const prepare = window(under('prepare', '/runtime/cpu.ts'), false);
  return {
    neurons,
    durationMs,
    profiledSimulateSeconds,
    simulate: {
      ms: sim.ms,
      topSelf: sim.topSelf,
      categories: PROFILE_CATEGORIES.map((category) => ({
        category,
        ms: sim.categories.get(category)!,
        share: sim.categories.get(category)! / sim.ms,
      })),
    },
    buildPlan: { ms: plan.ms, topSelf: plan.topSelf },
    prepare: { ms: prepare.ms, topSelf: prepare.topSelf },
    file,
  };
}

// ---------------------------------------------------------------------------------------------
// The parent's side.

export interface CobaScalingOptions {
  /** Sizes to run; default DEFAULT_SIZES, plus GPU_SIZE where a hardware accelerator is found. */
  readonly sizes?: readonly number[];
  /** Simulated ms per size (same order); default defaultDurationMs. */
  readonly durationsMs?: readonly number[];
  readonly webgpu?: boolean;
  readonly cuda?: boolean;
  readonly quick?: boolean;
  /** Profile the CPU run at this size with node --cpu-prof (a separate run, not in the table). */
  readonly profileSize?: number;
  readonly keepOutput?: boolean;
  /** Runs of each backend (and of Brian2's binary) per size; the fastest is the figure, all are kept. Default 1. */
  readonly repetitions?: number;
  /** A Python with Brian2: also run the network in Brian2 standalone at every size. */
  readonly brian2Python?: string;
  /** Per-size limit of the child process. */
  readonly timeoutSeconds?: number;
  /** Threads of the CPU backend (default: its own, one per core). */
  readonly cpuThreads?: number;
}

export interface CobaScalingResult {
  readonly network: Record<string, unknown>;
  readonly accelerator: string | undefined;
  readonly sizes: readonly SizeResult[];
  readonly reference: typeof BRIAN2_REFERENCE & {
    readonly spikeforgeCpuSecondsPerSimulatedSecond: number | undefined;
    /** spikeforge CPU / the quoted figure. */
    readonly ratio: number | undefined;
    /** Brian2 measured here (--brian2) at the reference size, and spikeforge CPU / that. */
    readonly measuredSecondsPerSimulatedSecond: number | undefined;
    readonly measuredRatio: number | undefined;
  };
  readonly profile: ProfileSummary | { readonly failed: string } | undefined;
  readonly seconds: number;
  readonly notes: readonly string[];
}

/** Which hardware accelerator, if any: CUDA, or a WebGPU adapter that is not the software one. */
async function findAccelerator(options: CobaScalingOptions): Promise<string | undefined> {
  if (options.cuda !== false) {
    const { probeCuda } = await import('../src/runtime/cuda/backend.js');
    const probe = await probeCuda();
    if (probe.ok) return `CUDA: ${probe.description}`;
  }
  if (options.webgpu !== false) {
    const opened = await openWebGpu();
    if (opened.ok) {
      const hardware = !opened.gpu.software;
      const description = opened.gpu.description;
      opened.gpu.close();
      if (hardware) return `WebGPU: ${description}`;
    }
  }
  return undefined;
}

function runChild(
  request: ChildRequest,
  timeoutSeconds: number,
  nodeFlags: readonly string[],
): SizeResult | { failed: string } {
  const run = spawnSync(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', THIS_FILE, '--child', JSON.stringify(request)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'pipe'],
      encoding: 'utf8',
      timeout: timeoutSeconds * 1000,
      maxBuffer: 64 * 1024 * 1024,
      env: {
        ...process.env,
        MESA_SHADER_CACHE_DISABLE: process.env['MESA_SHADER_CACHE_DISABLE'] ?? 'true',
      },
    },
  );
  // The child's progress lines, without Dawn's start-up warnings (no Vulkan, reduced limits) repeated per child.
  const err = (run.stderr ?? '')
    .split('\n')
    .filter((l) => !/^Warning: |^\s+at operator\(\)|^\s*$/.test(l))
    .join('\n');
  if (err !== '') process.stderr.write(`${err}\n`);
  if (existsSync(request.resultFile))
    return JSON.parse(readFileSync(request.resultFile, 'utf8')) as SizeResult;
  const lines = err.split('\n').filter((l) => l.trim() !== '');
  const fatal = lines.find((l) => /Fatal|out of memory|^\w*Error\b/.test(l));
  const tail = fatal?.replace(/^#\s*/, '') ?? lines.slice(-3).join(' | ');
  return {
    failed:
      run.error !== undefined
        ? `${run.error.message}`
        : `exit code ${String(run.status)}${run.signal === null ? '' : ` (${run.signal})`}${tail === '' ? '' : `: ${tail}`}`,
  };
}

export async function cobaScaling(options: CobaScalingOptions = {}): Promise<CobaScalingResult> {
  const started = performance.now();
  const accelerator = await findAccelerator(options);
  const sizes =
    options.sizes ??
    (options.quick === true
      ? QUICK_SIZES
      : accelerator === undefined
        ? DEFAULT_SIZES
        : [...DEFAULT_SIZES, GPU_SIZE]);
  const durations = sizes.map(
    (n, k) => options.durationsMs?.[k] ?? defaultDurationMs(n, options.quick === true),
  );
  for (const ms of durations)
    if (!(ms >= FIRST_WINDOW_MS))
      throw new Error(
        `COBA durations are at least ${FIRST_WINDOW_MS} ms (the window every size shares), not ${ms}`,
      );
  const notes: string[] = [];
  if (options.sizes === undefined && options.quick !== true && accelerator === undefined)
    notes.push(
      `${GPU_SIZE.toLocaleString('en-US')} neurons left out: no hardware accelerator (CUDA or a hardware WebGPU adapter) found`,
    );
  if (accelerator !== undefined) notes.push(`accelerator: ${accelerator}`);
  const work = mkdtempSync(join(tmpdir(), 'spikeforge-coba-'));
  const results: SizeResult[] = [];
  try {
    for (const [k, neurons] of sizes.entries()) {
      const backends: BackendName[] = ['cpu'];
      const skipped: { backend: BackendName; reason: string }[] = [];
      if (options.webgpu !== false) backends.push('webgpu');
      else skipped.push({ backend: 'webgpu', reason: '--no-webgpu' });
      if (options.cuda !== false && accelerator?.startsWith('CUDA') === true) backends.push('cuda');
      else
        skipped.push({
          backend: 'cuda',
          reason: options.cuda === false ? '--no-cuda' : 'no CUDA device',
        });
      // 4M on the CPU or llvmpipe: minutes per simulated 20 ms and many GB; by default only the accelerators run it.
      if (neurons >= GPU_SIZE && options.sizes === undefined) {
        const keep = backends.filter(
          (b) => b === 'cuda' || (b === 'webgpu' && accelerator?.startsWith('WebGPU') === true),
        );
        for (const b of backends.filter((x) => !keep.includes(x)))
          skipped.push({
            backend: b,
            reason: `${neurons.toLocaleString('en-US')} neurons on ${b === 'cpu' ? 'the CPU' : 'the software adapter'} is not run by default (ask with --sizes)`,
          });
        backends.splice(0, backends.length, ...keep);
      }
      const request: ChildRequest = {
        neurons,
        durationMs: durations[k]!,
        backends,
        repetitions: options.repetitions ?? 1,
        skipped,
        keepOutput: options.keepOutput === true,
        resultFile: join(work, `${neurons}.json`),
        ...(options.cpuThreads === undefined ? {} : { cpuThreads: options.cpuThreads }),
      };
      const big =
        neurons >= 400_000
          ? [`--max-old-space-size=${Math.max(4096, Math.floor((totalmem() / 2 ** 20) * 0.75))}`]
          : [];
      const result = runChild(request, options.timeoutSeconds ?? 900, big);
      const size: SizeResult =
        'failed' in result
          ? {
              neurons,
              excitatory: (neurons * 4) / 5,
              inhibitory: neurons / 5,
              synapses: neurons * 80,
              durationMs: durations[k]!,
              steps: Math.round(durations[k]! / 0.1),
              status: 'failed',
              reason: result.failed,
              runs: [],
            }
          : result;
      results.push(
        options.brian2Python === undefined
          ? size
          : {
              ...size,
              brian2: runBrian2(
                options.brian2Python,
                neurons,
                durations[k]!,
                options.repetitions ?? 1,
                work,
                options.timeoutSeconds ?? 900,
              ),
            },
      );
    }
    if (
      results.some((r) =>
        r.runs.some((b) => b.backend === 'webgpu' && b.status === 'ok' && b.software === true),
      )
    )
      notes.push(
        'WebGPU ran on the software adapter (Mesa llvmpipe on the same CPU cores), not on a GPU',
      );
    let profile: CobaScalingResult['profile'];
    if (options.profileSize !== undefined) {
      const neurons = options.profileSize;
      const durationMs =
        durations[sizes.indexOf(neurons)] ?? defaultDurationMs(neurons, options.quick === true);
      const dir = join(work, 'profile');
      mkdirSync(dir);
      process.stderr.write(
        `  profile: node --cpu-prof, CPU run at N = ${neurons.toLocaleString('en-US')} (${durationMs} ms), not in the table\n`,
      );
      const request: ChildRequest = {
        neurons,
        durationMs,
        backends: ['cpu'],
        repetitions: 1,
        skipped: [],
        keepOutput: false,
        resultFile: join(dir, 'result.json'),
        ...(options.cpuThreads === undefined ? {} : { cpuThreads: options.cpuThreads }),
      };
      const result = runChild(request, options.timeoutSeconds ?? 900, [
        '--cpu-prof',
        '--cpu-prof-dir',
        dir,
      ]);
      // One profile per thread (tsx's module-loader thread writes one too): the main thread's is the one with simulate().
      const files = readdirSync(dir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(dir, f));
      const main = files.find((f) => readFileSync(f, 'utf8').includes('/runtime/simulate.ts'));
      if ('failed' in result || main === undefined)
        profile = {
          failed:
            'failed' in result
              ? result.failed
              : `no .cpuprofile with simulate() among ${files.length}`,
        };
      else {
        const kept = join(tmpdir(), `spikeforge-coba-${neurons}.cpuprofile`);
        writeFileSync(kept, readFileSync(main));
        profile = summariseProfile(
          kept,
          neurons,
          durationMs,
          result.runs.find((r) => r.backend === 'cpu')?.wallSeconds ?? Number.NaN,
        );
      }
    }
    const at4k = results.find((r) => r.neurons === BRIAN2_REFERENCE.neurons);
    const cpu4k = at4k?.runs.find(
      (r) => r.backend === 'cpu' && r.status === 'ok',
    )?.secondsPerSimulatedSecond;
    const brian4k = at4k?.brian2?.secondsPerSimulatedSecond;
    return {
      network: {
        source:
          'examples/coba.spk (model CobaLif, weights 6 nS / 67 nS, initial state), generated by bench/coba-scaling.ts',
        connectivity: `fixed_in_degree(${IN_DEGREE.E}) from E (0.8 N), fixed_in_degree(${IN_DEGREE.I}) from I (0.2 N): 80 stored inputs per neuron`,
        dt_ms: 0.1,
        recorded: 'spikes (OutputWriter: spikes.csv in a temporary folder)',
      },
      accelerator,
      sizes: results,
      reference: {
        ...BRIAN2_REFERENCE,
        spikeforgeCpuSecondsPerSimulatedSecond: cpu4k,
        ratio: cpu4k === undefined ? undefined : cpu4k / BRIAN2_REFERENCE.secondsPerSimulatedSecond,
        measuredSecondsPerSimulatedSecond: brian4k,
        measuredRatio: cpu4k === undefined || brian4k === undefined ? undefined : cpu4k / brian4k,
      },
      profile,
      seconds: (performance.now() - started) / 1000,
      notes,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map(
      (r) =>
        `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}`,
    )
    .join('\n');
}

export function printCobaScaling(result: CobaScalingResult): void {
  const rows = [
    [
      'N',
      'ms',
      'build s',
      'backend',
      'prepare s',
      'wall s',
      's / sim s',
      'median',
      'spikes',
      'rate Hz (E/I)',
      'Hz first 20 ms',
      'Hz 2nd half',
    ],
  ];
  for (const size of result.sizes) {
    const label = size.neurons.toLocaleString('en-US');
    if (size.status === 'failed')
      rows.push([
        label,
        String(size.durationMs),
        '-',
        '(all)',
        'failed',
        '',
        '',
        '',
        '',
        '',
        '',
        '',
      ]);
    for (const r of size.runs) {
      if (r.status !== 'ok') {
        rows.push([
          label,
          String(size.durationMs),
          size.build?.seconds.toFixed(1) ?? '-',
          r.backend,
          r.status,
          '',
          '',
          '',
          '',
          '',
          '',
          '',
        ]);
        continue;
      }
      rows.push([
        label,
        String(size.durationMs),
        size.build?.seconds.toFixed(1) ?? '-',
        r.backend,
        r.prepareSeconds!.toFixed(2),
        r.wallSeconds!.toFixed(2),
        r.secondsPerSimulatedSecond!.toFixed(2),
        r.medianSecondsPerSimulatedSecond!.toFixed(2),
        r.spikes!.toLocaleString('en-US'),
        `${r.rateHz!.all.toFixed(1)} (${r.rateHz!.E.toFixed(1)}/${r.rateHz!.I.toFixed(1)})`,
        r.rateHz!.first20ms.toFixed(1),
        r.rateHz!.secondHalf.toFixed(1),
      ]);
    }
  }
  for (const size of result.sizes) {
    const b = size.brian2;
    if (b === undefined) continue;
    const label = size.neurons.toLocaleString('en-US');
    if (b.status !== 'ok')
      rows.push([
        label,
        String(size.durationMs),
        '',
        'brian2',
        'failed',
        '',
        '',
        '',
        '',
        '',
        '',
        '',
      ]);
    else
      rows.push([
        label,
        String(size.durationMs),
        b.compileSeconds!.toFixed(1),
        'brian2',
        '',
        b.runSeconds!.toFixed(2),
        b.secondsPerSimulatedSecond!.toFixed(2),
        (median(b.runSecondsEach!) / (size.durationMs / 1000)).toFixed(2),
        b.spikes!.toLocaleString('en-US'),
        b.rateHz!.toFixed(1),
        '',
        '',
      ]);
  }
  console.log(table(rows));
  for (const size of result.sizes) {
    if (size.brian2?.status === 'failed')
      console.log(
        `  N = ${size.neurons.toLocaleString('en-US')}, brian2 failed: ${size.brian2.reason ?? ''}`,
      );
    if (size.status === 'failed')
      console.log(`  N = ${size.neurons.toLocaleString('en-US')} failed: ${size.reason ?? ''}`);
    for (const r of size.runs)
      if (r.status !== 'ok' && r.reason !== undefined)
        console.log(
          `  N = ${size.neurons.toLocaleString('en-US')}, ${r.backend} ${r.status}: ${r.reason}`,
        );
    const ok = size.runs.filter((r) => r.status === 'ok');
    if (ok.length > 1)
      console.log(
        `  N = ${size.neurons.toLocaleString('en-US')}: spikes.csv ${new Set(ok.map((r) => r.spikesCsvSha256)).size === 1 ? 'identical' : 'different'} on ${ok.map((r) => r.backend).join(' and ')}`,
      );
  }
  const devices = new Map(
    result.sizes.flatMap((s) =>
      s.runs.filter((r) => r.device !== undefined).map((r) => [r.backend, r.device!] as const),
    ),
  );
  for (const [backend, device] of devices) console.log(`  ${backend}: ${device}`);
  const ref = result.reference;
  if (ref.spikeforgeCpuSecondsPerSimulatedSecond !== undefined) {
    console.log(
      `  ${ref.simulator} at ${ref.neurons} neurons: ${ref.secondsPerSimulatedSecond} s per simulated second (${ref.source}); spikeforge CPU ${ref.spikeforgeCpuSecondsPerSimulatedSecond.toFixed(2)} s, ${ref.ratio!.toFixed(1)}x that`,
    );
    if (ref.measuredSecondsPerSimulatedSecond !== undefined)
      console.log(
        `  Brian2 measured here (same network, fixed in-degree): ${ref.measuredSecondsPerSimulatedSecond.toFixed(3)} s per simulated second; spikeforge CPU ${ref.measuredRatio!.toFixed(1)}x that`,
      );
  }
  const p = result.profile;
  if (p !== undefined && 'failed' in p) console.log(`  profile failed: ${p.failed}`);
  else if (p !== undefined) {
    console.log(
      `  profile (node --cpu-prof) of the CPU run at N = ${p.neurons.toLocaleString('en-US')}, ${p.durationMs} ms simulated in ${p.profiledSimulateSeconds.toFixed(2)} s under the profiler; ${p.file}`,
    );
    console.log(`    simulate(), ${(p.simulate.ms / 1000).toFixed(2)} s of samples:`);
    for (const c of p.simulate.categories)
      console.log(
        `    ${(100 * c.share).toFixed(1).padStart(5)}%  ${(c.ms / 1000).toFixed(2).padStart(6)} s  ${c.category}`,
      );
    const top = (title: string, w: ProfileWindow): void => {
      console.log(`    ${title}, ${(w.ms / 1000).toFixed(2)} s of samples, most self time:`);
      for (const f of w.topSelf.slice(0, 6))
        console.log(`    ${(100 * f.share).toFixed(1).padStart(5)}%  ${f.function}`);
    };
    top('simulate()', p.simulate);
    top('buildPlan()', p.buildPlan);
    top('CpuBackend.prepare()', p.prepare);
  }
  for (const n of result.notes) console.log(`  ${n}`);
}

function parseList(flag: string, value: string | undefined): number[] {
  const list = (value ?? '')
    .split(',')
    .map((x) => Number(x.trim().replace(/k$/i, '000').replace(/m$/i, '000000')));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(
      `${flag} takes a comma-separated list of whole numbers (4000,40000 or 4k,40k), not '${value ?? ''}'`,
    );
  return list;
}

/** `--coba-sizes` and `--sizes`: 4000,40000 or 4k,40k,400k,4M. */
export function parseSizes(flag: string, value: string | undefined): number[] {
  return parseList(flag, value);
}

async function main(argv: readonly string[]): Promise<void> {
  const child = argv.indexOf('--child');
  if (child >= 0) {
    const request = JSON.parse(argv[child + 1]!) as ChildRequest;
    const result = await runSize(request);
    writeFileSync(request.resultFile, JSON.stringify(result));
    return;
  }
  let options: CobaScalingOptions = {};
  let out: string | undefined;
  for (let k = 0; k < argv.length; k++) {
    const flag = argv[k]!;
    if (flag === '--sizes') options = { ...options, sizes: parseSizes(flag, argv[++k]) };
    else if (flag === '--durations')
      options = { ...options, durationsMs: parseList(flag, argv[++k]) };
    else if (flag === '--no-webgpu') options = { ...options, webgpu: false };
    else if (flag === '--no-cuda') options = { ...options, cuda: false };
    else if (flag === '--quick') options = { ...options, quick: true };
    else if (flag === '--keep-output') options = { ...options, keepOutput: true };
    else if (flag === '--profile')
      options = {
        ...options,
        profileSize: /^\d/.test(argv[k + 1] ?? '') ? parseList(flag, argv[++k])[0]! : PROFILE_SIZE,
      };
    else if (flag === '--repetitions')
      options = { ...options, repetitions: parseList(flag, argv[++k])[0]! };
    else if (flag === '--cpu-threads')
      options = { ...options, cpuThreads: parseList(flag, argv[++k])[0]! };
    else if (flag === '--brian2') options = { ...options, brian2Python: argv[++k] ?? 'python3' };
    else if (flag === '--out') out = argv[++k];
    else throw new Error(`unknown option '${flag}' (see the top of bench/coba-scaling.ts)`);
  }
  const date = new Date();
  const day = date.toISOString().slice(0, 10);
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const loadBefore = loadavg()[0]!;
  console.log(
    `COBA scaling, ${day}, ${model} (${availableParallelism()} cores), node ${process.version}, load average ${loadBefore.toFixed(2)}`,
  );
  if (loadBefore > 1)
    console.log(
      `note: load average ${loadBefore.toFixed(1)} on ${availableParallelism()} cores before starting: if other processes are running, the numbers will be low`,
    );
  const result = await cobaScaling(options);
  printCobaScaling(result);
  const file = out ?? join(ROOT, 'bench', 'results', `${day}-coba.json`);
  mkdirSync(dirname(file), { recursive: true });
  const record = {
    date: day,
    time: date.toISOString(),
    command: `npx tsx bench/coba-scaling.ts${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`,
    machine: {
      cpu: model,
      cores: availableParallelism(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
    },
    loadAverage1m: { before: loadBefore, after: loadavg()[0]! },
    cobaScaling: result,
  };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`\nresults: ${relative(process.cwd(), file)} (${result.seconds.toFixed(0)} s)`);
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
  // A WebGPU instance keeps the event loop alive (src/runtime/webgpu/device.ts).
  process.exit();
}
