import type { Span } from '../diagnostics/source.js';
import { lineColumn } from '../diagnostics/source.js';
import { formatModel, formatNetwork } from '../ir/print.js';
import { printUpdateStage } from '../integrate/inspect.js';
import type { CompileResult } from '../pipeline.js';
import { UsageError } from './io.js';

/** What `inspect --stage NAME` prints for one model (or network) of a compiled file. */
export type StagePrinter = (compiled: Required<CompileResult>, name: string) => string;

function spanLocation(span: Span): string {
  const a = lineColumn(span.file, span.start);
  const b = lineColumn(span.file, span.end);
  return `${a.line}:${a.column}-${b.line}:${b.column}`;
}

function printAst(compiled: Required<CompileResult>, name: string): string {
  for (const { ast } of compiled.files) {
    const def = ast.models.find((m) => m.name.name === name) ?? ast.networks.find((n) => n.name.name === name);
    if (def !== undefined) {
      // Spans print as line:col ranges; the file object would repeat the whole source.
      return JSON.stringify(def, (key, value: unknown) => (key === 'file' ? undefined : key.endsWith('pan') ? spanLocation(value as Span) : value), 2);
    }
  }
  throw new UsageError(`no model or network named '${name}'`);
}

function printIr(compiled: Required<CompileResult>, name: string): string {
  const model = compiled.program.models.get(name);
  if (model !== undefined) return formatModel(model, compiled.program.dimensions.get(name) ?? new Map());
  const network = compiled.program.networks.get(name);
  if (network !== undefined) return formatNetwork(network);
  throw new UsageError(`no model or network named '${name}'`);
}

/** The stages of the pipeline that can be shown, in pipeline order. */
export const STAGES: ReadonlyMap<string, StagePrinter> = new Map<string, StagePrinter>([
  ['ast', printAst],
  ['ir', printIr],
  ['update', printUpdateStage],
]);
