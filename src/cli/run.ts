import { runLengthProblem, stepsIn } from '../codegen/steps.js';
import { performance } from 'node:perf_hooks';
import { count, renderDiagnostic } from '../diagnostics/diagnostic.js';
import { type Target, buildPlan, generateSource, manifest } from '../codegen/module.js';
import type { Network } from '../ir/types.js';
import { compileFiles } from '../pipeline.js';
import type { Backend } from '../runtime/backend.js';
import { type BackendChoice, openBackend } from '../runtime/select.js';
import { OutputWriter, isRunOutputName } from '../runtime/output.js';
import { type NonFiniteState, nonFiniteWarnings } from '../runtime/non-finite.js';
import { simulate } from '../runtime/simulate.js';
import { formatDimension, substituteWeight } from '../units/dimension.js';
import { literalToInternal, lookupUnit } from '../units/units.js';
import { type Io, UsageError } from './io.js';
import { type FileToWrite, makeFolder, writeFilesAtomic } from '../runtime/write-file.js';
import { basename, dirname, join } from 'node:path';
import { ProgressReport } from './progress.js';
import { folderNotes } from './folder-notes.js';
import { networkFor, planFor } from './stages.js';
import type { Precision } from '../codegen/printer.js';
import { standaloneFiles } from '../codegen/cuda/standalone.js';

export interface RunOptions {
  readonly file: string;
  readonly network?: string;
  readonly backend: BackendChoice;
  readonly duration?: string;
  readonly dt?: string;
  readonly seed?: string;
  readonly threads?: string;
  readonly out: string;
}

/** `1000 ms`, `1 s`, `0.1ms` or a bare number of ms, in ms. */
export function parseTime(text: string, option: string): number {
  const match = /^\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = lookupUnit(match?.[2] === '' || match?.[2] === undefined ? 'ms' : match[2]);
  if (match === null || unit === undefined || formatDimension(unit.dimension) !== 'ms') {
    throw new UsageError(`${option} takes a time such as '100 ms' or '1 s', not '${text}'`);
  }
  const value = literalToInternal(match[1]!, unit.pow10);
  if (!(value > 0)) throw new UsageError(`${option} must be positive, not '${text}'`);
  return value;
}

/** The network to run: the one named, or the only one in the file. */
function pickNetwork(networks: ReadonlyMap<string, Network>, name: string | undefined): Network {
  if (name !== undefined) {
    const n = networks.get(name);
    if (n === undefined)
      throw new UsageError(
        `no network '${name}'; the file defines ${[...networks.keys()].join(', ') || 'none'}`,
      );
    return n;
  }
  const [only, ...others] = networks.values();
  if (only === undefined) throw new UsageError('the file defines no network to run');
  if (others.length > 0)
    throw new UsageError(
      `the file defines several networks (${[...networks.keys()].join(', ')}); choose one with --network`,
    );
  return only;
}

/** `spikeforge run`: compile, simulate on the chosen backend, write spikes, traces, summary and plots. */
export async function runCommand(options: RunOptions, io: Io): Promise<number> {
  const compileStart = performance.now();
  const result = compileFiles([options.file]);
  for (const d of result.diagnostics.items) io.err(renderDiagnostic(d));
  if (result.program === undefined) return 1;
  const base = pickNetwork(result.program.networks, options.network);
  const network: Network = {
    ...base,
    ...(options.dt === undefined ? {} : { dt: parseTime(options.dt, '--dt') }),
    ...(options.duration === undefined
      ? {}
      : { duration: parseTime(options.duration, '--duration') }),
    ...(options.seed === undefined ? {} : { seed: parseSeed(options.seed) }),
  };
  const problem = runLengthProblem(network.duration, network.dt);
  if (problem !== undefined) throw new UsageError(problem);
  // Rounded, not truncated: 0.3 ms / 0.1 ms is 3 steps (BrainPy's int() would give 2).
  const steps = stepsIn(network.duration, network.dt);
  const plan = buildPlan(network, steps);
  let backend: Backend | undefined;
  try {
    backend = await openBackend(options.backend, plan, io, {
      ...(options.threads === undefined ? {} : { threads: parseThreads(options.threads) }),
    });
    const compileSeconds = (performance.now() - compileStart) / 1000;
    const units = new Map<string, string>();
    for (const r of network.recordings) {
      const population = network.populations.find((p) => p.name === r.population);
      const projection = network.projections.find((p) => p.name === r.population);
      const model =
        r.of === 'projection'
          ? projection?.synapse.model
          : population?.source.kind === 'neuron'
            ? population.source.model
            : undefined;
      const d =
        projection !== undefined && r.variable === 'w'
          ? projection.weightDimension
          : model === undefined
            ? undefined
            : result.program.dimensions.get(model.name)?.get(r.variable);
      // A synapse state declared in `weight` is in the unit of the projection's weights.
      if (d !== undefined)
        units.set(
          `${r.population}.${r.variable}`,
          formatDimension(
            projection === undefined ? d : substituteWeight(d, projection.weightDimension),
          ),
        );
    }
    const progress = new ProgressReport(network.name, steps, network.dt, io);
    // Interrupted (Ctrl-C, kill), the run leaves no partly written file behind. Listening starts
    // before the writer makes its first temporary file (with no listener a signal ends the
    // process at once) and stops once the files are complete.
    let writer: OutputWriter | undefined;
    const interrupted = (signal: NodeJS.Signals): void => {
      progress.finish();
      writer?.abandon();
      io.err(`spikeforge run: interrupted (${signal}); nothing was written to ${options.out}`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
    let summary: Record<string, unknown>;
    let wallSeconds: number;
    let warnings: ReturnType<typeof nonFiniteWarnings>;
    // As the command line names it: the float64 CPU backend is cpu64.
    const backendName =
      backend.name === 'cpu' && backend.precision === 'f64' ? 'cpu64' : backend.name;
    try {
      const output = (writer = new OutputWriter(options.out, plan, backend.precision));
      let nonFinite: readonly NonFiniteState[];
      ({ wallSeconds, nonFinite } = await simulate(plan, backend, output, (done) =>
        progress.update(done),
      )
        .catch((e: unknown) => {
          output.abandon();
          throw e;
        })
        .finally(() => progress.finish()));
      warnings = nonFiniteWarnings(plan, nonFinite);
      summary = output.finish(
        {
          backend: backendName,
          device: backend.device,
          wallSeconds,
          compileSeconds,
          warnings: warnings.summary,
        },
        units,
      );
    } finally {
      process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    }
    io.out(
      `${network.name}: ${count(steps, 'step')} of ${network.dt} ms on ${backendName} (${backend.device}) in ${wallSeconds.toFixed(2)} s; results in ${options.out}`,
    );
    for (const note of folderNotes({
      command: 'run',
      dir: options.out,
      written: writer.files,
      isOutputName: isRunOutputName,
      kind: 'result',
      origin: 'from an earlier run?',
    }))
      io.err(note);
    for (const [name, p] of Object.entries(
      summary['populations'] as Record<
        string,
        { spikes?: number; mean_rate_hz?: number; isi_cv_mean?: number }
      >,
    )) {
      const cv = p.isi_cv_mean === undefined ? '' : `, ISI CV ${p.isi_cv_mean.toFixed(2)}`;
      if (p.spikes !== undefined)
        io.out(
          `  ${name}: ${count(p.spikes, 'spike')}, mean rate ${p.mean_rate_hz?.toFixed(2)} Hz${cv}`,
        );
    }
    // A warning, not an error: the results are written and the exit code stays 0.
    for (const d of warnings.diagnostics) io.err(renderDiagnostic(d));
    return 0;
  } finally {
    backend?.dispose();
  }
}

function parseThreads(text: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1 || v > 256)
    throw new UsageError(`--threads takes a whole number from 1 to 256, not '${text}'`);
  return v;
}

function parseSeed(text: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32)
    throw new UsageError(`--seed takes a whole number from 0 to 4294967295, not '${text}'`);
  return v;
}

export interface CompileOptions {
  /** float or double (CUDA only; the WGSL and JavaScript kernels are float32). */
  readonly precision?: Precision;
  /** With --target cuda: a folder with a host program, data files and CMakeLists.txt (codegen/cuda/standalone.ts). */
  readonly standalone?: boolean;
}

/**
 * `spikeforge compile`: the kernels of a network (or of one neuron model) and a manifest. The
 * files are written as a set (writeFilesAtomic): interrupted (Ctrl-C, kill) while they are
 * written, it leaves none of them; before that nothing is on disk yet.
 */
export async function compileCommand(
  file: string,
  target: Target,
  networkName: string | undefined,
  out: string,
  io: Io,
  options: CompileOptions = {},
): Promise<number> {
  const precision = options.precision ?? 'f32';
  if (precision !== 'f32' && target !== 'cuda' && target !== 'js')
    throw new UsageError(
      `--precision ${precision} is for --target cuda or js (the ${target} kernels are float32)`,
    );
  if (options.standalone === true && target !== 'cuda')
    throw new UsageError('--standalone is for --target cuda');
  const result = compileFiles([file]);
  for (const d of result.diagnostics.items) io.err(renderDiagnostic(d));
  if (result.program === undefined) return 1;
  const compiled = result as Required<typeof result>;
  const network =
    networkName === undefined && compiled.program.networks.size === 0
      ? undefined
      : pickNetwork(compiled.program.networks, networkName);
  const networks =
    network === undefined
      ? [...compiled.program.models.values()]
          .filter((m) => m.kind === 'neuron')
          .map((m) => networkFor(compiled, m.name))
      : [network];
  if (networks.length === 0)
    throw new UsageError(`${file} defines no network and no neuron model: nothing to compile`);
  const files: FileToWrite[] = [];
  const reports: string[] = [];
  for (const n of networks) {
    if (options.standalone === true) {
      // The whole run, as `spikeforge run` would do it; one folder per network when there are several (models).
      const plan = planFor(n, stepsIn(n.duration, n.dt));
      const dir = networks.length === 1 ? out : join(out, n.name);
      const written = standaloneFiles(plan, generateSource(plan, 'cuda', precision), {
        precision,
      });
      files.push(...written.map((f) => ({ path: join(dir, f.name), data: f.data })));
      reports.push(
        `wrote ${dir}: ${written.map((f) => f.name).join(', ')} (build: cmake -S ${dir} -B ${join(dir, 'build')} && cmake --build ${join(dir, 'build')})`,
      );
      continue;
    }
    const plan = planFor(n);
    const extension = KERNEL_EXTENSIONS[target];
    files.push(
      { path: join(out, `${n.name}.${extension}`), data: generateSource(plan, target, precision) },
      {
        path: join(out, `${n.name}.manifest.json`),
        data: `${JSON.stringify(manifest(plan, target, precision), null, 2)}\n`,
      },
    );
    reports.push(`wrote ${join(out, `${n.name}.${extension}`)} and ${n.name}.manifest.json`);
  }
  const dirs = new Set(files.map((f) => dirname(f.path)));
  for (const dir of dirs) makeFolder(dir);
  let signal: NodeJS.Signals | undefined;
  const interrupted = (s: NodeJS.Signals): void => void (signal = s);
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    if (!(await writeFilesAtomic(files, () => signal !== undefined))) {
      io.err(`spikeforge compile: interrupted (${signal}); nothing was written to ${out}`);
      return signal === 'SIGINT' ? 130 : 143;
    }
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
  }
  for (const r of reports) io.out(r);
  for (const dir of dirs)
    for (const note of folderNotes({
      command: 'compile',
      dir,
      written: new Set(files.filter((f) => dirname(f.path) === dir).map((f) => basename(f.path))),
      isOutputName: isCompileOutputName,
      kind: 'compiled',
      origin: 'of another network or target?',
    }))
      io.err(note);
  return 0;
}

/** The extension of a target's kernel file. */
const KERNEL_EXTENSIONS: Readonly<Record<Target, string>> = {
  wgsl: 'wgsl',
  js: 'js',
  cuda: 'cu',
  wasm: 'wat',
};

/** Whether compile writes files of this name: `NETWORK.EXT` (KERNEL_EXTENSIONS) and `NETWORK.manifest.json`. */
function isCompileOutputName(name: string): boolean {
  const [network, ...rest] = name.split('.');
  return (
    /^[A-Za-z_]\w*$/.test(network!) &&
    (rest.join('.') === 'manifest.json' ||
      (rest.length === 1 && Object.values(KERNEL_EXTENSIONS).includes(rest[0]!)))
  );
}
