import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Chevrotain from 'chevrotain';

/**
 * chevrotain, from the one-file bundle its package ships (lib/chevrotain.mjs, the same
 * version and exports). Why: the package's entry point loads lodash-es as several hundred
 * modules, about 230 ms of every command's start-up; the bundle loads in about 15 ms. Every
 * value comes from one copy, so tokens, EOF and the parser agree.
 */
const entry = createRequire(import.meta.url).resolve('chevrotain'); // <package>/lib/src/api.js
const bundle = join(dirname(entry), '..', 'chevrotain.mjs');
const chevrotain = (await import(
  existsSync(bundle) ? pathToFileURL(bundle).href : 'chevrotain'
)) as typeof Chevrotain;

export const { CstParser, EOF, Lexer, createToken, tokenMatcher } = chevrotain;
export type {
  CstElement,
  CstNode,
  IParserErrorMessageProvider,
  IRecognitionException,
  IToken,
  TokenType,
} from 'chevrotain';
