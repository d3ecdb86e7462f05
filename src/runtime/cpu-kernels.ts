import wabt from 'wabt';
import { kernelPrinter } from '../codegen/emit.js';
import { JS_KERNEL_PARAMETERS, emitJsPopulation } from '../codegen/js/kernel.js';
import { JsPrinter } from '../codegen/js/printer.js';
import { entryPointName } from '../codegen/kernel-ir.js';
import type { BufferLayout } from '../codegen/layout.js';
import type { Precision } from '../codegen/printer.js';
import {
  type ElementRange,
  emitWasmModule,
  threadRanges,
  wasmMemoryPlan,
  wasmPages,
} from '../codegen/wasm/kernel.js';
import { KernelTeam } from './cpu-threads.js';
import { SCRATCH_BYTES } from '../codegen/wasm/element.js';
import { hostMath } from '../codegen/wasm/printer.js';
import { InternalError } from '../diagnostics/diagnostic.js';
import { boxMuller, randomU32x4, u32ToUniform01 } from '../random/philox.js';
import type { SimulationPlan } from './backend.js';
import { deliverInJs } from './cpu-delivery.js';

/**
 * The (chunk step, global index) pairs of a chunk's spikes, appended step by step: a
 * Uint32Array that doubles when full (a JavaScript array of numbers cost 50 ns per spike).
 */
export class SpikePairs {
  private words = new Uint32Array(1024);
  length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.words.length) return;
    let size = this.words.length;
    while (size < this.length + extra) size *= 2;
    const grown = new Uint32Array(size);
    grown.set(this.words.subarray(0, this.length));
    this.words = grown;
  }

  /** One spike: what the JavaScript kernels call (`sf_spikes.push(chunkStep, index)`). */
  push(chunkStep: number, index: number): void {
    this.reserve(2);
    this.words[this.length] = chunkStep;
    this.words[this.length + 1] = index;
    this.length += 2;
  }

  /** Pairs already laid out as words. */
  append(pairs: Uint32Array): void {
    this.reserve(pairs.length);
    this.words.set(pairs, this.length);
    this.length += pairs.length;
  }

  clear(): void {
    this.length = 0;
  }

  /** The pairs so far (a view, valid until the next append or clear). */
  view(): Uint32Array {
    return this.words.subarray(0, this.length);
  }
}

/**
 * A network's kernels compiled for the CPU, with the buffers they work on: `state`, `events`
 * (rings and counters, which the host's delivery fills between steps) and `record` (rows of
 * one chunk).
 */
export interface CpuKernels {
  readonly state: Float32Array | Float64Array;
  readonly events: Uint32Array;
  readonly record: Float32Array | Float64Array;
  /** The generated source: JavaScript, or WebAssembly text. */
  readonly source: string;
  /** Runs every kernel of one step; the step's spikes are appended as (chunk step, global index). */
  step(step: number, chunkStep: number, spikes: SpikePairs): void;
  /** Threads that run the kernels. */
  readonly threads: number;
  /** Stops any worker threads. */
  dispose(): void;
  /** Step 1 of a step: delivers the spikes that arrive in it, then empties its ring slots. */
  deliver(step: number): void;
}

/**
 * How the CPU backend runs its kernels: WebAssembly (float32), four elements at a time where
 * a kernel allows it (`wasm`) or one at a time (`wasm-one-lane`, the reference the four-lane
 * code is tested against), or JavaScript (either precision).
 */
export type CpuKernelLanguage = 'wasm' | 'wasm-one-lane' | 'js';

/** Philox draws for the kernels, keyed by the network seed (rounded to float32 when `round` is). */
function randomRuntime(seed: number, round: (x: number) => number) {
  return {
    normal: (stream: number, index: number, step: number, purpose: number): number => {
      const w = randomU32x4(seed, stream >>> 0, index, step, purpose);
      return round(boxMuller(w[0], w[1])[0]);
    },
    uniform: (stream: number, index: number, step: number, purpose: number): number =>
      u32ToUniform01(randomU32x4(seed, stream >>> 0, index, step, purpose)[0]),
  };
}

type StepFunction = (
  state: Float32Array | Float64Array,
  record: Float32Array | Float64Array,
  spikes: SpikePairs,
  rt: ReturnType<typeof randomRuntime>,
  step: number,
  chunkStep: number,
  events: Uint32Array,
  conn: Uint32Array,
) => void;

/** The kernels as JavaScript functions (`new Function`), float32 through Math.fround or float64. */
export function jsKernels(
  plan: SimulationPlan,
  layout: BufferLayout,
  precision: Precision,
  recordSteps: number,
): CpuKernels {
  const printer = kernelPrinter(new JsPrinter({ precision }));
  const bodies = plan.kernels.map((k) => emitJsPopulation(k, layout, printer, precision));
  // Kernels first: the prelude holds only the helpers they call.
  const prelude = printer.prelude();
  const functions = bodies.map(
    (b) => new Function(...JS_KERNEL_PARAMETERS, `'use strict';\n${prelude}\n${b}`) as StepFunction,
  );
  const State = precision === 'f32' ? Float32Array : Float64Array;
  const state = new State(layout.totalStateFloats);
  const record = new State(layout.recordRow * recordSteps);
  const events = new Uint32Array(layout.ringWords + layout.countWords);
  const rt = randomRuntime(plan.network.seed, precision === 'f32' ? Math.fround : (x) => x);
  const conn = layout.connectivity;
  return {
    state,
    events,
    record,
    deliver: (step) => deliverInJs(layout, events, step, plan.network.seed),
    source: [prelude, ...bodies].join('\n\n'),
    threads: 1,
    step: (step, chunkStep, spikes) => {
      for (const f of functions) f(state, record, spikes, rt, step, chunkStep, events, conn);
    },
    dispose: () => {},
  };
}

let assembler: ReturnType<typeof wabt> | undefined;

/** How the WebAssembly kernels run: four lanes or one, and on which threads. */
export interface WasmOptions {
  /** Four elements at a time where a kernel allows it (default true). */
  readonly simd?: boolean;
  /** Each thread's elements of each kernel, this thread first (threadRanges; default: one thread). */
  readonly ranges?: readonly (readonly ElementRange[])[];
  /** The connectivity in the module's memory and the delivery in the module (default true), or on the host. */
  readonly deliveryInModule?: boolean;
}

/**
 * The kernels as one WebAssembly module (float32 instructions, src/codegen/wasm), on one
 * memory that holds every buffer; the host takes each step's spikes from it. With more than
 * one thread the memory is shared and worker threads run their parts of the large kernels
 * (cpu-threads.ts).
 */
export async function wasmKernels(
  plan: SimulationPlan,
  layout: BufferLayout,
  recordSteps: number,
  options: WasmOptions = {},
): Promise<CpuKernels> {
  const ranges = options.ranges ?? threadRanges(plan.kernels, 1);
  const threads = ranges.length;
  // Kernels some worker has a part of; the others run on this thread without a barrier.
  const parallel = plan.kernels.map((_, k) =>
    ranges.some((own, t) => t > 0 && own[k]!.to > own[k]!.from),
  );
  const memoryPlan = wasmMemoryPlan(
    plan.kernels,
    layout,
    recordSteps,
    ranges,
    options.deliveryInModule ?? true,
  );
  const source = emitWasmModule(
    plan.kernels,
    layout,
    memoryPlan,
    plan.network.seed,
    options.simd ?? true,
  );
  assembler ??= wabt();
  const parsed = (await assembler).parseWat('kernels.wat', source, { threads: true });
  let module: WebAssembly.Module;
  try {
    // V8 validates the module: wabt's validate() rejects shared memories whatever its features.
    // A copy on an ArrayBuffer of its own (the assembler's may be shared, which Module refuses).
    // With the functions' names, which profilers show.
    const binary = parsed.toBinary({ write_debug_names: true }).buffer;
    module = new WebAssembly.Module(new Uint8Array(binary));
  } catch (error) {
    throw new InternalError(
      `the generated WebAssembly does not assemble: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    parsed.destroy();
  }
  const pages = wasmPages(memoryPlan);
  const memory =
    threads > 1
      ? new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true })
      : new WebAssembly.Memory({ initial: pages });
  const instance = new WebAssembly.Instance(module, {
    env: { memory, scratch: memoryPlan.scratch, spikes: memoryPlan.spikes[0]! },
    math: hostMath(),
  });
  const names = plan.kernels.map((k) => entryPointName(k.population));
  const functions = names.map((name) =>
    exported<(step: number, chunkStep: number, from: number, to: number) => void>(instance, name),
  );
  const team =
    threads > 1
      ? await KernelTeam.start({
          module,
          memory,
          names,
          hostFunctions: Object.keys(hostMath()),
          workers: ranges.slice(1).map((own, w) => ({
            scratch: memoryPlan.scratch + SCRATCH_BYTES * (w + 1),
            spikes: memoryPlan.spikes[w + 1]!,
            ranges: own,
          })),
        })
      : undefined;
  const buffer = memory.buffer;
  if (memoryPlan.deliveryInModule)
    layout.writeConnectivity(new Uint32Array(buffer, memoryPlan.conn, layout.connectivityWords));
  const words = new Uint32Array(buffer);
  const events = new Uint32Array(buffer, memoryPlan.events, layout.ringWords + layout.countWords);
  const own = ranges[0]!;
  return {
    state: new Float32Array(buffer, memoryPlan.state, layout.totalStateFloats),
    events,
    deliver: memoryPlan.deliveryInModule
      ? exported<(step: number) => void>(instance, 'sf_deliver')
      : (step) => deliverInJs(layout, events, step, plan.network.seed),
    record: new Float32Array(buffer, memoryPlan.record, layout.recordRow * recordSteps),
    source,
    threads,
    step: (step, chunkStep, spikes) => {
      functions.forEach((f, k) => {
        const { from, to } = own[k]!;
        if (team !== undefined && parallel[k])
          team.run(k, step, chunkStep, () => f(step, chunkStep, from, to));
        else f(step, chunkStep, from, to);
      });
      // Thread by thread: each holds ascending elements of every kernel, so each population's
      // spikes stay in index order.
      for (const list of memoryPlan.spikes) {
        const count = words[list / 4]!;
        if (count > 0) spikes.append(words.subarray(list / 4 + 1, list / 4 + 1 + 2 * count));
        words[list / 4] = 0;
      }
    },
    dispose: () => team?.dispose(),
  };
}

/** An exported function of an instance of the generated module. */
function exported<F>(instance: WebAssembly.Instance, name: string): F {
  const f = instance.exports[name];
  if (typeof f !== 'function') throw new InternalError(`the WebAssembly module lacks ${name}`);
  return f as F;
}
