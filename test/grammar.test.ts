/**
 * Keeps grammar/spk.ebnf and the parser (src/parser/parser.ts, src/parser/lexer.ts) in step:
 *
 * - every parser rule has a production of the same name in spk.ebnf, with the same structure
 *   (the same terminals, subrules, options, repetitions and alternatives, in the same order);
 * - every production in spk.ebnf is a parser rule or a documented lexical token;
 * - the reserved words of the lexer are exactly the EBNF's `Keyword` production;
 * - every token of the lexer is documented;
 * - every example at the end of spk.ebnf parses;
 * - the gates that spk.ebnf describes in comments behave as described.
 *
 * When a structural comparison fails, the message prints the production as the parser has it,
 * ready to paste into spk.ebnf.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CstElement, CstNode, IToken } from 'chevrotain';
import { ALL_TOKENS, RESERVED_WORDS, spkLexer } from '../src/parser/lexer.js';
import { spkParser } from '../src/parser/parser.js';

const EBNF_PATH = fileURLToPath(new URL('../grammar/spk.ebnf', import.meta.url));
const EBNF_TEXT = readFileSync(EBNF_PATH, 'utf8');

/** Lexical productions spk.ebnf may define besides the lexer's own token names. */
const LEXICAL_GROUPS: ReadonlySet<string> = new Set([
  // The reserved words, one alternative per word (each is a `Kw_<word>` token of the lexer).
  'Keyword',
]);

/** Lexical productions spk.ebnf must define. */
const REQUIRED_LEXICAL = [
  'WhiteSpace',
  'LineComment',
  'BlockComment',
  'Derivative',
  'NumberLiteral',
  'StringLiteral',
  'Identifier',
  'Keyword',
];

const TOKEN_NAMES: ReadonlySet<string> = new Set(ALL_TOKENS.map((t) => t.name));

// ---------------------------------------------------------------------------------------------
// A small reader for W3C EBNF: tokens, productions, expressions.
// ---------------------------------------------------------------------------------------------

type EbnfToken =
  | { readonly kind: 'name'; readonly text: string; readonly line: number }
  | { readonly kind: 'literal'; readonly text: string; readonly line: number }
  | { readonly kind: 'class'; readonly text: string; readonly line: number }
  | { readonly kind: 'op'; readonly text: string; readonly line: number };

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

/** Splits W3C EBNF text into tokens; comments are dropped. */
function tokenizeEbnf(text: string): EbnfToken[] {
  const tokens: EbnfToken[] = [];
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const ws = /^\s+/.exec(rest);
    if (ws) {
      i += ws[0].length;
      continue;
    }
    if (rest.startsWith('/*')) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`spk.ebnf:${lineOf(text, i)}: unterminated comment`);
      i = end + 2;
      continue;
    }
    const line = lineOf(text, i);
    const match =
      /^::=/.exec(rest) ??
      /^'[^']*'/.exec(rest) ??
      /^"[^"]*"/.exec(rest) ??
      /^\[[^\]]*\]/.exec(rest) ??
      /^#x[0-9A-Fa-f]+/.exec(rest) ??
      /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest) ??
      /^[()|?*+-]/.exec(rest);
    if (!match) throw new Error(`spk.ebnf:${line}: unexpected character '${rest[0]}'`);
    const t = match[0];
    if (t.startsWith("'") || t.startsWith('"'))
      tokens.push({ kind: 'literal', text: t.slice(1, -1), line });
    else if (t.startsWith('[') || t.startsWith('#x')) tokens.push({ kind: 'class', text: t, line });
    else if (/^[A-Za-z_]/.test(t)) tokens.push({ kind: 'name', text: t, line });
    else tokens.push({ kind: 'op', text: t, line });
    i += t.length;
  }
  return tokens;
}

interface Production {
  readonly name: string;
  readonly line: number;
  readonly body: readonly EbnfToken[];
}

/** Productions in file order: a name followed by `::=` starts one, which runs to the next. */
function readProductions(text: string): Production[] {
  const tokens = tokenizeEbnf(text);
  const starts: number[] = [];
  tokens.forEach((t, k) => {
    if (t.kind === 'name' && tokens[k + 1]?.text === '::=' && tokens[k + 1]?.kind === 'op')
      starts.push(k);
  });
  if (starts[0] !== 0)
    throw new Error(`spk.ebnf: text before the first production (line ${tokens[0]?.line})`);
  return starts.map((s, n) => {
    const head = tokens[s]!;
    return {
      name: head.text,
      line: head.line,
      body: tokens.slice(s + 2, starts[n + 1] ?? tokens.length),
    };
  });
}

/** The shape both sides are compared in. Terminals are lexer token names. */
type Grammar =
  | { readonly k: 'tok'; readonly name: string }
  | { readonly k: 'ref'; readonly name: string }
  | { readonly k: 'seq'; readonly items: readonly Grammar[] }
  | { readonly k: 'alt'; readonly alts: readonly Grammar[] }
  | { readonly k: 'opt' | 'star' | 'plus'; readonly body: Grammar }
  | { readonly k: 'lexical'; readonly text: string };

function seq(items: readonly Grammar[]): Grammar {
  const flat = items.flatMap((g) => (g.k === 'seq' ? g.items : [g]));
  return flat.length === 1 ? flat[0]! : { k: 'seq', items: flat };
}

function alt(alts: readonly Grammar[]): Grammar {
  return alts.length === 1 ? alts[0]! : { k: 'alt', alts };
}

/** Renders a Grammar as EBNF; `terminal` spells a token. */
function render(g: Grammar, terminal: (name: string) => string = (n) => n): string {
  const atom = (x: Grammar): string =>
    x.k === 'seq' || x.k === 'alt' ? `( ${render(x, terminal)} )` : render(x, terminal);
  switch (g.k) {
    case 'tok':
      return terminal(g.name);
    case 'ref':
      return g.name;
    case 'lexical':
      return g.text;
    case 'seq':
      return g.items.map(atom).join(' ');
    case 'alt':
      return g.alts.map((a) => render(a, terminal)).join(' | ');
    case 'opt':
      return `${atom(g.body)}?`;
    case 'star':
      return `${atom(g.body)}*`;
    case 'plus':
      return `${atom(g.body)}+`;
  }
}

/** The lexer token a quoted EBNF terminal stands for, or an error. */
function literalToken(text: string): string {
  const lexed = spkLexer.tokenize(text);
  const [only, ...more] = lexed.tokens;
  if (lexed.errors.length > 0 || only === undefined || more.length > 0 || only.image !== text) {
    throw new Error(`'${text}' is not exactly one token of the lexer`);
  }
  return only.tokenType.name;
}

/**
 * Parses the body of a production. `ruleNames` decides what a bare name is: a subrule (a
 * parser rule) or a token (a lexer token name). Character classes and `A - B` are allowed
 * only in lexical productions (`lexical` true), where names are not resolved.
 */
function parseBody(p: Production, ruleNames: ReadonlySet<string>, lexical: boolean): Grammar {
  let k = 0;
  const body = p.body;
  const fail = (why: string): never => {
    throw new Error(`spk.ebnf:${body[k]?.line ?? p.line}: in ${p.name}: ${why}`);
  };
  const peek = (): EbnfToken | undefined => body[k];
  const isOp = (text: string): boolean => peek()?.kind === 'op' && peek()?.text === text;

  function alternatives(): Grammar {
    const alts = [difference()];
    while (isOp('|')) {
      k++;
      alts.push(difference());
    }
    return alt(alts);
  }
  function difference(): Grammar {
    const left = sequence();
    if (!isOp('-')) return left;
    if (!lexical) fail("'A - B' is for lexical productions only");
    k++;
    const right = sequence();
    return { k: 'lexical', text: `${render(left)} - ${render(right)}` };
  }
  function sequence(): Grammar {
    const items: Grammar[] = [];
    for (;;) {
      const t = peek();
      if (
        t === undefined ||
        (t.kind === 'op' && (t.text === '|' || t.text === ')' || t.text === '-'))
      )
        break;
      items.push(postfix());
    }
    if (items.length === 0) fail('empty alternative');
    return seq(items);
  }
  function postfix(): Grammar {
    let g = primary();
    for (;;) {
      if (isOp('?')) g = { k: 'opt', body: g };
      else if (isOp('*')) g = { k: 'star', body: g };
      else if (isOp('+')) g = { k: 'plus', body: g };
      else return g;
      k++;
    }
  }
  function primary(): Grammar {
    const t = peek();
    if (t === undefined) return fail('unexpected end of production');
    k++;
    switch (t.kind) {
      case 'op':
        if (t.text !== '(') return fail(`unexpected '${t.text}'`);
        {
          const inner = alternatives();
          if (!isOp(')')) fail("missing ')'");
          k++;
          return inner;
        }
      case 'literal':
        if (lexical) return { k: 'lexical', text: `'${t.text}'` };
        try {
          return { k: 'tok', name: literalToken(t.text) };
        } catch (e) {
          return fail((e as Error).message);
        }
      case 'class':
        if (!lexical) return fail(`character class ${t.text} in a parser rule`);
        return { k: 'lexical', text: t.text };
      case 'name':
        if (lexical) return { k: 'ref', name: t.text };
        if (ruleNames.has(t.text)) return { k: 'ref', name: t.text };
        if (TOKEN_NAMES.has(t.text)) return { k: 'tok', name: t.text };
        return fail(`'${t.text}' is neither a parser rule nor a lexer token`);
    }
  }

  const g = alternatives();
  if (k < body.length) fail(`unexpected '${body[k]!.text}'`);
  return g;
}

/** Every name a Grammar refers to (tokens written as quoted literals are not names). */
function referencedNames(g: Grammar): string[] {
  switch (g.k) {
    case 'tok':
      return spell(g.name) === g.name ? [g.name] : [];
    case 'ref':
      return [g.name];
    case 'lexical':
      return [];
    case 'seq':
      return g.items.flatMap(referencedNames);
    case 'alt':
      return g.alts.flatMap(referencedNames);
    default:
      return referencedNames(g.body);
  }
}

// ---------------------------------------------------------------------------------------------
// The parser's side: chevrotain's serialized grammar in the same shape.
// ---------------------------------------------------------------------------------------------

interface Gast {
  readonly type: string;
  readonly name?: string;
  readonly label?: string;
  readonly definition?: readonly Gast[];
}

function fromGast(node: Gast): Grammar {
  const body = (): Grammar => seq((node.definition ?? []).map(fromGast));
  switch (node.type) {
    case 'Terminal':
      return { k: 'tok', name: node.name! };
    case 'NonTerminal':
      return { k: 'ref', name: node.name! };
    case 'Rule':
    case 'Alternative':
      return body();
    case 'Option':
      return { k: 'opt', body: body() };
    case 'Repetition':
      return { k: 'star', body: body() };
    case 'RepetitionMandatory':
      return { k: 'plus', body: body() };
    case 'Alternation':
      return alt((node.definition ?? []).map(fromGast));
    default:
      // MANY_SEP / AT_LEAST_ONE_SEP: write them out here (x (sep x)*) when the parser uses them.
      throw new Error(`grammar.test.ts does not know the chevrotain production '${node.type}'`);
  }
}

const GAST = spkParser.getSerializedGastProductions() as unknown as readonly Gast[];
const PARSER_RULES: ReadonlyMap<string, Grammar> = new Map(GAST.map((r) => [r.name!, fromGast(r)]));

/** How a token is best written in EBNF: its quoted spelling, or its name. */
const TOKEN_SPELLING: ReadonlyMap<string, string> = new Map(
  ALL_TOKENS.map((t) => {
    const label = t.LABEL ?? '';
    const literal = /^'.+'$/.test(label) && t.name !== 'Derivative';
    return [t.name, literal ? label : t.name];
  }),
);
const spell = (name: string): string => TOKEN_SPELLING.get(name) ?? name;

// ---------------------------------------------------------------------------------------------

const PRODUCTIONS = readProductions(EBNF_TEXT);
const PRODUCTION_BY_NAME = new Map(PRODUCTIONS.map((p) => [p.name, p]));
const RULE_NAMES: ReadonlySet<string> = new Set(PARSER_RULES.keys());

describe('grammar/spk.ebnf and the parser', () => {
  it('the parser has rules (sanity)', () => {
    expect(RULE_NAMES.size).toBeGreaterThan(40);
    expect(RULE_NAMES.has('file')).toBe(true);
  });

  it('defines each production once', () => {
    const seen = new Set<string>();
    const twice = PRODUCTIONS.filter((p) =>
      seen.has(p.name) ? true : (seen.add(p.name), false),
    ).map((p) => `${p.name} (line ${p.line})`);
    expect(twice).toEqual([]);
  });

  it('defines every parser rule', () => {
    const missing = [...RULE_NAMES].filter((name) => !PRODUCTION_BY_NAME.has(name));
    const hints = missing.map(
      (name) => `${name.padEnd(15)} ::= ${render(PARSER_RULES.get(name)!, spell)}`,
    );
    expect(missing, `add to spk.ebnf:\n${hints.join('\n')}`).toEqual([]);
  });

  it('defines nothing but parser rules and documented lexical tokens', () => {
    const unknown = PRODUCTIONS.filter(
      (p) => !RULE_NAMES.has(p.name) && !TOKEN_NAMES.has(p.name) && !LEXICAL_GROUPS.has(p.name),
    ).map((p) => `${p.name} (line ${p.line})`);
    expect(unknown, 'productions that are neither a parser rule nor a lexer token').toEqual([]);
  });

  it('defines the lexical tokens', () => {
    expect(REQUIRED_LEXICAL.filter((name) => !PRODUCTION_BY_NAME.has(name))).toEqual([]);
  });

  for (const [name, expected] of PARSER_RULES) {
    it(`rule ${name} has the parser's structure`, () => {
      const production = PRODUCTION_BY_NAME.get(name);
      if (production === undefined) return; // reported by 'defines every parser rule'
      const documented = parseBody(production, RULE_NAMES, false);
      expect(
        render(documented),
        `spk.ebnf:${production.line}: the parser has\n  ${name} ::= ${render(expected, spell)}\n`,
      ).toBe(render(expected));
    });
  }

  it('refers only to defined names', () => {
    const undefinedNames: string[] = [];
    for (const p of PRODUCTIONS) {
      const g = parseBody(p, RULE_NAMES, !RULE_NAMES.has(p.name));
      for (const n of referencedNames(g))
        if (!PRODUCTION_BY_NAME.has(n)) undefinedNames.push(`${n} (in ${p.name})`);
    }
    expect(undefinedNames).toEqual([]);
  });

  it('lists exactly the reserved words of the lexer as Keyword', () => {
    const keyword = PRODUCTION_BY_NAME.get('Keyword');
    expect(keyword).toBeDefined();
    const words = keyword!.body.filter((t) => t.kind === 'literal').map((t) => t.text);
    expect(
      keyword!.body.every((t) => t.kind === 'literal' || (t.kind === 'op' && t.text === '|')),
    ).toBe(true);
    expect([...words].sort()).toEqual([...RESERVED_WORDS].sort());
    // The brief version of the same promise: each reserved word is in the document.
    for (const word of RESERVED_WORDS) expect(EBNF_TEXT).toContain(`'${word}'`);
  });

  it('documents every token of the lexer', () => {
    const literals = new Set(
      tokenizeEbnf(EBNF_TEXT)
        .filter((t) => t.kind === 'literal')
        .map((t) => `'${t.text}'`),
    );
    const undocumented = ALL_TOKENS.filter((t) => {
      if (PRODUCTION_BY_NAME.has(t.name)) return false;
      if (t.name.startsWith('Kw_')) return !RESERVED_WORDS.has(t.name.slice(3));
      return !literals.has(TOKEN_SPELLING.get(t.name) ?? '');
    }).map((t) => t.name);
    expect(undocumented).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Examples and gates
// ---------------------------------------------------------------------------------------------

interface Parsed {
  readonly cst: CstNode;
  readonly tokens: readonly IToken[];
  readonly errors: readonly string[];
}

function parse(text: string): Parsed {
  const lexed = spkLexer.tokenize(text);
  spkParser.input = lexed.tokens;
  const cst = spkParser.file();
  return {
    cst,
    tokens: lexed.tokens,
    errors: [
      ...lexed.errors.map((e) => `${e.line}:${e.column}: ${e.message}`),
      ...spkParser.errors.map((e) => `${e.token.startLine}:${e.token.startColumn}: ${e.message}`),
    ],
  };
}

function isNode(e: CstElement): e is CstNode {
  return 'children' in e;
}

function nodes(root: CstNode, name: string): CstNode[] {
  const found: CstNode[] = [];
  const walk = (n: CstNode): void => {
    if (n.name === name) found.push(n);
    for (const list of Object.values(n.children)) for (const c of list) if (isNode(c)) walk(c);
  };
  walk(root);
  return found;
}

function tokenImages(n: CstNode): string[] {
  const all: IToken[] = [];
  const walk = (x: CstNode): void => {
    for (const list of Object.values(x.children))
      for (const c of list) isNode(c) ? walk(c) : all.push(c);
  };
  walk(n);
  return all.sort((a, b) => a.startOffset - b.startOffset).map((t) => t.image);
}

/** Each number in `params`, with the unit the parser attached to it: `10 /ms`, `10`. */
function quantities(params: string): string[] {
  const { cst, errors } = parse(`neuron X { parameters { ${params} } }`);
  expect(errors).toEqual([]);
  return nodes(cst, 'quantity').map((q) => tokenImages(q).join(' '));
}

describe('the examples in spk.ebnf', () => {
  const heading = /^\/\* =+ Examples =+/m.exec(EBNF_TEXT);
  const blocks =
    heading === null
      ? []
      : [...EBNF_TEXT.slice(heading.index).matchAll(/^```spk\n([\s\S]*?)^```$/gm)].map(
          (m) => m[1]!,
        );

  it('are found when there is an examples section', () => {
    if (heading !== null) expect(blocks.length).toBeGreaterThan(0);
  });

  blocks.forEach((block, n) => {
    it(`example ${n + 1} parses`, () => {
      expect(parse(block).errors, block).toEqual([]);
    });
  });
});

describe('the gates described in spk.ebnf', () => {
  it('quantity: a unit spelling after a number is its unit', () => {
    expect(quantities('a = -65 mV  b = 1 mS/cm^2  c = 2 nA*ms  d = 5 m')).toEqual([
      '65 mV',
      '1 mS / cm ^ 2',
      '2 nA * ms',
      '5 m',
    ]);
  });

  it('quantity: a name followed by = ~ or : starts a declaration, not a unit', () => {
    expect(quantities('tau = 10   ms = 0   m = 1   mV : mV')).toEqual(['10', '0', '1']);
  });

  it("quantity: '/' starts a unit only without a space before the unit name", () => {
    expect(quantities('a = 0.5 /ms  b = 0.5/ms  c = 10 / ms  d = 10 / tau')).toEqual([
      '0.5 / ms',
      '0.5 / ms',
      '10',
      '10',
    ]);
  });

  it("quantity: 'weight' does not start the unit of a number", () => {
    expect(parse('neuron X { parameters { a = 0 weight } }').errors).not.toEqual([]);
    expect(parse('synapse X { state { g : weight = 0   h : weight/ms = 0 } }').errors).toEqual([]);
  });

  it("unit: '*' and '/' continue a unit only without spaces, whatever the name after them", () => {
    expect(quantities('a = 2 mV / tau  b = 2 mV/tau  c = 2 mV*x  d = 2 mV * x')).toEqual([
      '2 mV',
      '2 mV / tau',
      '2 mV * x',
      '2 mV',
    ]);
  });

  it("unit: a name followed by '(' or '.' is not part of a unit", () => {
    expect(quantities('a = 2 mV/exp(x)  b = 2 mV*post.V')).toEqual(['2 mV', '2 mV']);
  });

  it("unit: '^' after a unit name belongs to the unit, spaces or not", () => {
    expect(quantities('a = 2 mV ^ 2  b = 3 mV^-1')).toEqual(['2 mV ^ 2', '3 mV ^ - 1']);
  });

  it('argument: NAME = is a named argument, anything else positional', () => {
    const { cst, errors } = parse('network N { population P = Poisson(10, rate = 10 Hz) }');
    expect(errors).toEqual([]);
    expect(
      nodes(cst, 'argument').map((a) => ('Identifier' in a.children ? 'named' : 'positional')),
    ).toEqual(['positional', 'named']);
  });

  it('Derivative: dX/dt is one token, with or without spaces, also inside an expression', () => {
    const derivatives = (text: string): string[] =>
      spkLexer
        .tokenize(text)
        .tokens.filter((t) => t.tokenType.name === 'Derivative')
        .map((t) => t.image);
    expect(derivatives('dV/dt dV / dt dx\t/dt (dx)/dt dx/dtau')).toEqual([
      'dV/dt',
      'dV / dt',
      'dx\t/dt',
    ]);
    expect(parse('neuron X { equations { y = dx/dt } }').errors).not.toEqual([]);
    expect(parse('neuron X { equations { y = (dx)/dt } }').errors).toEqual([]);
  });

  it('Identifier: a word with letters outside ASCII is one token, for one error', () => {
    const lexed = spkLexer.tokenize(
      'R\u00e9seau Re\u0301seau V\u03b8 dV\u03b8/dt \u03c4_m neuron\u03b8',
    );
    expect(lexed.errors).toEqual([]);
    expect(lexed.tokens.map((t) => `${t.tokenType.name} ${t.image}`)).toEqual([
      'Identifier R\u00e9seau',
      'Identifier Re\u0301seau',
      'Identifier V\u03b8',
      'Derivative dV\u03b8/dt',
      'Identifier \u03c4_m',
      'Identifier neuron\u03b8',
    ]);
    // What is not a letter stays an unexpected character: a superscript two, an arrow.
    expect(spkLexer.tokenize('x\u00b2 \u2192 y').errors.map((e) => e.offset)).toEqual([1, 3]);
  });

  it('reserved words cannot name anything, but may start a name', () => {
    expect(parse('neuron X { parameters { state = 1 } }').errors).not.toEqual([]);
    expect(parse('neuron X { parameters { state_x = 1   weights = 2 } }').errors).toEqual([]);
  });
});
