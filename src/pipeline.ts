import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Diagnostics } from './diagnostics/diagnostic.js';
import { fileErrorReason } from './diagnostics/file-error.js';
import { type SourceFile, type Span, makeSourceFile } from './diagnostics/source.js';
import { checkModelUnits } from './ir/check-units.js';
import { ConnectionFiles } from './ir/connection-file.js';
import { lowerModel } from './ir/lower-model.js';
import { lowerNetwork } from './ir/lower-network.js';
import type { Model, Network, Program, SymbolDimensions } from './ir/types.js';
import { validateProgram } from './ir/validate.js';
import type { FileAst } from './parser/ast.js';
import { parseFile } from './parser/parse.js';
import { PACKAGE_ROOT } from './package-root.js';

/**
 * The compiler front end, pass by pass:
 *   parse   (.spk text -> AST, every syntax error of every file)
 *   lower   (AST -> IR: names resolved, literals in internal units, structure checked)
 *   check   (units of every expression; instantiation in networks)
 *   validate (IR invariants, between passes; a failure is a bug in spikeforge)
 * The back end continues in src/codegen/module.ts (buildPlan, generateSource):
 *   integrate (src/integrate: each model's update derived symbolically)
 *   route     (projections: placement, delays in steps, connectivity)
 *   build     (one kernel per population in the kernel IR, constants folded)
 *   legalize  (dead locals removed)
 *   print     (WGSL, JavaScript or CUDA through one table-configured printer)
 * docs/design.md walks through all of it.
 */

export interface ParsedFile {
  readonly source: SourceFile;
  readonly ast: FileAst;
}

export interface CompileResult {
  readonly diagnostics: Diagnostics;
  readonly files: readonly ParsedFile[];
  /** Present when there were no errors. */
  readonly program?: Program;
  /**
   * With errors after parsing: the models and networks that lowered and checked without
   * any, so that `check` can take them through the later passes too and report every
   * error in one run.
   */
  readonly checkedPart?: Program;
}

/** A compile without errors. */
export type Compiled = CompileResult & { readonly program: Program };

/** Reads a file; tests pass their own to compile text that is not on disk. */
export type ReadFile = (path: string) => string;

function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : rel;
}

/** Where an import points: beside the importing file first, then in the spikeforge package. */
function resolveImport(
  fromFile: string,
  path: string,
  exists: (p: string) => boolean,
): string | undefined {
  const candidates = [resolve(dirname(fromFile), path), resolve(PACKAGE_ROOT, path)];
  return candidates.find(exists);
}

/** Whether `error` is the JavaScript engine running out of stack (deeply nested input). */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message);
}

const TOO_DEEP_NOTES = [
  'the compiler ran out of stack space on deeply nested or very long input',
  'split long expressions into named subexpressions (NAME = ... in equations { }) and avoid deep nesting',
];

/**
 * Runs one step of the front end; a stack overflow in it (input nested deeper
 * than the passes can recurse) becomes an error at `span` instead of an
 * internal error. The parser refuses most such input with a precise message
 * first; this is the safety net for what gets past it.
 */
function guarded<T>(
  span: Span,
  what: string,
  diagnostics: Diagnostics,
  step: () => T,
): T | undefined {
  try {
    return step();
  } catch (error) {
    if (!isStackOverflow(error)) throw error;
    diagnostics.error(span, `${what} is nested too deeply to compile`, { notes: TOO_DEEP_NOTES });
    return undefined;
  }
}

/** The first character of a file, where errors about the whole file point. */
function fileStart(source: SourceFile): Span {
  return { file: source, start: 0, end: Math.min(1, source.text.length) };
}

/**
 * The text of a file to parse. An imported file that cannot be read (a folder, no permission)
 * is an error at its import; an entry file's error goes to the CLI, with its path.
 */
function readText(
  path: string,
  read: ReadFile,
  importedAt: Span | undefined,
  diagnostics: Diagnostics,
): string | undefined {
  try {
    return read(path);
  } catch (error) {
    if (!(error instanceof Error) || !('code' in error)) throw error;
    // As the user wrote it, relative to the working folder (Node leaves it out for EISDIR).
    if (importedAt === undefined) throw Object.assign(error, { path: displayPath(path) });
    const reason =
      error.code === 'EISDIR'
        ? 'it is a folder, not a .spk file'
        : (fileErrorReason(error) ?? error.message);
    diagnostics.error(importedAt, `cannot read the imported file ${displayPath(path)}: ${reason}`);
    return undefined;
  }
}

/** parse: the entry files and everything they import, each once. */
function parseAll(
  entries: readonly string[],
  read: ReadFile,
  exists: (p: string) => boolean,
  diagnostics: Diagnostics,
): ParsedFile[] {
  const files: ParsedFile[] = [];
  const seen = new Set<string>();
  const queue = entries.map((e) => resolve(e));
  // Where each imported file was first named, for errors in reading it.
  const importedAt = new Map<string, Span>();
  while (queue.length > 0) {
    const path = queue.shift()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const text = readText(path, read, importedAt.get(path), diagnostics);
    if (text === undefined) continue;
    const source = makeSourceFile(displayPath(path), text);
    const ast = guarded(fileStart(source), 'this file', diagnostics, () =>
      parseFile(source, diagnostics),
    );
    if (ast === undefined) continue;
    files.push({ source, ast });
    for (const imp of ast.imports) {
      const target = resolveImport(path, imp.path, exists);
      if (target === undefined) {
        diagnostics.error(imp.span, `cannot find the imported file "${imp.path}"`, {
          notes: [`looked beside this file and in ${join(PACKAGE_ROOT)}`],
        });
      } else {
        if (!importedAt.has(target)) importedAt.set(target, imp.span);
        queue.push(target);
      }
    }
  }
  return files;
}

/**
 * Compiles .spk files to a checked, validated Program. Every problem found in
 * the user's input is a diagnostic; the result has a program only when there
 * were none.
 */
export function compileFiles(
  entries: readonly string[],
  read: ReadFile = (p) => readFileSync(p, 'utf8'),
  exists: (p: string) => boolean = existsSync,
): CompileResult {
  const diagnostics = new Diagnostics();
  const files = parseAll(entries, read, exists, diagnostics);
  if (diagnostics.hasErrors) return { diagnostics, files };

  // lower + check, model by model; a model with errors is left out so later errors are not knock-on ones.
  const models = new Map<string, Model>();
  const dimensions = new Map<string, SymbolDimensions>();
  const definedAt = new Map<string, Span>();
  const failed = new Set<string>();
  for (const { ast } of files) {
    for (const def of ast.models) {
      const first = definedAt.get(def.name.name);
      if (first !== undefined) {
        diagnostics.error(def.name.span, `model '${def.name.name}' is defined twice`, {
          secondary: [{ span: first, message: 'first defined here' }],
        });
        continue;
      }
      definedAt.set(def.name.name, def.name.span);
      const before = diagnostics.errorCount;
      const lowered = guarded(def.name.span, `${def.kind} '${def.name.name}'`, diagnostics, () => {
        const model = lowerModel(def, diagnostics);
        return model === undefined
          ? undefined
          : { model, checked: checkModelUnits(model, diagnostics) };
      });
      if (lowered === undefined || diagnostics.errorCount > before) {
        failed.add(def.name.name);
        continue;
      }
      const { model, checked } = lowered;
      models.set(model.name, model);
      dimensions.set(model.name, checked.dimensions);
    }
  }

  const networks = new Map<string, Network>();
  // Projections that name the same connection file, in any network, share one read of it.
  const connectionFiles = new ConnectionFiles();
  for (const { ast } of files) {
    for (const def of ast.networks) {
      const first = definedAt.get(def.name.name);
      if (first !== undefined) {
        diagnostics.error(def.name.span, `'${def.name.name}' is defined twice`, {
          secondary: [{ span: first, message: 'first defined here' }],
        });
        continue;
      }
      definedAt.set(def.name.name, def.name.span);
      const network = guarded(def.name.span, `network '${def.name.name}'`, diagnostics, () =>
        lowerNetwork(def, { models, dimensions, failed }, connectionFiles, diagnostics),
      );
      if (network !== undefined) networks.set(network.name, network);
    }
  }
  const program: Program = { models, dimensions, networks };
  if (diagnostics.hasErrors) return { diagnostics, files, checkedPart: program };
  const first = files[0];
  const valid =
    first === undefined
      ? (validateProgram(program), true)
      : guarded(
          fileStart(first.source),
          'this program',
          diagnostics,
          () => (validateProgram(program), true),
        );
  if (valid === undefined) return { diagnostics, files };
  return { diagnostics, files, program };
}
