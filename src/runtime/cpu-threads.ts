import { Worker } from 'node:worker_threads';
import type { ElementRange } from '../codegen/wasm/kernel.js';
import { InternalError } from '../diagnostics/diagnostic.js';

/**
 * Worker threads for the CPU backend's WebAssembly kernels: each worker instantiates the same
 * module on the same shared memory and runs its range of a kernel (threadRanges) while the
 * main thread runs its own; a kernel ends when every thread has done its part (a barrier per
 * kernel, since a population kernel reads what the synapse kernels before it left). Every
 * element is computed by exactly one thread, as on one thread, so the results are the same
 * bits; spikes go to per-thread lists that the host reads in thread order.
 *
 * Synchronisation is a few words of a SharedArrayBuffer: the main thread publishes a kernel
 * by bumping GENERATION, each worker adds 1 to DONE when it has finished. Both sides spin a
 * while before sleeping in Atomics.wait: a step of a large network takes tens of
 * microseconds, less than waking a sleeping thread.
 */

const GENERATION = 0;
const KERNEL = 1;
const STEP = 2;
const CHUNK_STEP = 3;
const DONE = 4;
/** Set by a worker whose kernel threw (a trap): the main thread reports it. */
const FAILED = 5;
/** The kernel index that tells the workers to stop. */
const STOP = -1;
/** Spins before sleeping: about 0.1-0.3 ms. */
const SPINS = 100_000;
/** A kernel that takes longer than this on some worker means the worker died. */
const STALL_MS = 60_000;

/** The worker's code (evaluated, so that it needs no file beside the compiled one). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, control, scratch, spikes, ranges, names, hostFunctions } = workerData;
const math = Object.fromEntries(hostFunctions.map((f) => [f, Math[f]]));
const instance = new WebAssembly.Instance(module, { env: { memory, scratch, spikes }, math });
const kernels = names.map((name) => instance.exports[name]);
const c = new Int32Array(control);
// The main thread publishes the first kernel only after every worker is ready, so the
// generation is still 0 here (reading it after 'ready' could already see the first kernel).
let seen = 0;
parentPort.postMessage('ready');
for (;;) {
  for (let spins = 0; Atomics.load(c, ${GENERATION}) === seen; spins++)
    if (spins > ${SPINS}) { Atomics.wait(c, ${GENERATION}, seen); spins = 0; }
  seen = Atomics.load(c, ${GENERATION});
  const k = c[${KERNEL}];
  if (k === ${STOP}) break;
  const range = ranges[k];
  try {
    if (range.to > range.from) kernels[k](c[${STEP}], c[${CHUNK_STEP}], range.from, range.to);
  } catch (error) {
    Atomics.store(c, ${FAILED}, 1);
  }
  Atomics.add(c, ${DONE}, 1);
  Atomics.notify(c, ${DONE});
}
`;

/** What a worker needs: the compiled module, the shared memory, and its own addresses and ranges. */
export interface WorkerSetup {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  /** Kernel function names, in step order. */
  readonly names: readonly string[];
  /** Names of the host's Math functions the module imports. */
  readonly hostFunctions: readonly string[];
  /** Per worker: its Philox scratch and spike list addresses, and its range of each kernel. */
  readonly workers: readonly {
    readonly scratch: number;
    readonly spikes: number;
    readonly ranges: readonly ElementRange[];
  }[];
}

export class KernelTeam {
  private constructor(
    private readonly workers: readonly Worker[],
    private readonly control: Int32Array,
  ) {}

  /** Starts the workers and waits until each has instantiated the module. */
  static async start(setup: WorkerSetup): Promise<KernelTeam> {
    const control = new Int32Array(new SharedArrayBuffer(4 * 8));
    const workers = setup.workers.map(
      (w) =>
        new Worker(WORKER_SOURCE, {
          eval: true,
          workerData: {
            module: setup.module,
            memory: setup.memory,
            control: control.buffer,
            names: setup.names,
            hostFunctions: setup.hostFunctions,
            scratch: w.scratch,
            spikes: w.spikes,
            ranges: w.ranges,
          },
        }),
    );
    const team = new KernelTeam(workers, control);
    try {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              w.once('message', () => resolve());
              w.once('error', reject);
              w.once('exit', (code) => reject(new Error(`a worker exited with code ${code}`)));
            }),
        ),
      );
    } catch (error) {
      team.dispose();
      throw error;
    }
    // A worker waiting in Atomics.wait must not keep node alive once the run is over.
    for (const w of workers) w.unref();
    return team;
  }

  /**
   * Runs kernel k of a step: the workers their ranges, this thread `ownPart`; returns when
   * all are done.
   */
  run(k: number, step: number, chunkStep: number, ownPart: () => void): void {
    const c = this.control;
    Atomics.store(c, DONE, 0);
    c[KERNEL] = k;
    c[STEP] = step | 0;
    c[CHUNK_STEP] = chunkStep;
    Atomics.add(c, GENERATION, 1);
    Atomics.notify(c, GENERATION);
    ownPart();
    let spins = 0;
    let waitedSince: number | undefined;
    for (
      let done = Atomics.load(c, DONE);
      done < this.workers.length;
      done = Atomics.load(c, DONE)
    ) {
      if (++spins < SPINS) continue;
      waitedSince ??= performance.now();
      if (performance.now() - waitedSince > STALL_MS)
        throw new InternalError(
          `a CPU worker thread stopped answering (kernel ${k}, step ${step})`,
        );
      Atomics.wait(c, DONE, done, 100);
    }
    if (Atomics.load(c, FAILED) !== 0)
      throw new InternalError(`a CPU worker thread failed in kernel ${k} at step ${step}`);
  }

  /** Stops the workers (they also never keep node alive: they are unref'd). */
  dispose(): void {
    const c = this.control;
    c[KERNEL] = STOP;
    Atomics.add(c, GENERATION, 1);
    Atomics.notify(c, GENERATION);
    for (const w of this.workers) void w.terminate();
  }
}
