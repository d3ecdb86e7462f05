import { EOF } from 'chevrotain';
import type { Diagnostics } from '../diagnostics/diagnostic.js';
import type { SourceFile, Span } from '../diagnostics/source.js';
import type { FileAst } from './ast.js';
import { buildAst } from './cst-to-ast.js';
import { spkLexer } from './lexer.js';
import { spkParser } from './parser.js';

/**
 * Lexes and parses one file. Every lexical and syntax error goes to
 * `diagnostics` (the parser recovers and goes on, so one run reports them
 * all); the AST is returned only when there were none.
 */
export function parseFile(source: SourceFile, diagnostics: Diagnostics): FileAst | undefined {
  const lexed = spkLexer.tokenize(source.text);
  for (const e of lexed.errors) {
    const span: Span = { file: source, start: e.offset, end: e.offset + Math.max(1, e.length) };
    diagnostics.error(span, `unexpected character '${source.text.slice(e.offset, e.offset + e.length)}'`);
  }
  spkParser.input = lexed.tokens;
  const cst = spkParser.file();
  const seen = new Set<number>();
  for (const e of spkParser.errors) {
    const token = e.token.tokenType === EOF ? lexed.tokens[lexed.tokens.length - 1] : e.token;
    const start = token === undefined || Number.isNaN(token.startOffset) ? source.text.length : token.startOffset;
    const end = token === undefined ? start + 1 : start + Math.max(1, token.image.length);
    // Recovery can report the same position twice; once is enough.
    if (seen.has(start)) continue;
    seen.add(start);
    diagnostics.error({ file: source, start, end }, e.message);
  }
  if (lexed.errors.length > 0 || spkParser.errors.length > 0) return undefined;
  return buildAst(cst, source);
}
