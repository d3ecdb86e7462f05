/**
 * (g) CUDA, on a machine with an NVIDIA GPU: the targets of the CUDA issue.
 *
 *   1. Device memory bandwidth, measured: a device-to-device copy of 1 GiB (read + write
 *      counted), timed with CUDA events; the reference for 2.
 *   2. A 10M-neuron LifRef population (bench/lif-network.ts), spikes recorded: the kernels'
 *      GPU time per step (events around each chunk's launches) and the state traffic of a
 *      step (every state read and written once) give the effective bandwidth; target: at least
 *      half of 1. The end-to-end time (spike read-back and lists on the host) is given beside.
 *   3. The E/I network of language.md (examples/ei_net.spk, 4000 neurons), 1 s simulated,
 *      spikes recorded: wall seconds per simulated second for each launch mode (direct
 *      launches, a CUDA graph per chunk, and `auto`); target: under 0.02 s.
 *   4. The cost of agreeing with the CPU: 2 and 3 compiled with FMA contraction allowed
 *      (SPIKEFORGE_CUDA_FMAD=1) against the default --fmad=false.
 *   5. .spk text to a loaded module for examples/ei_net.spk: parse and check, buildPlan, then
 *      the backend's prepare (CUDA source, NVRTC or nvcc, cuModuleLoadData, upload), with an
 *      empty module cache (cold) and again with the cache filled (warm); target: under 1 s.
 *
 * Without a CUDA driver and GPU it prints why and writes only that reason.
 *
 *   npx tsx bench/cuda.ts [--quick] [--lif-neurons N] [--lif-steps N] [--out FILE]
 *
 * --quick: 1M neurons for 200 steps and 200 ms of the E/I network (a smoke run).
 * Results: bench/results/<date>-cuda.json unless --out says otherwise.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { buildPlan, layoutOf } from '../src/codegen/module.js';
import type { SimulationPlan } from '../src/runtime/backend.js';
import { CudaBackend, type CudaLaunchMode, probeCuda } from '../src/runtime/cuda/backend.js';
import { CudaDriver, loadKoffi } from '../src/runtime/cuda/driver.js';
import { compileFiles } from '../src/pipeline.js';
import { ROOT, compileBenchNetwork, lifBenchSpk } from './lif-network.js';

const EI_FILE = join(ROOT, 'examples', 'ei_net.spk');
const COPY_BYTES = 2 ** 30;
const COPY_REPETITIONS = 20;

export interface CudaBenchOptions {
  readonly quick?: boolean;
  readonly lifNeurons?: number;
  readonly lifSteps?: number;
}

export interface LifResult {
  readonly neurons: number;
  readonly steps: number;
  readonly fmad: boolean;
  /** Bytes of state read and written per step (each state float once each way). */
  readonly bytesPerStep: number;
  readonly kernelSecondsPerStep: number;
  readonly effectiveGBps: number;
  /** Share of the measured copy bandwidth. */
  readonly ofDeviceBandwidth: number;
  readonly wallSecondsPerStep: number;
  readonly chunkSteps: number;
  readonly spikes: number;
}

export interface EiResult {
  readonly launch: CudaLaunchMode;
  readonly fmad: boolean;
  readonly simulatedSeconds: number;
  readonly wallSecondsPerSimulatedSecond: number;
  readonly kernelSecondsPerSimulatedSecond: number;
  readonly chunkSteps: number;
  readonly graphChunks: number;
  readonly directChunks: number;
  readonly captureSeconds: number;
  readonly spikes: number;
}

export interface ModuleReadyResult {
  readonly cache: 'cold' | 'warm';
  readonly parseCheckSeconds: number;
  readonly buildPlanSeconds: number;
  readonly prepareSeconds: number;
  readonly totalSeconds: number;
  /** Where the module came from (NVRTC cubin, cached cubin, ...). */
  readonly device: string;
}

export type CudaBenchResult =
  | { readonly status: 'skipped'; readonly reason: string }
  | {
      readonly status: 'ok';
      readonly device: string;
      readonly copyGBps: number;
      readonly lif: readonly LifResult[];
      readonly ei: readonly EiResult[];
      readonly moduleReady: readonly ModuleReadyResult[];
    };

/** Device-to-device copy bandwidth in GB/s (bytes read plus bytes written), from CUDA events. */
async function copyBandwidth(): Promise<number> {
  const koffi = await loadKoffi();
  const driver = CudaDriver.load(koffi);
  const info = driver.openDevice(0);
  driver.retainPrimaryContext(info.device);
  const a = driver.alloc(COPY_BYTES);
  const b = driver.alloc(COPY_BYTES);
  const stream = driver.createStream();
  const start = driver.createEvent();
  const end = driver.createEvent();
  try {
    driver.copyOnDeviceAsync(b, a, COPY_BYTES, stream);
    driver.synchronize(stream);
    driver.recordEvent(start, stream);
    for (let r = 0; r < COPY_REPETITIONS; r++) driver.copyOnDeviceAsync(b, a, COPY_BYTES, stream);
    driver.recordEvent(end, stream);
    const seconds = driver.elapsedSeconds(start, end);
    return (2 * COPY_BYTES * COPY_REPETITIONS) / seconds / 1e9;
  } finally {
    driver.destroyEvent(start);
    driver.destroyEvent(end);
    driver.destroyStream(stream);
    driver.free(a);
    driver.free(b);
    driver.releasePrimaryContext(info.device);
  }
}

/** Runs every chunk of a plan, spikes counted and dropped (as a writer would consume them). */
async function runPlan(
  plan: SimulationPlan,
  backend: CudaBackend,
): Promise<{ seconds: number; spikes: number }> {
  const chunk = backend.maxChunkSteps(plan);
  let spikes = 0;
  const started = performance.now();
  for (let first = 0; first < plan.steps; first += chunk) {
    const result = await backend.runChunk(first, Math.min(chunk, plan.steps - first));
    for (const list of result.spikes.values()) spikes += list.steps.length;
  }
  return { seconds: (performance.now() - started) / 1000, spikes };
}

/** A backend compiled with or without FMA contraction, with its own module cache. */
function backendFor(fmad: boolean, launch: CudaLaunchMode, cache: string): CudaBackend {
  return new CudaBackend({
    launch,
    env: {
      ...process.env,
      XDG_CACHE_HOME: cache,
      SPIKEFORGE_CUDA_FMAD: fmad ? '1' : '0',
    },
  });
}

async function lifRun(
  neurons: number,
  steps: number,
  fmad: boolean,
  copyGBps: number,
  cache: string,
): Promise<LifResult> {
  const plan = buildPlan(compileBenchNetwork(lifBenchSpk(neurons)), steps);
  const backend = backendFor(fmad, 'auto', cache);
  try {
    await backend.prepare(plan);
    // A short warm-up (module, first launches, graph capture), then a fresh count.
    await backend.runChunk(0, Math.min(backend.maxChunkSteps(plan), 4));
    backend.stats.kernelSeconds = 0;
    const { seconds, spikes } = await runPlan(plan, backend);
    const bytesPerStep = 2 * 4 * layoutOf(plan).totalStateFloats;
    const kernelSecondsPerStep = backend.stats.kernelSeconds / steps;
    const effectiveGBps = bytesPerStep / kernelSecondsPerStep / 1e9;
    return {
      neurons,
      steps,
      fmad,
      bytesPerStep,
      kernelSecondsPerStep,
      effectiveGBps,
      ofDeviceBandwidth: effectiveGBps / copyGBps,
      wallSecondsPerStep: seconds / steps,
      chunkSteps: backend.maxChunkSteps(plan),
      spikes,
    };
  } finally {
    backend.dispose();
  }
}

function eiPlan(simulatedMs: number): SimulationPlan {
  const network = compileFiles([EI_FILE]).program?.networks.get('EINet');
  if (network === undefined) throw new Error(`${EI_FILE} has no network EINet`);
  return buildPlan(network, Math.round(simulatedMs / network.dt));
}

async function eiRun(
  plan: SimulationPlan,
  launch: CudaLaunchMode,
  fmad: boolean,
  cache: string,
): Promise<EiResult> {
  const backend = backendFor(fmad, launch, cache);
  try {
    await backend.prepare(plan);
    const { seconds, spikes } = await runPlan(plan, backend);
    const simulated = (plan.steps * plan.network.dt) / 1000;
    return {
      launch,
      fmad,
      simulatedSeconds: simulated,
      wallSecondsPerSimulatedSecond: seconds / simulated,
      kernelSecondsPerSimulatedSecond: backend.stats.kernelSeconds / simulated,
      chunkSteps: backend.maxChunkSteps(plan),
      graphChunks: backend.stats.graphChunks,
      directChunks: backend.stats.directChunks,
      captureSeconds: backend.stats.captureSeconds,
      spikes,
    };
  } finally {
    backend.dispose();
  }
}

async function moduleReady(
  cache: 'cold' | 'warm',
  cacheDir: string,
  simulatedMs: number,
): Promise<ModuleReadyResult> {
  const t0 = performance.now();
  const network = compileFiles([EI_FILE]).program?.networks.get('EINet');
  if (network === undefined) throw new Error(`${EI_FILE} has no network EINet`);
  const t1 = performance.now();
  const plan = buildPlan(network, Math.round(simulatedMs / network.dt));
  const t2 = performance.now();
  const backend = backendFor(false, 'auto', cacheDir);
  try {
    await backend.prepare(plan);
    const t3 = performance.now();
    return {
      cache,
      parseCheckSeconds: (t1 - t0) / 1000,
      buildPlanSeconds: (t2 - t1) / 1000,
      prepareSeconds: (t3 - t2) / 1000,
      totalSeconds: (t3 - t0) / 1000,
      device: backend.device,
    };
  } finally {
    backend.dispose();
  }
}

export async function cudaBenchmarks(options: CudaBenchOptions = {}): Promise<CudaBenchResult> {
  const probe = await probeCuda();
  if (!probe.ok) return { status: 'skipped', reason: probe.reason };
  const quick = options.quick === true;
  const neurons = options.lifNeurons ?? (quick ? 1_000_000 : 10_000_000);
  const steps = options.lifSteps ?? (quick ? 200 : 1000);
  const eiMs = quick ? 200 : 1000;
  const work = mkdtempSync(join(tmpdir(), 'spikeforge-cuda-bench-'));
  try {
    // (5) first: the first module this process loads, with an empty cache.
    const readyCache = join(work, 'ready');
    const moduleTimes = [
      await moduleReady('cold', readyCache, eiMs),
      await moduleReady('warm', readyCache, eiMs),
    ];
    const copyGBps = await copyBandwidth();
    const cache = join(work, 'cache');
    const lif = [
      await lifRun(neurons, steps, false, copyGBps, cache),
      await lifRun(neurons, steps, true, copyGBps, cache),
    ];
    const plan = eiPlan(eiMs);
    const ei: EiResult[] = [];
    for (const launch of ['direct', 'graph', 'auto'] as const)
      ei.push(await eiRun(plan, launch, false, cache));
    ei.push(await eiRun(plan, 'auto', true, cache));
    return {
      status: 'ok',
      device: probe.description,
      copyGBps,
      lif,
      ei,
      moduleReady: moduleTimes,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function printCuda(result: CudaBenchResult): void {
  if (result.status === 'skipped') {
    console.log(`  skipped: ${result.reason}`);
    return;
  }
  const f = (x: number, digits: number): string => x.toFixed(digits);
  console.log(`  device: ${result.device}`);
  console.log(`  device-to-device copy: ${f(result.copyGBps, 0)} GB/s (read + write)`);
  for (const r of result.lif)
    console.log(
      `  LifRef ${r.neurons.toLocaleString('en-US')} x ${r.steps} steps, fmad ${r.fmad ? 'on ' : 'off'}: kernels ${f(r.kernelSecondsPerStep * 1e6, 1)} us/step = ${f(r.effectiveGBps, 0)} GB/s (${f(100 * r.ofDeviceBandwidth, 0)}% of the copy); end to end ${f(r.wallSecondsPerStep * 1e3, 3)} ms/step (${r.chunkSteps} steps per chunk, ${r.spikes.toLocaleString('en-US')} spikes)`,
    );
  for (const r of result.ei)
    console.log(
      `  E/I 4000, ${r.simulatedSeconds} s, launch ${r.launch.padEnd(6)} fmad ${r.fmad ? 'on ' : 'off'}: ${f(r.wallSecondsPerSimulatedSecond, 4)} s per simulated s (kernels ${f(r.kernelSecondsPerSimulatedSecond, 4)}; ${r.graphChunks} graph / ${r.directChunks} direct chunks of ${r.chunkSteps}, capture ${f(r.captureSeconds, 3)} s; ${r.spikes.toLocaleString('en-US')} spikes)`,
    );
  for (const r of result.moduleReady)
    console.log(
      `  .spk to loaded module (${r.cache} cache): ${f(r.totalSeconds, 3)} s = parse+check ${f(r.parseCheckSeconds, 3)} + buildPlan ${f(r.buildPlanSeconds, 3)} + prepare ${f(r.prepareSeconds, 3)} [${r.device}]`,
    );
}

async function main(argv: readonly string[]): Promise<void> {
  const options: { quick?: boolean; lifNeurons?: number; lifSteps?: number } = {};
  let out: string | undefined;
  for (let k = 0; k < argv.length; k++) {
    const flag = argv[k]!;
    const value = (): number => {
      const n = Number(argv[++k]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} takes a whole number >= 1`);
      return n;
    };
    if (flag === '--quick') options.quick = true;
    else if (flag === '--lif-neurons') options.lifNeurons = value();
    else if (flag === '--lif-steps') options.lifSteps = value();
    else if (flag === '--out') out = argv[++k];
    else throw new Error(`unknown option ${flag}`);
  }
  console.log('(g) CUDA');
  const result = await cudaBenchmarks(options);
  printCuda(result);
  const day = new Date().toISOString().slice(0, 10);
  const file = out ?? join(ROOT, 'bench', 'results', `${day}-cuda.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify({ date: day, command: `npx tsx bench/cuda.ts ${argv.join(' ')}`.trim(), ...result }, null, 2)}\n`,
  );
  console.log(`results: ${relative(process.cwd(), file)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
