/**
 * The command-line samples of README.md (`$ node bin/spikeforge.js ...` in a code block,
 * followed by what it prints) run as written, in process, and print what the README shows.
 * A sample whose input file is not in the repository (bad.spk, an illustration) is a
 * skipped test whose title says so.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Io } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PROMPT = '$ node bin/spikeforge.js ';

interface Sample {
  readonly line: number;
  readonly argv: readonly string[];
  readonly output: string;
}

/** Every prompt line inside a ``` block, with the lines up to the next prompt or the block's end. */
function samples(text: string): Sample[] {
  const lines = text.split('\n');
  const result: Sample[] = [];
  let inBlock = false;
  for (let k = 0; k < lines.length; k++) {
    if (lines[k]!.startsWith('```')) {
      inBlock = !inBlock;
      continue;
    }
    if (!inBlock || !lines[k]!.startsWith(PROMPT)) continue;
    const output: string[] = [];
    let m = k + 1;
    for (; !lines[m]!.startsWith('```') && !lines[m]!.startsWith('$ '); m++) output.push(lines[m]!);
    result.push({
      line: k + 1,
      argv: lines[k]!.slice(PROMPT.length).split(/\s+/),
      output: output.join('\n'),
    });
  }
  return result;
}

const README = samples(readFileSync(join(ROOT, 'README.md'), 'utf8'));

describe('README.md command samples', () => {
  const runnable = README.filter((s) => existsSync(join(ROOT, s.argv[1]!)));
  it('there are samples to check', () => {
    expect(README.filter((s) => existsSync(join(ROOT, s.argv[1]!))).length).toBeGreaterThanOrEqual(
      3,
    );
  });

  for (const s of README.filter((x) => !runnable.includes(x)))
    it.skip(`line ${s.line}: ${s.argv[1]} is an illustration, not a file of the repository`);

  it.each(runnable.map((s) => [s.line, s] as const))(
    'line %i prints what the README shows',
    async (_, sample) => {
      let printed = '';
      const io: Io = { out: (t) => (printed += `${t}\n`), err: (t) => (printed += `${t}\n`) };
      const cwd = process.cwd();
      process.chdir(ROOT);
      try {
        await main([...sample.argv], io);
      } finally {
        process.chdir(cwd);
      }
      expect(printed.trimEnd()).toBe(sample.output.trimEnd());
    },
  );
});
