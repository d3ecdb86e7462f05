import type { Span } from '../diagnostics/source.js';
import { lineColumn } from '../diagnostics/source.js';
import { formatModel, formatNetwork } from '../ir/print.js';
import { printUpdateStage } from '../integrate/inspect.js';
import type { Compiled } from '../pipeline.js';
import { UsageError } from './io.js';
import { type Target, buildPlan, generateSource, modelNetwork } from '../codegen/module.js';
import type { Network } from '../ir/types.js';
import type { SimulationPlan } from '../runtime/backend.js';

/** What `inspect --stage NAME` prints for one model (or network) of a compiled file. */
export type StagePrinter = (compiled: Compiled, name: string) => string;

function spanLocation(span: Span): string {
  const a = lineColumn(span.file, span.start);
  const b = lineColumn(span.file, span.end);
  return `${a.line}:${a.column}-${b.line}:${b.column}`;
}

function printAst(compiled: Compiled, name: string): string {
  for (const { ast } of compiled.files) {
    const def =
      ast.models.find((m) => m.name.name === name) ??
      ast.networks.find((n) => n.name.name === name);
    if (def !== undefined) {
      // Spans print as line:col ranges; the file object would repeat the whole source.
      return JSON.stringify(
        def,
        (key, value: unknown) =>
          key === 'file' ? undefined : key.endsWith('pan') ? spanLocation(value as Span) : value,
        2,
      );
    }
  }
  throw new UsageError(`no model or network named '${name}'`);
}

function printIr(compiled: Compiled, name: string): string {
  const model = compiled.program.models.get(name);
  if (model !== undefined)
    return formatModel(model, compiled.program.dimensions.get(name) ?? new Map());
  const network = compiled.program.networks.get(name);
  if (network !== undefined) return formatNetwork(network);
  throw new UsageError(`no model or network named '${name}'`);
}

/** The network a name stands for: the network itself, or one neuron of the model. */
export function networkFor(compiled: Compiled, name: string): Network {
  const network = compiled.program.networks.get(name);
  if (network !== undefined) return network;
  const model = compiled.program.models.get(name);
  if (model === undefined) throw new UsageError(`no model or network named '${name}'`);
  if (model.kind !== 'neuron')
    throw new UsageError(
      `${model.kind} models get kernels inside networks; inspect a network that uses ${name}`,
    );
  return modelNetwork(model);
}

/** The plan of a network for showing its kernels (one step; problems are thrown as diagnostics). */
export function planFor(network: Network, steps = 1): SimulationPlan {
  return buildPlan(network, steps);
}

function printTarget(target: Target): StagePrinter {
  return (compiled, name) => generateSource(planFor(networkFor(compiled, name)), target);
}

/** The stages of the pipeline that can be shown, in pipeline order. */
export const STAGES: ReadonlyMap<string, StagePrinter> = new Map<string, StagePrinter>([
  ['ast', printAst],
  ['ir', printIr],
  ['update', printUpdateStage],
  ['wgsl', printTarget('wgsl')],
  ['js', printTarget('js')],
  ['cuda', printTarget('cuda')],
  ['wasm', printTarget('wasm')],
]);
