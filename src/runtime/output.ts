import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { makeFolder, naming, temporaryName, writeFileAtomic } from './write-file.js';
import type { Route } from '../codegen/network.js';
import type { Precision } from '../codegen/printer.js';
import { AsciiBuffer, COMMA, NEWLINE } from './ascii-buffer.js';
import { formatTime, writeValue } from './format-number.js';
import type { Chunk, SimulationPlan, TraceRequest } from './backend.js';
import { IsiStatistics } from './isi-statistics.js';
import { type RasterGroup, rasterSvg, traceSvg } from './plots.js';

/**
 * A file written line by line under a temporary name and renamed when complete. A file-system
 * error names the file (naming).
 */
class StreamedFile {
  private readonly temporary: string;
  private readonly fd: number;

  constructor(
    readonly path: string,
    header: string,
  ) {
    this.temporary = temporaryName(path);
    this.fd = naming(path, () => openSync(this.temporary, 'w'));
    try {
      this.writeBytes(ASCII.encode(`${header}\n`));
    } catch (error) {
      this.abandon();
      throw error;
    }
  }

  writeBytes(bytes: Uint8Array): void {
    if (bytes.length > 0) naming(this.path, () => writeSync(this.fd, bytes));
  }

  commit(): void {
    naming(this.path, () => {
      closeSync(this.fd);
      renameSync(this.temporary, this.path);
    });
  }

  /** Closes and removes the temporary file: nothing of it is left. */
  abandon(): void {
    closeSync(this.fd);
    rmSync(this.temporary, { force: true });
  }
}

const ASCII = new TextEncoder();

/** `N.V`, or `N.V.3-5` when the same value is recorded more than once (each range gets its own file). */
export function traceFileStem(plan: SimulationPlan, t: TraceRequest): string {
  const same = plan.traces.filter((x) => x.label === t.label);
  return same.length === 1 ? t.label : `${t.label}.${t.range.start}-${t.range.end}`;
}

/**
 * Whether a run writes files of this name: spikes.csv, summary.json, raster.svg, and
 * `POP.VAR.csv`, `POP.VAR.svg` or `POP.VAR.3-5.csv` (traceFileStem) for a trace, and
 * `PROJ.w.synapses.csv` for a per-synapse one.
 */
export function isRunOutputName(name: string): boolean {
  return /^(?:spikes\.csv|summary\.json|raster\.svg|[A-Za-z_]\w*\.[A-Za-z_]\w*(?:\.\d+-\d+)?\.(?:csv|svg|synapses\.csv))$/.test(
    name,
  );
}

/** Caps what is kept in memory for plots; the CSV files get everything. */
const MAX_RASTER_SPIKES = 2_000_000;
const MAX_TRACE_POINTS = 20_000;
const MAX_PLOTTED_SERIES = 16;
/** The rate under the raster is counted in at most this many bins. */
const RATE_BINS = 500;

/** The route of a trace of per-synapse state in stored rows (its columns are synapses), or undefined. */
export function recordedSynapses(plan: SimulationPlan, t: TraceRequest): Route | undefined {
  const owner = /^@synapse(\d+)$/.exec(t.population);
  const route =
    owner === null ? undefined : plan.routing.routes.find((r) => r.index === Number(owner[1]));
  return route?.connectivity.kind === 'rows' ? route : undefined;
}

/**
 * For a trace of per-synapse state (`record S.w`), whose columns are synapses: each
 * recorded synapse's pre and post neuron, as indices in their populations (as spikes.csv
 * gives them), Brian2's S.i and S.j. Undefined for other traces.
 */
export function synapseTable(plan: SimulationPlan, t: TraceRequest): Uint8Array | undefined {
  const route = recordedSynapses(plan, t);
  if (route?.connectivity.kind !== 'rows') return undefined;
  const { outSources, outTargets } = route.connectivity.rows;
  const { preRange, postRange } = route.projection;
  const lines = new AsciiBuffer();
  lines.ascii('synapse,pre,post\n');
  for (let k = t.range.start; k < t.range.end; k++) {
    lines.digits(k);
    lines.byte(COMMA);
    lines.digits(preRange.start + outSources[k]!);
    lines.byte(COMMA);
    lines.digits(postRange.start + outTargets[k]!);
    lines.byte(NEWLINE);
  }
  return lines.view().slice();
}

/** The rows of one trace kept for its plot: every stride-th recorded row. */
interface TracePlot {
  readonly stride: number;
  readonly times: Float64Array;
  /** Per plotted element, its values at `times`. */
  readonly values: Float64Array[];
  /** How many points are filled. */
  count: number;
}

export interface RunInfo {
  readonly backend: string;
  readonly device: string;
  readonly wallSeconds: number;
  readonly compileSeconds: number;
  /** summary.json's `warnings` (non-finite.ts), written only when there are some. */
  readonly warnings?: readonly object[];
}

/**
 * Writes a run's results into a folder as they arrive: spikes.csv, one
 * `<population>.<var>.csv` per trace, then summary.json and SVG plots.
 * Every file appears complete or not at all.
 */
export class OutputWriter {
  private readonly spikesFile: StreamedFile;
  private readonly traceFiles: StreamedFile[];
  private readonly spikeCounts = new Map<string, number>();
  private readonly isi = new Map<string, IsiStatistics>();
  /** Spikes per bin of rateBinSteps steps, per recorded population: the rate under the raster. */
  private readonly rateCounts = new Map<string, Float64Array>();
  private readonly rateBinSteps: number;
  private readonly raster = new Map<string, { times: number[]; indices: number[] }>();
  /** Per trace, the rows kept for its plot (of its first MAX_PLOTTED_SERIES elements). */
  private readonly tracePlots: TracePlot[];
  /** The text of a chunk's lines, one file at a time. */
  private readonly lines = new AsciiBuffer();
  /** The names of the files finish() has written into the folder. */
  readonly files = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly plan: SimulationPlan,
    private readonly precision: Precision = 'f32',
  ) {
    makeFolder(dir);
    // A file that cannot be begun (no space left) ends the run: those begun are removed.
    const begun: StreamedFile[] = [];
    try {
      begun.push(new StreamedFile(join(dir, 'spikes.csv'), 't_ms,population,index'));
      for (const t of plan.traces) {
        const header = [
          't_ms',
          ...Array.from({ length: t.range.end - t.range.start }, (_, k) =>
            String(t.range.start + k),
          ),
        ];
        begun.push(new StreamedFile(join(dir, `${traceFileStem(plan, t)}.csv`), header.join(',')));
      }
    } catch (error) {
      for (const f of begun) f.abandon();
      throw error;
    }
    this.spikesFile = begun[0]!;
    this.traceFiles = begun.slice(1);
    this.tracePlots = plan.traces.map((t) => {
      const rows = Math.floor(plan.steps / t.every);
      const stride = Math.max(1, Math.ceil(rows / MAX_TRACE_POINTS));
      const points = Math.ceil(rows / stride);
      return {
        stride,
        times: new Float64Array(points),
        values: Array.from(
          { length: Math.min(MAX_PLOTTED_SERIES, t.range.end - t.range.start) },
          () => new Float64Array(points),
        ),
        count: 0,
      };
    });
    this.rateBinSteps = Math.max(1, Math.ceil(plan.steps / RATE_BINS));
    for (const p of plan.spikeRecords) {
      this.raster.set(p, { times: [], indices: [] });
      this.rateCounts.set(p, new Float64Array(Math.ceil(plan.steps / this.rateBinSteps)));
      const size = plan.network.populations.find((x) => x.name === p)?.size ?? 0;
      this.isi.set(p, new IsiStatistics(size));
    }
  }

  add(chunk: Chunk): void {
    const dt = this.plan.network.dt;
    // The time of step firstStep + k, as spikes (k < steps) and trace rows (k >= 1) print it:
    // formatted once for every file.
    const labels: (Uint8Array | undefined)[] = [];
    const timeOf = (k: number): Uint8Array =>
      (labels[k] ??= ASCII.encode(formatTime((chunk.firstStep + k) * dt)));
    this.addSpikes(chunk, timeOf);
    this.addTraces(chunk, timeOf);
  }

  /** The chunk's spikes: counted, kept for the raster and ISIs, and written to spikes.csv. */
  private addSpikes(chunk: Chunk, timeOf: (k: number) => Uint8Array): void {
    const dt = this.plan.network.dt;
    const populations = [...chunk.spikes.keys()].filter((p) => this.raster.has(p));
    const lists = populations.map((population) => {
      const spikes = chunk.spikes.get(population)!;
      this.spikeCounts.set(
        population,
        (this.spikeCounts.get(population) ?? 0) + spikes.steps.length,
      );
      this.isi.get(population)?.add(spikes.steps, spikes.indices);
      const rate = this.rateCounts.get(population)!;
      for (const step of spikes.steps) rate[Math.floor(step / this.rateBinSteps)]! += 1;
      const raster = this.raster.get(population)!;
      for (let k = 0; k < spikes.steps.length; k++) {
        if (raster.times.length >= MAX_RASTER_SPIKES) break;
        raster.times.push(spikes.steps[k]! * dt);
        raster.indices.push(spikes.indices[k]!);
      }
      return spikes;
    });
    // Chronological across populations: by step, then population order, then index. Each list
    // is ordered by step then index already (Chunk), so a merge by step does it.
    const next = lists.map(() => 0);
    const names = populations.map((p) => ASCII.encode(`${p},`));
    const lines = this.lines;
    lines.clear();
    for (;;) {
      let step = Infinity;
      lists.forEach((l, o) => {
        if (next[o]! < l.steps.length) step = Math.min(step, l.steps[next[o]!]!);
      });
      if (step === Infinity) break;
      const time = timeOf(step - chunk.firstStep);
      lists.forEach((l, o) => {
        for (let k = next[o]!; k < l.steps.length && l.steps[k] === step; k = ++next[o]!) {
          lines.text(time);
          lines.byte(COMMA);
          lines.text(names[o]!);
          lines.digits(l.indices[k]!);
          lines.byte(NEWLINE);
        }
      });
    }
    this.spikesFile.writeBytes(lines.view());
  }

  /**
   * The chunk's trace rows: the steps each trace records (every `every`-th) written to its CSV
   * file, every stride-th of those kept for its plot.
   */
  private addTraces(chunk: Chunk, timeOf: (k: number) => Uint8Array): void {
    const dt = this.plan.network.dt;
    const lines = this.lines;
    this.plan.traces.forEach((request, r) => {
      const width = request.range.end - request.range.start;
      const values = chunk.traces[r]!;
      const plot = this.tracePlots[r]!;
      lines.clear();
      for (let s = 0; s < chunk.steps; s++) {
        const step = chunk.firstStep + s;
        if ((step + 1) % request.every !== 0) continue;
        // A trace row shows the state after step n, labelled t_n + dt.
        lines.text(timeOf(s + 1));
        for (let k = 0; k < width; k++) {
          lines.byte(COMMA);
          writeValue(lines, values[s * width + k]!, this.precision);
        }
        lines.byte(NEWLINE);
        const row = (step + 1) / request.every - 1;
        if (row % plot.stride === 0) {
          const point = row / plot.stride;
          plot.times[point] = (step + 1) * dt;
          plot.values.forEach((series, k) => {
            series[point] = values[s * width + k]!;
          });
          plot.count = point + 1;
        }
      }
      this.traceFiles[r]!.writeBytes(lines.view());
    });
  }

  /** After a failed run: removes the partly written files, so that no incomplete file is left. */
  abandon(): void {
    this.spikesFile.abandon();
    for (const f of this.traceFiles) f.abandon();
  }

  /** Completes every file: the CSVs are renamed into place, then summary.json and the plots are written. */
  finish(info: RunInfo, units: ReadonlyMap<string, string>): Record<string, unknown> {
    for (const f of [this.spikesFile, ...this.traceFiles]) {
      f.commit();
      this.files.add(basename(f.path));
    }
    this.plan.traces.forEach((t) => {
      const table = synapseTable(this.plan, t);
      if (table !== undefined) this.write(`${traceFileStem(this.plan, t)}.synapses.csv`, table);
    });
    const durationMs = this.plan.steps * this.plan.network.dt;
    const populations: Record<string, unknown> = {};
    for (const p of this.plan.network.populations) {
      const spikes = this.spikeCounts.get(p.name);
      const isi = this.isi.get(p.name)?.result();
      populations[p.name] = {
        size: p.size,
        ...(spikes === undefined
          ? {}
          : { spikes, mean_rate_hz: spikes / p.size / (durationMs / 1000) }),
        ...(isi === undefined ? {} : { isi_cv_mean: isi.meanCv, isi_cv_neurons: isi.neurons }),
      };
    }
    const summary = {
      network: this.plan.network.name,
      backend: info.backend,
      device: info.device,
      dt_ms: this.plan.network.dt,
      steps: this.plan.steps,
      duration_ms: durationMs,
      wall_s: info.wallSeconds,
      compile_s: info.compileSeconds,
      seed: this.plan.network.seed,
      populations,
      ...(info.warnings === undefined || info.warnings.length === 0
        ? {}
        : { warnings: info.warnings }),
    };
    this.write('summary.json', `${JSON.stringify(summary, null, 2)}\n`);
    const binMs = this.rateBinSteps * this.plan.network.dt;
    const groups: RasterGroup[] = [...this.raster].map(([name, r]) => {
      const size = this.plan.network.populations.find((p) => p.name === name)?.size ?? 0;
      // The last bin may be shorter than the others.
      const hz = Array.from(this.rateCounts.get(name)!, (count, b) => {
        const steps = Math.min(this.rateBinSteps, this.plan.steps - b * this.rateBinSteps);
        return count / Math.max(1, size) / ((steps * this.plan.network.dt) / 1000);
      });
      return { name, size, times: r.times, indices: r.indices, rate: { binMs, hz } };
    });
    if (groups.length > 0)
      this.write('raster.svg', rasterSvg(`${this.plan.network.name}: spikes`, groups, durationMs));
    this.plan.traces.forEach((t, r) => {
      const unit = units.get(t.label) ?? '';
      const [owner = '', variable = ''] = t.label.split('.');
      const plot = this.tracePlots[r]!;
      const series = plot.values.map((values, k) => ({
        label: `${owner}[${t.range.start + k}]`,
        values: values.subarray(0, plot.count),
      }));
      const width = t.range.end - t.range.start;
      const shown = series.length < width ? ` (first ${series.length} of ${width})` : '';
      const svg = traceSvg(
        `${this.plan.network.name}: ${t.label}${shown}`,
        `${variable}${unit === '' ? '' : ` (${unit})`}`,
        plot.times.subarray(0, plot.count),
        series,
      );
      this.write(`${traceFileStem(this.plan, t)}.svg`, svg);
    });
    return summary;
  }

  private write(name: string, text: string | Uint8Array): void {
    writeFileAtomic(join(this.dir, name), text);
    this.files.add(name);
  }
}
