/**
 * spikeforge benchmarks (`npm run bench`):
 *
 *   (a) neuron updates per second, 1M-neuron LifRef population, constant stimulus, spikes
 *       recorded: CPU (generated WebAssembly, float32) and WebGPU, compile time excluded;
 *   (b) .spk text to a ready WebGPU pipeline, stage by stage;
 *   (c) the derive benchmark (bench/derive.bench.ts);
 *   (d) COBA scaling (bench/coba-scaling.ts): the COBA network at fixed in-degree 80 for
 *       N = 4k, 40k, 400k (4M with a hardware accelerator), wall seconds per simulated
 *       second on each backend, spikes recorded; each size in a fresh process;
 *   (g) CUDA (bench/cuda.ts): device bandwidth, a 10M-neuron LifRef population, the E/I
 *       network per launch mode, the cost of --fmad=false, .spk text to a loaded module;
 *       skipped, with the reason, without an NVIDIA driver and GPU.
 *
 * Prints a table and writes bench/results/<YYYY-MM-DD>.json. docs/benchmarks.md explains
 * the numbers. Options:
 *
 *   --cpu-steps N      steps on the CPU (default 1000)
 *   --gpu-steps N      steps on WebGPU (default 1000, SOFTWARE_GPU_STEPS on a software adapter)
 *   --neurons N        population size (default 1000000)
 *   --repetitions N    repetitions of (b) (default 5: one cold, the median of the rest)
 *   --no-webgpu        CPU only (also in (d))
 *   --no-coba          leave out (d)
 *   --coba-sizes LIST  sizes of (d), e.g. 4000,40000 or 4k,40k (default 4k,40k,400k, +4M on a GPU)
 *   --quick            a smoke run: 100k neurons, 50 CPU and 20 WebGPU steps, 2 repetitions;
 *                      (d) at 4k and 40k for 200 and 20 simulated ms
 *   --out FILE         results file (default bench/results/<date>.json)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildPlan } from '../src/codegen/module.js';
import { type WebGpu, openWebGpu } from '../src/runtime/webgpu/device.js';
import {
  type CobaScalingResult,
  cobaScaling,
  parseSizes,
  printCobaScaling,
} from './coba-scaling.js';
import { type CudaBenchResult, cudaBenchmarks, printCuda } from './cuda.js';
import { type DeriveResult, deriveBenchmark } from './derive-runner.js';
import { ROOT, compileBenchNetwork, lifBenchSpk } from './lif-network.js';
import { type PipelineReadyResult, STAGES, pipelineReady } from './pipeline-ready.js';
import { type ThroughputResult, cpuThroughput, webGpuThroughput } from './throughput.js';

// Mesa's on-disk shader cache would turn (b)'s pipeline creation into a cache lookup after the first run.
process.env['MESA_SHADER_CACHE_DISABLE'] ??= 'true';

/**
 * Steps on a software WebGPU adapter. llvmpipe on 2 idle cores runs a 1M-neuron LifRef
 * step in about 20 ms with readback, so 1000 steps take about 20 s; lower this if slower
 * machines push the benchmark past 5 minutes (the output says so when it is lower).
 */
const SOFTWARE_GPU_STEPS = 1000;

interface Options {
  cpuSteps: number;
  gpuSteps: number | undefined;
  neurons: number;
  repetitions: number;
  webgpu: boolean;
  coba: boolean;
  cobaSizes: number[] | undefined;
  quick: boolean;
  out: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    cpuSteps: 1000,
    gpuSteps: undefined,
    neurons: 1_000_000,
    repetitions: 5,
    webgpu: true,
    coba: true,
    cobaSizes: undefined,
    quick: false,
    out: undefined,
  };
  const count = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`${flag} takes a whole number >= 1, not '${value ?? ''}'`);
    return n;
  };
  for (let k = 0; k < argv.length; k++) {
    const flag = argv[k]!;
    if (flag === '--cpu-steps') options.cpuSteps = count(flag, argv[++k]);
    else if (flag === '--gpu-steps') options.gpuSteps = count(flag, argv[++k]);
    else if (flag === '--neurons') options.neurons = count(flag, argv[++k]);
    else if (flag === '--repetitions') options.repetitions = count(flag, argv[++k]);
    else if (flag === '--no-webgpu') options.webgpu = false;
    else if (flag === '--no-coba') options.coba = false;
    else if (flag === '--coba-sizes') options.cobaSizes = parseSizes(flag, argv[++k]);
    else if (flag === '--out') options.out = argv[++k];
    else if (flag === '--quick')
      Object.assign(options, {
        cpuSteps: 50,
        gpuSteps: 20,
        neurons: 100_000,
        repetitions: 2,
        quick: true,
      });
    else throw new Error(`unknown option '${flag}' (see the top of bench/run.ts)`);
  }
  return options;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model.trim() ?? 'unknown CPU';
}

async function openDevice(): Promise<WebGpu | undefined> {
  const opened = await openWebGpu();
  if (!opened.ok) console.log(`WebGPU: no device (${opened.reason}); WebGPU numbers are skipped`);
  return opened.ok ? opened.gpu : undefined;
}

function fixed(value: number | undefined, digits: number): string {
  return value === undefined ? '-' : value.toFixed(digits);
}

function millions(value: number): string {
  return (value / 1e6).toFixed(1);
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

function printThroughput(results: readonly ThroughputResult[]): void {
  const rows = [
    ['backend', 'steps', 'wall s', 'M updates/s', 'kernel-only s', 'kernel-only M/s', 'spikes'],
  ];
  for (const r of results) {
    rows.push([
      r.backend,
      String(r.endToEnd.steps),
      r.endToEnd.seconds.toFixed(2),
      millions(r.endToEnd.updatesPerSecond),
      r.kernelOnly.seconds.toFixed(2),
      millions(r.kernelOnly.updatesPerSecond),
      r.endToEnd.spikes.toLocaleString('en-US'),
    ]);
  }
  console.log(table(rows));
  for (const r of results) {
    console.log(`  ${r.backend}: ${r.device}`);
    for (const n of r.notes) console.log(`    ${n}`);
  }
}

function printPipeline(p: PipelineReadyResult): void {
  const rows = [['stage', 'cold ms', `warm median ms (${Math.max(1, p.repetitions - 1)})`]];
  for (const stage of [...STAGES, 'total'] as const)
    rows.push([stage, fixed(p.cold[stage], 1), fixed(p.warmMedian[stage], 1)]);
  if (p.firstDispatchMs !== undefined)
    rows.push([
      '(first dispatch, 1 workgroup)',
      fixed(p.firstDispatchMs.cold, 1),
      fixed(p.firstDispatchMs.warmMedian, 1),
    ]);
  if (p.openDeviceMs !== undefined)
    rows.push(['(open device, once)', fixed(p.openDeviceMs, 1), '']);
  console.log(table(rows));
  for (const n of p.notes) console.log(`  ${n}`);
}

function printDerive(d: DeriveResult): void {
  console.log(
    `  ${d.source}: ${d.models ?? '?'} models, cold ${fixed(d.coldMs, 1)} ms, warm median ${fixed(d.warmMedianMs, 2)} ms${d.exitCode === undefined ? '' : `, exit code ${String(d.exitCode)}`}`,
  );
  for (const line of d.output.split('\n').filter((l) => l.trim() !== ''))
    console.log(`    | ${line}`);
  for (const n of d.notes) console.log(`  ${n}`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const date = new Date();
  const day = date.toISOString().slice(0, 10);
  const cpu = `${cpuModel()} (${availableParallelism()} cores)`;
  const loadBefore = loadavg()[0]!;
  console.log(
    `spikeforge benchmarks, ${day}, ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average ${loadBefore.toFixed(2)}`,
  );
  if (loadBefore > 1)
    console.log(
      `note: load average ${loadBefore.toFixed(1)} on ${availableParallelism()} cores before starting: if other processes are running, the numbers will be low`,
    );

  // (b) first: its cold repetition should be the first compile of this process.
  console.log(
    `\n(b) .spk text to a ready WebGPU pipeline (${options.neurons.toLocaleString('en-US')}-neuron LifRef network)`,
  );
  const pipeline = await pipelineReady(
    options.neurons,
    options.repetitions,
    options.webgpu ? openDevice : async () => undefined,
  );
  printPipeline(pipeline);

  console.log('\n(c) derive');
  const derive = deriveBenchmark();
  printDerive(derive);

  console.log(
    `\n(a) neuron updates per second: ${options.neurons.toLocaleString('en-US')}-neuron LifRef, constant 20 nA, spikes recorded; compile time excluded`,
  );
  const network = compileBenchNetwork(lifBenchSpk(options.neurons));
  const cpuPlan = buildPlan(network, options.cpuSteps);
  const throughput: ThroughputResult[] = [];
  throughput.push(await cpuThroughput(cpuPlan));
  console.log(`  cpu done (${throughput[0]!.endToEnd.seconds.toFixed(1)} s)`);
  const skipped: string[] = [];
  if (options.webgpu) {
    const gpu = await openDevice();
    if (gpu === undefined) skipped.push('webgpu: no device');
    else {
      try {
        const notes: string[] = [];
        let steps = options.gpuSteps ?? (gpu.software ? SOFTWARE_GPU_STEPS : 1000);
        if (gpu.software)
          notes.push(
            `software adapter (Mesa llvmpipe on the CPU), not a GPU${options.gpuSteps === undefined && steps < 1000 ? `: ${steps} steps instead of 1000 to keep the benchmark short` : ''}`,
          );
        steps = Math.max(1, steps);
        throughput.push(await webGpuThroughput({ ...cpuPlan, steps }, gpu, notes));
      } finally {
        gpu.close();
      }
    }
  } else skipped.push('webgpu: --no-webgpu');
  printThroughput(throughput);
  for (const s of skipped) console.log(`  skipped ${s}`);

  let coba: CobaScalingResult | undefined;
  if (options.coba) {
    console.log(
      '\n(d) COBA scaling: fixed in-degree 80, spikes recorded, wall seconds per simulated second (each size in a fresh process)',
    );
    coba = await cobaScaling({
      ...(options.cobaSizes === undefined ? {} : { sizes: options.cobaSizes }),
      webgpu: options.webgpu,
      quick: options.quick,
    });
    printCobaScaling(coba);
  } else skipped.push('coba: --no-coba');

  console.log('\n(g) CUDA');
  const cuda: CudaBenchResult = await cudaBenchmarks({ quick: options.quick });
  printCuda(cuda);

  const seconds = (performance.now() - started) / 1000;
  const loadAfter = loadavg()[0]!;
  if (loadAfter > 2.5)
    console.log(
      `note: 1-minute load average ${loadAfter.toFixed(2)} at the end (the benchmark itself accounts for about 1-2): other processes competed for the cores`,
    );
  const out = options.out ?? join(ROOT, 'bench', 'results', `${day}.json`);
  const results = {
    date: day,
    time: date.toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: {
      cpu: cpuModel(),
      cores: availableParallelism(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
    },
    loadAverage1m: { before: loadBefore, after: loadAfter },
    network: {
      model: 'LifRef',
      neurons: options.neurons,
      stimulus: '20 nA constant',
      tau_ref_ms: 2,
      dt_ms: 0.1,
      recorded: 'spikes',
      initialV: 'uniform(-68 mV, -55 mV)',
    },
    throughput,
    skipped,
    pipelineReady: pipeline,
    derive,
    cobaScaling: coba,
    cuda,
    benchSeconds: seconds,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(
    `\nresults: ${relative(process.cwd(), out)} (whole benchmark ${seconds.toFixed(0)} s)`,
  );
}

await main();
