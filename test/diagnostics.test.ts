/**
 * Golden tests for diagnostics: every test/bad/<category>/<name>.spk is checked
 * with `spikeforge check` (in-process, from the repository root) and its stderr
 * must equal <name>.expected. Regenerate with
 *
 *   npx tsx scripts/update-bad-goldens.ts
 *
 * and review the changes by eye. The absolute path of the package root (in the
 * note of a missing import) is written as $PACKAGE_ROOT in the goldens. The connection files
 * that bad models name (from_file) lie beside them, in test/bad/network/pairs/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { PACKAGE_ROOT } from '../src/package-root.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BAD = join(ROOT, 'test', 'bad');
const CATEGORIES = ['syntax', 'names', 'units', 'structure', 'network'] as const;

function listSpk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? listSpk(join(dir, e.name))
        : e.name.endsWith('.spk')
          ? [join(dir, e.name)]
          : [],
    )
    .sort();
}

async function runCheck(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const line = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);
  const code = await main(['check', file], {
    out: (t) => (stdout += line(t)),
    err: (t) => (stderr += line(t)),
  });
  return { code, stdout, stderr: stderr.split(PACKAGE_ROOT).join('$PACKAGE_ROOT') };
}

const files = listSpk(BAD).map((p) => relative(ROOT, p).split('\\').join('/'));

beforeAll(() => {
  // Diagnostics print paths relative to the working directory.
  if (process.cwd() !== ROOT) process.chdir(ROOT);
});

describe('bad models', () => {
  it('cover every category with enough cases', () => {
    expect(files.length).toBeGreaterThanOrEqual(45);
    for (const c of CATEGORIES) {
      expect(files.filter((f) => f.startsWith(`test/bad/${c}/`)).length, c).toBeGreaterThanOrEqual(
        5,
      );
    }
  });

  it.each(files)('%s', async (file) => {
    const golden = join(ROOT, file.replace(/\.spk$/, '.expected'));
    const expected = readFileSync(golden, 'utf8');
    const { code, stdout, stderr } = await runCheck(file);

    expect(stderr).toBe(expected);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(/^ {4}at /m);
    expect(stderr).not.toContain('internal error');

    // Every diagnostic header names a location within this file (or an imported one) and a severity.
    const headers = stderr.split('\n').filter((l) => l.length > 0 && !l.startsWith(' '));
    expect(headers.length).toBeGreaterThan(0);
    let errors = 0;
    for (const header of headers) {
      if (/^[^:]+:\d+:\d+: note: /.test(header)) continue;
      expect(header).toMatch(/^[^:]+:\d+:\d+: (error|warning): /);
      if (/^[^:]+:\d+:\d+: error: /.test(header)) errors++;
    }
    expect(errors).toBeGreaterThan(0);
    // The first error points at a line that exists, in the bad file itself or in a connection
    // file it names (from_file), whose note then points back at the bad file.
    const firstAt = headers.findIndex((h) => / error: /.test(h));
    const first = /^([^:]+):(\d+):(\d+): error: /.exec(headers[firstAt] ?? '');
    const firstFile = first?.[1] ?? '';
    const next = headers[firstAt + 1];
    if (firstFile.endsWith('.csv')) expect(next).toMatch(/^[^:]+:\d+:\d+: note: /);
    expect(firstFile.endsWith('.csv') ? next?.split(':')[0] : firstFile).toBe(file);
    const lines = readFileSync(join(ROOT, firstFile), 'utf8').split('\n');
    expect(Number(first?.[2])).toBeLessThanOrEqual(lines.length);

    // Each excerpt is followed by a caret line whose carets lie within the quoted source line.
    const out = stderr.split('\n');
    for (let i = 0; i < out.length; i++) {
      const caretLine = out[i] ?? '';
      if (!/^ {3}\s*\^+/.test(caretLine)) continue;
      const source = (out[i - 1] ?? '').slice(3);
      const carets = caretLine.slice(3);
      const start = carets.indexOf('^');
      const width = /\^+/.exec(carets)?.[0].length ?? 0;
      expect(
        start + width,
        `carets past the end of the line in ${file}:\n${out[i - 1]}\n${caretLine}`,
      ).toBeLessThanOrEqual(Math.max(source.length, start + 1));
    }
  });
});
