/**
 * A seeded mutation fuzzer for the front end. Valid models (the stdlib,
 * examples/ei_net.spk, test/models/language/*.spk) are tokenized with the
 * project's lexer; each case drops, duplicates, swaps, replaces or inserts a
 * few tokens (from a pool of keywords, operators, quantities, names, braces),
 * or renames a name or a number to another one so that the later passes see
 * the input too. The whitespace and comments between tokens stay, so line
 * structure survives (the corpus includes networks with every kind of synapse
 * placement and per-synapse weights and delays). Each case is compiled in-process with compileFiles from
 * an in-memory file system (the stdlib is served from memory at the package
 * root, where imports fall back to).
 * Random byte strings, random token soup and deeply nested parentheses are fed
 * too. For every case:
 *   - no exception escapes compileFiles (an InternalError is a failure too), nor
 *     buildPlan (routing and kernel IR) and code generation for every target on small
 *     networks (the WebAssembly text assembled and validated) other than a DiagnosticError,
 *   - it finishes within PER_CASE_LIMIT_MS,
 *   - it yields either a program or at least one error diagnostic whose
 *     location lies within its file, and every diagnostic renders.
 * And differentially: mutated models that compile to small networks run 20 steps on the
 * CPU's three kernel languages (four-lane and one-lane WebAssembly, JavaScript float32) and on
 * three threads, which must agree bit for bit.
 * Set SPK_FUZZ_SEED to replay another seed, SPK_FUZZ_SCALE to run more (or fewer) cases.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DiagnosticError, renderDiagnostic } from '../src/diagnostics/diagnostic.js';
import { TARGETS, buildPlan, generateSource, layoutOf } from '../src/codegen/module.js';
import { wasmMemoryPlan } from '../src/codegen/wasm/kernel.js';
import wabt from 'wabt';
import type { Network } from '../src/ir/types.js';
import { lineColumn } from '../src/diagnostics/source.js';
import { formatModel, formatNetwork } from '../src/ir/print.js';
import { RESERVED_WORDS, spkLexer } from '../src/parser/lexer.js';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { compileFiles } from '../src/pipeline.js';
import type { SimulationPlan } from '../src/runtime/backend.js';
import { CpuBackend } from '../src/runtime/cpu.js';
import { simulate } from '../src/runtime/simulate.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SEED = Number(process.env['SPK_FUZZ_SEED'] ?? 20240611);
const SCALE = Number(process.env['SPK_FUZZ_SCALE'] ?? 1);
const PER_CASE_LIMIT_MS = 2000;
const assembler = await wabt();
/**
 * Time budgets: the mutation group stops early past MUTATION_BUDGET_MS, the token soup past
 * SOUP_BUDGET_MS, so the file stays well inside 90 s on a slow or busy machine. The case
 * sequence depends only on the seed, so a failure replays with the same seed.
 */
const MUTATION_BUDGET_MS = 40_000 * SCALE;
const SOUP_BUDGET_MS = 8_000 * SCALE;
const DIFFERENTIAL_BUDGET_MS = 10_000 * SCALE;

// ---------------------------------------------------------------------------
// Deterministic randomness.

/** mulberry32: small, fast, good enough to pick mutations. */
function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function int(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

// ---------------------------------------------------------------------------
// The corpus and an in-memory file system.

const CORPUS_FILES = [
  'stdlib/neurons.spk',
  'stdlib/synapses.spk',
  'examples/ei_net.spk',
  'examples/stdp_song.spk',
  'examples/nmda_hh.spk',
  'examples/adex_section.spk',
  'examples/exponential_cuba.spk',
  'test/models/conformance/rt_synapses.spk',
  'test/models/conformance/rt_neuron_reads.spk',
  'test/models/conformance/rt_post_reads.spk',
  'test/models/conformance/rt_per_neuron.spk',
  ...readdirSync(join(ROOT, 'test', 'models', 'language'))
    .filter((f) => f.endsWith('.spk'))
    .sort()
    .map((f) => `test/models/language/${f}`),
];
const CORPUS = CORPUS_FILES.map((f) => ({ name: f, text: readFileSync(join(ROOT, f), 'utf8') }));

/** The stdlib as imports see it (resolved against the package root). */
const STDLIB = new Map(
  ['stdlib/neurons.spk', 'stdlib/synapses.spk'].map((f) => [
    resolve(PACKAGE_ROOT, f),
    readFileSync(join(ROOT, f), 'utf8'),
  ]),
);
/** Where the mutated file lives: a folder that exists nowhere, so imports fall back to the package root. */
const CASE_PATH = resolve('/spikeforge-fuzz/case.spk');

/** A piece of source: the text before a token (whitespace, comments) and the token itself. */
interface Piece {
  readonly gap: string;
  readonly image: string;
  /** The lexer's token type ('Identifier', 'NumberLiteral', ...); '' for text a mutation put there. */
  readonly type: string;
}

function tokenize(text: string): { pieces: Piece[]; tail: string } {
  const lexed = spkLexer.tokenize(text);
  if (lexed.errors.length > 0)
    throw new Error(`corpus file does not lex: ${lexed.errors[0]?.message}`);
  const pieces: Piece[] = [];
  let at = 0;
  for (const t of lexed.tokens) {
    pieces.push({ gap: text.slice(at, t.startOffset), image: t.image, type: t.tokenType.name });
    at = t.startOffset + t.image.length;
  }
  return { pieces, tail: text.slice(at) };
}

const TOKENIZED = CORPUS.map((c) => ({ name: c.name, ...tokenize(c.text) }));

/** Every name the corpus uses: renaming one to another keeps the syntax and tests the name and unit checks. */
const NAMES: readonly string[] = [
  ...new Set(
    TOKENIZED.flatMap((t) => t.pieces.filter((p) => p.type === 'Identifier').map((p) => p.image)),
  ),
].sort();
const NUMBERS: readonly string[] = [
  '0',
  '1',
  '2',
  '0.5',
  '.5',
  '3.48',
  '1e-3',
  '2.5E+4',
  '1e300',
  '4294967295',
  '4294967296',
  '0.0',
  '10.5',
  '100000000',
];

/** Tokens that replacements and insertions draw from. */
const POOL: readonly string[] = [
  ...RESERVED_WORDS,
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  ',',
  ':',
  '.',
  '->',
  '=',
  '~',
  '+=',
  '-=',
  '*=',
  '/=',
  '==',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  '+',
  '-',
  '*',
  '/',
  '^',
  '0',
  '1',
  '1e999',
  '2',
  '0.5',
  '.5',
  '1e-3',
  '2.5E+4',
  '1e300',
  '4294967296',
  '0.0',
  '-1',
  '3.',
  '1e',
  '-65 mV',
  '10 ms',
  '0.5 /ms',
  '1 mS/cm^2',
  '1 uF/cm^2',
  '2 nA*ms',
  '6.7 nS',
  '1 Mohm',
  '200 pF',
  '5 Hz',
  '1.2 mM',
  '1 ms^0.5',
  '1 s^0.5',
  '1 cm^-2',
  '3 weight',
  '1 mV/ms',
  '7 kohm',
  '1 GHz',
  'V',
  'I',
  'g',
  'w',
  't',
  'dt',
  'x',
  'u',
  'h',
  'tau',
  'V_th',
  'V_rest',
  'E',
  'mV',
  'ms',
  'nA',
  'uS',
  'weight',
  'post.V',
  'pre.V',
  'post.I',
  'post.g',
  'pre.spikes',
  'post',
  'pre',
  'exp',
  'log',
  'exprel',
  'sqrt',
  'abs',
  'min',
  'max',
  'clip',
  'where',
  'prev',
  'normal',
  'uniform',
  'wiener',
  'section',
  'exp(1)',
  'prev(V)',
  'wiener()',
  'normal(0 mV, 1 mV)',
  'where(true, 1, 2)',
  'section([1 nA], [1 ms])',
  'dV/dt',
  'dg/dt',
  'dw/dt',
  'dX/dt',
  'dt/dt',
  'LifRef',
  'HH',
  'Expon',
  'NMDA',
  'COBA',
  'CUBA',
  'MgBlock',
  'Poisson',
  'SpikeTimes',
  'N',
  'E',
  'all_to_all',
  'one_to_one',
  'fixed_probability',
  'fixed_in_degree',
  'fixed_out_degree',
  'from_file',
  'ltc',
  'exact',
  'euler',
  'rk4',
  'spikes',
  'seed',
  'duration',
  '"stdlib/neurons.spk"',
  '"stdlib/synapses.spk"',
  '"missing.spk"',
  '"case.spk"',
  '""',
  '"pairs.csv"',
  '// comment\n',
  '/* block */',
  '\n',
];

type Mutation =
  'drop' | 'duplicate' | 'swap' | 'swapFar' | 'replace' | 'insert' | 'rename' | 'renumber';
/** Syntax-breaking mutations and, as often, ones that keep the syntax (rename, renumber) so that later passes see the input. */
const MUTATIONS: readonly Mutation[] = [
  'drop',
  'duplicate',
  'swap',
  'swapFar',
  'replace',
  'insert',
  'rename',
  'rename',
  'rename',
  'renumber',
  'renumber',
];

function mutate(pieces: Piece[], rng: () => number): { pieces: Piece[]; log: string[] } {
  const out = [...pieces];
  const log: string[] = [];
  const count = int(rng, 1, 3);
  for (let k = 0; k < count && out.length > 0; k++) {
    const m = pick(rng, MUTATIONS);
    const i = int(rng, 0, out.length - 1);
    const at = out[i]!;
    switch (m) {
      case 'drop':
        // The gap stays, so line numbers after the dropped token do not move.
        out[i] = { gap: at.gap, image: '', type: '' };
        log.push(`drop #${i} '${at.image}'`);
        break;
      case 'duplicate':
        out.splice(i + 1, 0, { gap: ' ', image: at.image, type: at.type });
        log.push(`duplicate #${i} '${at.image}'`);
        break;
      case 'swap':
      case 'swapFar': {
        const j = m === 'swap' ? Math.min(out.length - 1, i + 1) : int(rng, 0, out.length - 1);
        const other = out[j]!;
        out[i] = { gap: at.gap, image: other.image, type: other.type };
        out[j] = { gap: other.gap, image: at.image, type: at.type };
        log.push(`swap #${i} '${at.image}' with #${j} '${other.image}'`);
        break;
      }
      case 'replace': {
        const image = pick(rng, POOL);
        out[i] = { gap: at.gap, image, type: '' };
        log.push(`replace #${i} '${at.image}' by '${image}'`);
        break;
      }
      case 'rename':
      case 'renumber': {
        // A token of the right type: the first one at or after i, wrapping around.
        const type = m === 'rename' ? 'Identifier' : 'NumberLiteral';
        let j = i;
        for (let step = 0; step < out.length && out[j]!.type !== type; step++)
          j = (j + 1) % out.length;
        const target = out[j]!;
        if (target.type !== type) break;
        const image = m === 'rename' ? pick(rng, NAMES) : pick(rng, NUMBERS);
        out[j] = { gap: target.gap, image, type };
        log.push(`${m} #${j} '${target.image}' to '${image}'`);
        break;
      }
      case 'insert': {
        const image = pick(rng, POOL);
        out.splice(i, 0, { gap: ' ', image, type: '' });
        log.push(`insert '${image}' before #${i}`);
        break;
      }
    }
  }
  return { pieces: out, log };
}

function render(pieces: readonly Piece[], tail: string): string {
  return pieces.map((p) => p.gap + p.image).join('') + tail;
}

// ---------------------------------------------------------------------------
// Running one case.

interface Outcome {
  readonly ms: number;
  readonly program: boolean;
  readonly errors: number;
  /** The error messages, for tests that look for a particular one. */
  readonly messages: readonly string[];
}

/** Compiles `text` as CASE_PATH; throws (with the input) on any broken promise. */
function compileCase(text: string, label: string): Outcome {
  const files = new Map(STDLIB);
  files.set(CASE_PATH, text);
  const read = (p: string): string => {
    const t = files.get(p);
    if (t === undefined) throw new Error(`fuzz harness: read of a file that does not exist: ${p}`);
    return t;
  };
  const exists = (p: string): boolean => files.has(p);
  const started = performance.now();
  let result: ReturnType<typeof compileFiles>;
  try {
    result = compileFiles([CASE_PATH], read, exists);
  } catch (error) {
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new Error(
      `${label}: compileFiles threw ${what}\n--- input ---\n${clip(text)}\n--- end ---`,
      { cause: error },
    );
  }
  const ms = performance.now() - started;
  if (ms > PER_CASE_LIMIT_MS)
    throw new Error(
      `${label}: took ${ms.toFixed(0)} ms (limit ${PER_CASE_LIMIT_MS})\n--- input ---\n${clip(text)}\n--- end ---`,
    );

  const errors = result.diagnostics.items.filter((d) => d.severity === 'error');
  for (const d of result.diagnostics.items) {
    const file = d.span.file;
    const ok =
      d.span.start >= 0 &&
      d.span.end >= d.span.start &&
      d.span.start <= file.text.length &&
      d.span.end <= file.text.length + 1;
    const { line } = lineColumn(file, d.span.start);
    if (!ok || line < 1 || line > file.lineStarts.length) {
      throw new Error(
        `${label}: diagnostic '${d.message}' has a span outside its file (${d.span.start}..${d.span.end} of ${file.text.length})\n--- input ---\n${clip(text)}\n--- end ---`,
      );
    }
    try {
      renderDiagnostic(d);
    } catch (error) {
      throw new Error(
        `${label}: renderDiagnostic threw for '${d.message}': ${String(error)}\n--- input ---\n${clip(text)}\n--- end ---`,
      );
    }
  }
  if (result.program === undefined && errors.length === 0) {
    throw new Error(
      `${label}: no program and no error diagnostic\n--- input ---\n${clip(text)}\n--- end ---`,
    );
  }
  if (result.program !== undefined && errors.length > 0) {
    throw new Error(
      `${label}: a program despite ${errors.length} error(s)\n--- input ---\n${clip(text)}\n--- end ---`,
    );
  }
  if (result.program !== undefined) {
    // What `inspect --stage ir` prints must not throw either.
    const program = result.program;
    // Only what this case defines: the imported stdlib is the same every time (and printing is not cheap).
    const own = (span: { readonly file: { readonly text: string } }): boolean =>
      span.file.text === text;
    try {
      for (const m of program.models.values())
        if (own(m.span)) formatModel(m, program.dimensions.get(m.name) ?? new Map());
      for (const n of program.networks.values()) if (own(n.span)) formatNetwork(n);
    } catch (error) {
      throw new Error(
        `${label}: printing the IR threw ${String(error)}\n--- input ---\n${clip(text)}\n--- end ---`,
      );
    }
    // The back end's first passes (routing, per-synapse values, kernel IR) too, on networks
    // small enough to build in milliseconds: a DiagnosticError is an answer, anything else a crash.
    for (const n of program.networks.values()) {
      if (!own(n.span) || !smallNetwork(n)) continue;
      try {
        const plan = buildPlan(n, 2);
        // Every target's code, and the WebAssembly the CPU backend would assemble.
        for (const target of TARGETS) generateSource(plan, target);
        const wat = assembler.parseWat('fuzz.wat', generateSource(plan, 'wasm'), { threads: true });
        try {
          wat.validate();
        } finally {
          wat.destroy();
        }
      } catch (error) {
        if (error instanceof DiagnosticError) {
          for (const d of error.diagnostics) renderDiagnostic(d);
          continue;
        }
        const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        throw new Error(
          `${label}: buildPlan or code generation threw ${what}\n--- input ---\n${clip(text)}\n--- end ---`,
        );
      }
    }
  }
  return {
    ms,
    program: result.program !== undefined,
    errors: errors.length,
    messages: errors.map((d) => d.message),
  };
}

/** Few neurons, few stored connections, no file to read: the plan builds in milliseconds. */
function smallNetwork(n: Network): boolean {
  const neurons = n.populations.reduce((sum, p) => sum + p.size, 0);
  const stored = n.projections.reduce(
    (sum, p) =>
      sum +
      (p.procedural
        ? 0
        : (p.preRange.end - p.preRange.start) * (p.postRange.end - p.postRange.start)),
    0,
  );
  return (
    neurons <= 5000 &&
    stored <= 2_000_000 &&
    n.projections.every((p) => p.connector.kind !== 'from_file')
  );
}

interface Tally {
  cases: number;
  programs: number;
  rejected: number;
  slowest: number;
  failures: string[];
}

function newTally(): Tally {
  return { cases: 0, programs: 0, rejected: 0, slowest: 0, failures: [] };
}

function runCase(tally: Tally, text: string, label: string): void {
  tally.cases++;
  try {
    const o = compileCase(text, label);
    if (o.program) tally.programs++;
    else tally.rejected++;
    tally.slowest = Math.max(tally.slowest, o.ms);
  } catch (error) {
    tally.failures.push(error instanceof Error ? error.message : String(error));
  }
}

/** Long inputs are cut in failure messages; the label says how to rebuild them. */
function clip(text: string): string {
  return text.length <= 3000
    ? text
    : `${text.slice(0, 1500)}\n[... ${text.length - 3000} characters left out ...]\n${text.slice(-1500)}`;
}

function report(name: string, tally: Tally): void {
  console.log(
    `fuzz ${name}: ${tally.cases} cases (seed ${SEED}): ${tally.programs} compiled, ${tally.rejected} rejected with diagnostics, ` +
      `${tally.failures.length} failures, slowest ${tally.slowest.toFixed(1)} ms`,
  );
}

/** Fails with the first few failures, each with its input, so a failure can be replayed. */
function expectNoFailures(tally: Tally): void {
  const shown = tally.failures.slice(0, 3).join('\n\n');
  expect(
    tally.failures.length,
    `${tally.failures.length} of ${tally.cases} fuzz cases failed; the first ones:\n\n${shown}`,
  ).toBe(0);
}

const totals = { cases: 0 };

/** A neuron whose equation is `dV/dt = INNER / tau`. */
function wrap(inner: string): string {
  return `neuron Deep {\n  parameters { tau = 10 ms }\n  state { V = -65 mV }\n  equations {\n    dV/dt = ${inner} / tau\n  }\n}\n`;
}

/** A neuron whose reset nests `depth` ifs, each closed. */
function nestedIfs(depth: number): string {
  return (
    'neuron Deep {\n  parameters { tau = 10 ms }\n  state { V = -65 mV }\n  equations { dV/dt = -V / tau }\n  spike when V > -50 mV\n' +
    `  reset { ${'if V > -60 mV { '.repeat(depth)}V = -65 mV ${'} '.repeat(depth)}}\n}\n`
  );
}

// ---------------------------------------------------------------------------

describe('fuzz: the front end never crashes, hangs or fails silently', () => {
  it('compiles every unmutated corpus file (the harness itself works)', () => {
    const tally = newTally();
    for (const c of CORPUS) runCase(tally, c.text, c.name);
    expectNoFailures(tally);
    expect(tally.programs).toBe(CORPUS.length);
    totals.cases += tally.cases;
  });

  // The time limits follow the budgets: a scaled run (SPK_FUZZ_SCALE) may use all of its budget.
  it(
    'token mutations of the valid models',
    () => {
      const rng = makeRng(SEED);
      const tally = newTally();
      const target = Math.round(4000 * SCALE);
      const started = performance.now();
      for (let n = 0; n < target; n++) {
        if (performance.now() - started > MUTATION_BUDGET_MS) break;
        const source = pick(rng, TOKENIZED);
        const { pieces, log } = mutate(source.pieces, rng);
        runCase(
          tally,
          render(pieces, source.tail),
          `case ${n} (${source.name}: ${log.join('; ')})`,
        );
      }
      report('mutations', tally);
      totals.cases += tally.cases;
      expectNoFailures(tally);
      // A busy machine runs fewer cases within the time budget; 750 is far below what an idle one runs.
      expect(tally.cases).toBeGreaterThanOrEqual(Math.min(target, 750));
      // Both outcomes occur: the mutations are neither all harmless nor all fatal.
      expect(tally.programs).toBeGreaterThan(0);
      expect(tally.rejected).toBeGreaterThan(tally.cases / 2);
    },
    MUTATION_BUDGET_MS + 60_000,
  );

  it(
    'random token soup from the pool',
    () => {
      const rng = makeRng(SEED ^ 0x5bd1e995);
      const tally = newTally();
      const started = performance.now();
      for (let n = 0; n < Math.round(800 * SCALE); n++) {
        if (performance.now() - started > SOUP_BUDGET_MS) break;
        const length = int(rng, 1, 60);
        const parts: string[] = [];
        for (let k = 0; k < length; k++) parts.push(pick(rng, POOL), rng() < 0.15 ? '\n' : ' ');
        runCase(tally, parts.join(''), `soup ${n}`);
      }
      report('token soup', tally);
      totals.cases += tally.cases;
      expectNoFailures(tally);
    },
    SOUP_BUDGET_MS + 60_000,
  );

  it('random byte strings', () => {
    const rng = makeRng(SEED ^ 0x27d4eb2f);
    const tally = newTally();
    const alphabet =
      'abcdefghijklmnopqrstuvwxyzVIE_0123456789 \t\n\r{}()[]<>=~+-*/^.,:;"\'!@#$%&|\\?`';
    for (let n = 0; n < Math.round(400 * SCALE); n++) {
      const length = int(rng, 0, 300);
      let text = '';
      for (let k = 0; k < length; k++) {
        const r = rng();
        // Mostly the language's own characters, sometimes any UTF-16 unit (lone surrogates included).
        text +=
          r < 0.85
            ? alphabet.charAt(Math.floor(rng() * alphabet.length))
            : String.fromCharCode(Math.floor(rng() * 0x10000));
      }
      runCase(tally, text, `bytes ${n}`);
    }
    // A few inputs chosen by hand: empty, only a BOM, NUL bytes, CRLF, a lone CR.
    for (const text of [
      '',
      '\uFEFF',
      '\0\0\0',
      'neuron A {\r\n}\r\n',
      'neuron A {\r}',
      '/*',
      '"',
      '/* /* */ */',
      '\u00a0neuron A { }',
    ]) {
      runCase(tally, text, `special ${JSON.stringify(text)}`);
    }
    report('bytes', tally);
    totals.cases += tally.cases;
    expectNoFailures(tally);
  });

  it('deeply nested parentheses, braces, unary minus and long chains', () => {
    const tally = newTally();
    // Without the parser's nesting limits these overflowed the stack from about 80 unclosed or 160
    // balanced parentheses, 600 nested ifs, 1200 unary minus or '^', 2300 terms of a sum; now the
    // deep ones are refused with a diagnostic (see the tests below for the messages).
    for (const depth of [1, 5, 20, 40, 60, 100, 200, 1000, 3000]) {
      runCase(
        tally,
        wrap(`${'('.repeat(depth)}V${')'.repeat(depth)}`),
        `${depth} balanced parentheses`,
      );
      runCase(tally, wrap(`${'('.repeat(depth)}V`), `${depth} unclosed parentheses`);
      runCase(tally, wrap(`V${')'.repeat(depth)}`), `${depth} stray ')'`);
      runCase(tally, wrap(`${'-'.repeat(depth)}V`), `${depth} unary minus`);
      runCase(
        tally,
        wrap(Array.from({ length: depth }, () => 'V').join(' + ')),
        `${depth}-term sum`,
      );
      runCase(tally, wrap(`V${' ^ 1'.repeat(depth)}`), `${depth} powers`);
      runCase(tally, `${'neuron A { '.repeat(depth)}`, `${depth} unclosed definitions`);
      runCase(
        tally,
        `neuron A { reset ${'{ if V > 0 mV '.repeat(depth)} }`,
        `${depth} nested ifs, unclosed`,
      );
      runCase(tally, nestedIfs(depth), `${depth} nested ifs`);
      runCase(
        tally,
        wrap(`${'-('.repeat(depth)}V${')'.repeat(depth)}`),
        `${depth} minus-parenthesis pairs`,
      );
      runCase(
        tally,
        `neuron A { spike when ${'not '.repeat(depth)}true }`,
        `${depth} 'not' before true`,
      );
      runCase(tally, `${'{'.repeat(depth)}${'}'.repeat(depth)}`, `${depth} bare braces`);
      runCase(tally, `${'['.repeat(depth)}`, `${depth} open brackets`);
      runCase(tally, `${'not '.repeat(depth)}`, `${depth} bare 'not'`);
    }
    // Long but flat inputs are fine at any length.
    runCase(
      tally,
      Array.from({ length: 1000 }, (_, i) => `neuron N${i} { parameters { tau = 10 } }`).join('\n'),
      '1000 neurons',
    );
    runCase(
      tally,
      `neuron Wide {\n  parameters {\n${Array.from({ length: 3000 }, (_, i) => `    p${i} = ${i}`).join('\n')}\n  }\n}\n`,
      '3000 parameters',
    );
    report('nesting', tally);
    totals.cases += tally.cases;
    expectNoFailures(tally);
  });

  // Bugs the fuzzer found, each with the diagnostic that replaced the crash.
  describe('deep input is refused with a diagnostic, not a stack overflow', () => {
    const cases: [string, string, string][] = [
      [
        '100 unclosed parentheses',
        wrap(`${'('.repeat(100)}V`),
        'expression nested too deeply (more than 50 levels)',
      ],
      [
        '200 nested parentheses',
        wrap(`${'('.repeat(200)}V${')'.repeat(200)}`),
        'expression nested too deeply (more than 50 levels)',
      ],
      [
        '1000 nested ifs in a reset',
        nestedIfs(1000),
        'blocks nested too deeply (more than 50 levels)',
      ],
      [
        '2000 unary minus signs',
        wrap(`${'-'.repeat(2000)}V`),
        'expression nested too deeply (more than 64 unary operators in a row)',
      ],
      [
        "2000 '^'",
        wrap(`V${' ^ 1'.repeat(2000)}`),
        "expression nested too deeply (more than 64 '^' in a row)",
      ],
      [
        'a 3000-term sum V + V + ... + V',
        wrap(Array.from({ length: 3000 }, () => 'V').join(' + ')),
        'expression too long (more than 500 operators)',
      ],
    ];
    it.each(cases)('%s', (label, text, message) => {
      const outcome = compileCase(text, label);
      expect(outcome.program).toBe(false);
      expect(outcome.messages).toEqual([message]);
    });

    it('compiles what stays within the limits: 50 parentheses, 64 unary minus signs, a 400-term sum', () => {
      for (const [label, text] of [
        ['50 parentheses', wrap(`${'('.repeat(50)}V${')'.repeat(50)}`)],
        ['64 unary minus signs', wrap(`${'-'.repeat(64)}V`)],
        ['a 400-term sum', wrap(`-(${Array.from({ length: 400 }, () => 'V').join(' + ')})`)],
      ] as const) {
        expect(compileCase(text, label).program, label).toBe(true);
      }
    });

    it('turns a stack overflow inside the passes into a diagnostic (the safety net behind the limits)', () => {
      // compileFiles is called ever less deep in a recursion until it runs: near the top, the stack
      // is exhausted inside its passes, which must then report rather than throw.
      const text = wrap(`${'('.repeat(45)}V${')'.repeat(45)}`);
      const files = new Map(STDLIB);
      files.set(CASE_PATH, text);
      const read = (p: string): string => files.get(p) ?? '';
      const exists = (p: string): boolean => files.has(p);
      type Result = ReturnType<typeof compileFiles> | undefined;
      const nested = (n: number, base: () => Result): Result =>
        n === 0 ? base() : nested(n - 1, base);
      // The deepest recursion that still returns (it depends on the stack size): doubling, then halving the step.
      let limit = 0;
      for (let step = 1024; step >= 8;) {
        try {
          nested(limit + step, () => undefined);
          limit += step;
          step *= 2;
        } catch {
          step = Math.floor(step / 2);
        }
      }
      const outcomes = new Set<string>();
      for (let depth = limit; depth >= 0 && !outcomes.has('safety net'); depth -= 10) {
        let result: Result;
        try {
          result = nested(depth, () => compileFiles([CASE_PATH], read, exists));
        } catch (error) {
          // Out of stack outside compileFiles' passes (in the recursion itself): go less deep.
          if (error instanceof RangeError) continue;
          throw error;
        }
        if (result === undefined) throw new Error('no result');
        const messages = result.diagnostics.items.map((d) => d.message);
        if (messages.some((m) => m.endsWith('is nested too deeply to compile')))
          outcomes.add('safety net');
        else if (result.program !== undefined) outcomes.add('program');
        else throw new Error(`unexpected diagnostics at depth ${depth}: ${messages.join('; ')}`);
      }
      expect([...outcomes]).toContain('safety net');
      // The shared parser is usable after an overflow inside it.
      expect(compileCase(text, 'the same model, with the whole stack').program).toBe(true);
    });
  });

  it("reports a literal that overflows a double: 'tau = 1e999 ms' (was an InternalError: non-finite literal)", () => {
    const text =
      'neuron A {\n  parameters { tau = 1e999 ms   k = 1 / 0 }\n  state { V = -65 mV }\n  equations { dV/dt = -k * V / tau }\n}\n';
    const outcome = compileCase(text, '1e999');
    expect(outcome.messages).toEqual([
      'number too large',
      "the default of parameter 'k' is infinite",
    ]);
  });

  it('ran thousands of cases', () => {
    console.log(`fuzz total: ${totals.cases} cases`);
    expect(totals.cases).toBeGreaterThanOrEqual(Math.min(2000, 2000 * SCALE));
  });
});

/**
 * Differential fuzzing of the CPU kernels: every mutated model that compiles to a small network
 * runs 20 steps on the four-lane and the one-lane WebAssembly kernels, on the JavaScript
 * float32 kernels, split over three threads, and with the delivery on the host, which must give
 * the same spikes and the same final states, bit for bit (a
 * miscompilation in one of them shows as a difference; a DiagnosticError is an answer).
 */
describe('differential fuzz: mutated networks run alike on every CPU kernel language', () => {
  /** The CPU backends compared: every kernel language, and the four-lane kernels split over three threads. */
  const BACKENDS: readonly {
    readonly name: string;
    readonly make: (plan: SimulationPlan) => CpuBackend;
  }[] = [
    ...(['wasm', 'wasm-one-lane', 'js'] as const).map((language) => ({
      name: language,
      make: () => new CpuBackend('f32', language, 2 ** 32, 1),
    })),
    // Every kernel of 4 elements or more split (the default splits only large ones).
    { name: 'wasm on 3 threads', make: () => new CpuBackend('f32', 'wasm', 2 ** 32, 3, 4) },
    // A memory one byte too small for the connectivity: the host delivers (cpu-delivery.ts).
    {
      name: 'wasm, delivery on the host',
      make: (plan) => {
        const layout = layoutOf(plan);
        const steps = new CpuBackend('f32').maxChunkSteps(plan);
        return new CpuBackend(
          'f32',
          'wasm',
          wasmMemoryPlan(plan.kernels, layout, steps).bytes - 1,
          1,
        );
      },
    },
  ];

  /** The run of a network on one backend: spikes and final states as text. */
  async function runOn(plan: SimulationPlan, backend: CpuBackend): Promise<string> {
    try {
      await backend.prepare(plan);
      const { chunks } = await simulate(plan, backend);
      const spikes = chunks.map((c) =>
        [...c.spikes].map(([p, s]) => `${p}:${s.steps.join(',')}/${s.indices.join(',')}`),
      );
      const states = await Promise.all(
        plan.kernels.map(async (k) =>
          [...(await backend.readState(k.population))].map(
            ([name, values]) =>
              `${k.population}.${name}=${Array.from(values).map(bitsOf).join(',')}`,
          ),
        ),
      );
      return JSON.stringify({ spikes, states });
    } finally {
      backend.dispose();
    }
  }

  it(
    'the four-lane, one-lane and JavaScript kernels agree',
    async () => {
      const rng = makeRng(SEED + 1);
      const started = performance.now();
      let compared = 0;
      let cases = 0;
      for (let n = 0; performance.now() - started < DIFFERENTIAL_BUDGET_MS; n++) {
        const source = pick(rng, TOKENIZED);
        const { pieces, log } = mutate(source.pieces, rng);
        const text = render(pieces, source.tail);
        cases++;
        const files = new Map(STDLIB);
        files.set(CASE_PATH, text);
        const result = compileFiles(
          [CASE_PATH],
          (p) => files.get(p) ?? '',
          (p) => files.has(p),
        );
        for (const network of result.program?.networks.values() ?? []) {
          if (network.span.file.text !== text || !smallNetwork(network)) continue;
          if (network.populations.reduce((sum, p) => sum + p.size, 0) > 2000) continue;
          let plan: SimulationPlan;
          try {
            plan = buildPlan(network, 20);
          } catch (error) {
            if (error instanceof DiagnosticError) continue;
            throw new Error(
              `case ${n} (${source.name}: ${log.join('; ')}): buildPlan threw ${String(error)}\n--- input ---\n${clip(text)}\n--- end ---`,
              { cause: error },
            );
          }
          const [reference, ...others] = await Promise.all(
            BACKENDS.map((b) => runOn(plan, b.make(plan))),
          );
          others.forEach((other, k) =>
            expect(
              other === reference,
              `case ${n} (${source.name}: ${log.join('; ')}): ${BACKENDS[k + 1]!.name} differs from ${BACKENDS[0]!.name}\n--- input ---\n${clip(text)}\n--- end ---`,
            ).toBe(true),
          );
          compared++;
        }
      }
      console.log(
        `fuzz differential: ${cases} mutations, ${compared} networks run on ${BACKENDS.map((b) => b.name).join(', ')}, all alike`,
      );
      expect(compared).toBeGreaterThan(0);
    },
    DIFFERENTIAL_BUDGET_MS + 60_000,
  );
});

/** The bits of a float (NaN payloads and -0 included), for exact comparison. */
function bitsOf(x: number): string {
  return Object.is(x, -0) ? '-0' : Number.isNaN(x) ? 'NaN' : String(x);
}
