import { suggestion } from '../ir/suggest.js';
import { lookupUnit } from '../units/units.js';
import { fileErrorReason } from '../diagnostics/file-error.js';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import {
  DiagnosticError,
  count,
  renderDiagnostic,
  renderInternalError,
} from '../diagnostics/diagnostic.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { compileFiles, type Compiled } from '../pipeline.js';
import { type Io, UsageError, processIo } from './io.js';
import { STAGES } from './stages.js';
import { compileCommand, runCommand } from './run.js';
import { TARGETS, type Target, planProblems } from '../codegen/module.js';
import { BACKEND_CHOICES, type BackendChoice } from '../runtime/select.js';

/** Exit codes: 0 success, 1 errors in the model, 2 bad usage, 3 a bug in spikeforge. */
export const EXIT = { ok: 0, modelError: 1, usage: 2, internal: 3 } as const;

/** A command-line option: how parseArgs reads it, and its line in the command's --help. */
interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly default?: string;
  /** The placeholder for its value in the help (string options). */
  readonly value?: string;
  /** Its value is a time with a unit ('100 ms'): one argument, which the shell splits unless quoted. */
  readonly time?: boolean;
  readonly help: string;
}

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly run: (
    positionals: readonly string[],
    values: Record<string, string | boolean | undefined>,
    io: Io,
  ) => number | Promise<number>;
}

/** Compiles and prints every diagnostic; returns the result only when there were no errors. */
function compileReporting(files: readonly string[], io: Io): Compiled | undefined {
  const result = compileFiles(files);
  for (const d of result.diagnostics.items) io.err(renderDiagnostic(d));
  return result.program === undefined ? undefined : (result as Compiled);
}

const COMMANDS: ReadonlyMap<string, Command> = new Map<string, Command>([
  [
    'check',
    {
      summary: 'parse and check .spk files; report every error',
      usage: 'spikeforge check FILE...',
      options: {},
      run: (files, _values, io) => {
        if (files.length === 0) throw new UsageError('check needs at least one FILE');
        let failed = false;
        for (const file of files) {
          const result = compileFiles([file]);
          for (const d of result.diagnostics.items) io.err(renderDiagnostic(d));
          // The later passes run on what is free of errors, so that every error is reported at once.
          const checked = result.program ?? result.checkedPart;
          const problems = checked === undefined ? [] : planProblems(checked);
          for (const d of problems) io.err(renderDiagnostic(d));
          if (result.program === undefined || problems.length > 0) failed = true;
          else
            io.out(
              `${file}: ok (${count(result.program.models.size, 'model')}, ${count(result.program.networks.size, 'network')})`,
            );
        }
        return failed ? EXIT.modelError : EXIT.ok;
      },
    },
  ],
  [
    'inspect',
    {
      summary: 'print one model or network at a stage of the pipeline',
      usage: `spikeforge inspect FILE [--model NAME] [--stage ${[...STAGES.keys()].join('|')}]`,
      options: {
        model: {
          type: 'string',
          value: 'NAME',
          help: "the model or network to print (default: the file's only network)",
        },
        stage: {
          type: 'string',
          value: 'STAGE',
          default: 'ir',
          help: `what to print: ${[...STAGES.keys()].join(', ')}`,
        },
      },
      run: (files, values, io) => {
        const file = exactlyOneFile('inspect', files);
        const stage = String(values['stage']);
        const printer = STAGES.get(stage);
        if (printer === undefined)
          throw new UsageError(
            `unknown stage '${stage}'; the stages are ${[...STAGES.keys()].join(', ')}`,
          );
        const compiled = compileReporting([file], io);
        if (compiled === undefined) return EXIT.modelError;
        const name = values['model'];
        io.out(printer(compiled, typeof name === 'string' ? name : onlyDefinition(compiled)));
        return EXIT.ok;
      },
    },
  ],
  [
    'compile',
    {
      summary: 'write the generated kernels of a network (or one neuron model) and a manifest.json',
      usage: `spikeforge compile FILE --target ${TARGETS.join('|')} [--network NAME] [--precision f32|f64] [--standalone] [-o DIR]`,
      options: {
        target: {
          type: 'string',
          value: 'TARGET',
          help: `the kernel language: ${TARGETS.join(', ')}`,
        },
        network: {
          type: 'string',
          value: 'NAME',
          help: "the network (or neuron model) to compile (default: the file's only network)",
        },
        out: { type: 'string', short: 'o', value: 'DIR', default: 'build', help: 'output folder' },
        precision: {
          type: 'string',
          value: 'f32|f64',
          default: 'f32',
          help: 'floating-point precision of the state and the arithmetic',
        },
        standalone: {
          type: 'boolean',
          help: 'cuda: also write a host program and a CMakeLists.txt that run the network without node',
        },
      },
      run: (files, values, io) => {
        const file = exactlyOneFile('compile', files);
        const target = values['target'];
        if (typeof target !== 'string')
          throw new UsageError(`compile needs --target ${TARGETS.join('|')}`);
        if (!(TARGETS as readonly string[]).includes(target))
          throw new UsageError(`unknown target '${target}': --target takes ${TARGETS.join('|')}`);
        const precision = String(values['precision']);
        if (precision !== 'f32' && precision !== 'f64')
          throw new UsageError(`--precision takes f32 or f64, not '${precision}'`);
        return compileCommand(
          file,
          target as Target,
          typeof values['network'] === 'string' ? values['network'] : undefined,
          String(values['out']),
          io,
          {
            precision,
            standalone: values['standalone'] === true,
          },
        );
      },
    },
  ],
  [
    'run',
    {
      summary: 'simulate a network and write spikes, traces, summary.json and plots',
      usage: `spikeforge run FILE [--network NAME] [--backend ${BACKEND_CHOICES.join('|')}] [--duration T] [--dt DT] [--seed N] [--threads N] [-o DIR]`,
      options: {
        network: {
          type: 'string',
          value: 'NAME',
          help: "the network to run (default: the file's only network)",
        },
        backend: {
          type: 'string',
          value: 'KIND',
          default: 'auto',
          help: 'cpu (float32), cpu64 (float64), webgpu, cuda, or auto: CUDA, then a hardware WebGPU adapter, then the CPU',
        },
        duration: {
          type: 'string',
          value: 'T',
          time: true,
          help: "simulated time, such as '500 ms' or '2 s' (default: the network's)",
        },
        dt: {
          type: 'string',
          value: 'DT',
          time: true,
          help: "the time step, such as '0.05 ms' (default: the network's)",
        },
        seed: {
          type: 'string',
          value: 'N',
          help: "the seed of every random draw, an integer (default: the network's)",
        },
        threads: {
          type: 'string',
          value: 'N',
          help: 'threads of the cpu backend; only populations of 32768 neurons or more are split (default: one per core, at most 16)',
        },
        out: { type: 'string', short: 'o', value: 'DIR', default: 'out', help: 'output folder' },
      },
      run: (files, values, io) => {
        const file = exactlyOneFile('run', files);
        const backend = String(values['backend']);
        if (!(BACKEND_CHOICES as readonly string[]).includes(backend))
          throw new UsageError(
            `unknown backend '${backend}'; the backends are ${BACKEND_CHOICES.join(', ')}`,
          );
        const optional = (name: string): Record<string, string> =>
          typeof values[name] === 'string' ? { [name]: values[name] as string } : {};
        return runCommand(
          {
            file,
            backend: backend as BackendChoice,
            out: String(values['out']),
            ...optional('network'),
            ...optional('duration'),
            ...optional('dt'),
            ...optional('seed'),
            ...optional('threads'),
          },
          io,
        );
      },
    },
  ],
]);

function version(): string {
  return (JSON.parse(readFileSync(`${PACKAGE_ROOT}/package.json`, 'utf8')) as { version: string })
    .version;
}

function generalHelp(): string {
  const width = Math.max(...[...COMMANDS.keys()].map((k) => k.length));
  const lines = [...COMMANDS].map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'spikeforge: compile and run spiking neuron models written in .spk',
    '',
    'usage: spikeforge COMMAND [OPTIONS]',
    '',
    'commands:',
    ...lines,
    '',
    "run 'spikeforge COMMAND --help' for the options of a command",
  ].join('\n');
}

function commandHelp(c: Command): string {
  const flags = Object.entries(c.options).map(([name, o]) => [
    `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.value === undefined ? '' : ` ${o.value}`}`,
    `${o.help}${o.default === undefined ? '' : ` (default: ${o.default})`}`,
  ]);
  const width = Math.max(0, ...flags.map(([flag]) => flag!.length));
  const options = flags.map(([flag, help]) => `  ${flag!.padEnd(width)}  ${help}`);
  return [
    `usage: ${c.usage}`,
    '',
    c.summary,
    ...(options.length > 0 ? ['', 'options:', ...options] : []),
  ].join('\n');
}

/** The options as parseArgs takes them. */
function parseArgsOptions(
  options: Readonly<Record<string, OptionSpec>>,
): NonNullable<Parameters<typeof parseArgs>[0]>['options'] {
  return Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      {
        type: o.type,
        ...(o.short === undefined ? {} : { short: o.short }),
        ...(o.default === undefined ? {} : { default: o.default }),
      },
    ]),
  );
}

/** A parsed argument: an option (with its value and its spelling) or a positional. */
type ArgToken = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

/** Runs the CLI; never throws: every failure becomes a message and an exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(generalHelp());
    return EXIT.ok;
  }
  if (name === '--version') {
    io.out(version());
    return EXIT.ok;
  }
  const command = name === undefined ? undefined : COMMANDS.get(name);
  if (name === undefined || command === undefined) {
    io.err(generalUsage(name === undefined ? 'no command given' : `unknown command '${name}'`));
    return EXIT.usage;
  }
  try {
    const {
      values,
      positionals,
      tokens: parsed,
    } = parseArgs({
      args: optionValues(rest, command.options),
      options: { ...parseArgsOptions(command.options), help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
    if (values['help'] === true) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    // parseArgs types the tokens by the options it can see, here only --help (a boolean): widened.
    const tokens: readonly ArgToken[] = parsed;
    for (const token of tokens)
      if (token.kind === 'option' && token.value === '')
        throw new UsageError(`${token.rawName} needs a value`);
    const stray = strayUnit(tokens, command.options);
    if (stray !== undefined) throw new UsageError(stray);
    return await command.run(
      positionals,
      values as Record<string, string | boolean | undefined>,
      io,
    );
  } catch (error) {
    if (
      error instanceof UsageError ||
      (error instanceof TypeError &&
        'code' in error &&
        String(error.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      io.err(`spikeforge ${name}: ${usageMessage(error, command)}\nusage: ${command.usage}`);
      return EXIT.usage;
    }
    if (error instanceof DiagnosticError) {
      for (const d of error.diagnostics) io.err(renderDiagnostic(d));
      return EXIT.modelError;
    }
    const problem = fileProblem(error);
    if (problem !== undefined) {
      io.err(`spikeforge ${name}: ${problem}`);
      return EXIT.usage;
    }
    const shortage = memoryShortage(error);
    if (shortage !== undefined) {
      io.err(`spikeforge ${name}: error: ${shortage}`);
      return EXIT.modelError;
    }
    io.err(renderInternalError(error));
    return EXIT.internal;
  }
}

/**
 * What `inspect` shows without --model: the file's one network, or its one model when it has
 * no network (imports do not count); a usage error naming the choices otherwise.
 */
function onlyDefinition(compiled: Compiled): string {
  const ast = compiled.files[0]!.ast;
  const networks = ast.networks.map((n) => n.name.name);
  const models = ast.models.map((m) => m.name.name);
  const choices = networks.length > 0 ? networks : models;
  if (choices.length === 1) return choices[0]!;
  throw new UsageError(
    choices.length === 0
      ? 'inspect needs --model NAME: the file defines no model or network of its own'
      : `inspect needs --model NAME, one of ${[...networks, ...models].join(', ')}`,
  );
}

/**
 * The arguments with every option's value checked and prepared for parseArgs, which reads a
 * value that starts with '-' as an option and refuses it in its own words:
 * - a missing value (`-o` last, or followed by another option) is a usage error in the
 *   project's words, naming the option as it was written;
 * - `--duration -5` becomes `--duration=-5`, so that the value reaches the option's own check,
 *   which says what the option takes.
 */
function optionValues(
  args: readonly string[],
  options: Readonly<Record<string, OptionSpec>>,
): string[] {
  const takesValue = new Set(
    Object.entries(options)
      .filter(([, spec]) => spec.type === 'string')
      .flatMap(([name, spec]) => [
        `--${name}`,
        ...(spec.short === undefined ? [] : [`-${spec.short}`]),
      ]),
  );
  const prepared: string[] = [];
  for (let k = 0; k < args.length; k++) {
    const arg = args[k]!;
    const next = args[k + 1];
    if (!takesValue.has(arg)) prepared.push(arg);
    else if (next !== undefined && /^-[\d.]/.test(next)) {
      prepared.push(arg.startsWith('--') ? `${arg}=${next}` : `${arg}${next}`);
      k++;
    } else if (next === undefined || next.startsWith('-'))
      throw new UsageError(`${arg} needs a value`);
    else {
      prepared.push(arg, next);
      k++;
    }
  }
  return prepared;
}

/**
 * `--dt 2000 ms` unquoted: the shell passes `ms` as an argument of its own, which the command
 * would take for a FILE. The message for the first such word after a time option's number,
 * or undefined.
 */
function strayUnit(
  tokens: readonly ArgToken[],
  options: Readonly<Record<string, OptionSpec>>,
): string | undefined {
  for (const [k, token] of tokens.entries()) {
    const option = tokens[k - 1];
    if (
      token.kind === 'positional' &&
      option?.kind === 'option' &&
      options[option.name]?.time === true &&
      /^-?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?$/.test(option.value ?? '') &&
      lookupUnit(token.value) !== undefined
    )
      return `'${token.value}' is not a FILE: a value with a unit is one argument, quote it: ${option.rawName} '${option.value} ${token.value}'`;
  }
  return undefined;
}

/** The one FILE of a command that takes exactly one; a usage error naming the extra arguments otherwise. */
function exactlyOneFile(command: string, files: readonly string[]): string {
  const [file, ...extra] = files;
  if (file === undefined) throw new UsageError(`${command} takes exactly one FILE`);
  if (extra.length > 0)
    throw new UsageError(
      `${command} takes exactly one FILE; extra ${extra.length === 1 ? 'argument' : 'arguments'}: ${extra.map((e) => `'${e}'`).join(', ')}`,
    );
  return file;
}

/**
 * A usage error before any command (none given, or an unknown one), printed as a command's
 * usage errors are: the problem, then the usage line.
 */
function generalUsage(problem: string): string {
  return [
    `spikeforge: ${problem}; the commands are ${[...COMMANDS.keys()].join(', ')}`,
    "usage: spikeforge COMMAND [OPTIONS]  ('spikeforge --help' describes the commands)",
  ].join('\n');
}

/**
 * A usage error in one line. parseArgs's own text for an unknown option advises a '--'
 * separator, which no spikeforge command takes; it is replaced by the command's options.
 */
function usageMessage(error: Error, command: Command): string {
  const unknown = /^Unknown option '([^']+)'/.exec(error.message)?.[1];
  if (unknown === undefined) return error.message;
  const known = Object.keys(command.options).map((o) => `--${o}`);
  const hint = suggestion(unknown, known);
  return `unknown option '${unknown}'${hint === undefined ? '' : `; did you mean '${hint}'?`}`;
}

/**
 * An allocation this machine cannot give (networkSizeProblems counts only what a network needs
 * at least), or an array longer than JavaScript allows (2^32 elements): the network is too large
 * here, which is no bug. Shorter invalid lengths are bugs and stay internal errors.
 */
export function memoryShortage(error: unknown): string | undefined {
  if (!(error instanceof RangeError)) return undefined;
  const length = /^Invalid typed array length: (\d+)$/.exec(error.message)?.[1];
  if (error.message === 'Array buffer allocation failed' || Number(length) >= 2 ** 32)
    return `the network is too large for the memory of this machine (${error.message})`;
  return undefined;
}

/**
 * A file-system error on a path the user gave (an input to read, an output folder to
 * create, a file to write) as one sentence, or undefined for anything else.
 */
function fileProblem(error: unknown): string | undefined {
  const reason = fileErrorReason(error);
  if (reason === undefined || !(error instanceof Error) || !('syscall' in error)) return undefined;
  const path = 'path' in error ? String(error.path) : 'a file';
  const syscall = String(error.syscall);
  // `open` serves reading and writing alike; the others say which.
  const verb =
    syscall === 'mkdir'
      ? 'create the folder'
      : syscall === 'open'
        ? 'open'
        : syscall === 'read' || syscall === 'scandir' || syscall === 'stat'
          ? 'read'
          : 'write';
  return `cannot ${verb} ${path}: ${reason}`;
}
