/**
 * Regenerates test/bad/<category>/<name>.expected: the exact stderr of
 * `spikeforge check test/bad/<category>/<name>.spk`, run in-process from the
 * repository root (so paths print relative to it, as test/diagnostics.test.ts
 * expects).
 *
 *   npx tsx scripts/update-bad-goldens.ts            # every bad model
 *   npx tsx scripts/update-bad-goldens.ts units      # only files whose path contains "units"
 *
 * The one machine-dependent text, the absolute path of the package root (in the
 * note of a missing import), is written as $PACKAGE_ROOT.
 *
 * Review every changed golden by eye: the message must say what was found and
 * what was expected, and the carets must sit under the right text.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.js';
import { PACKAGE_ROOT } from '../src/package-root.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BAD = join(ROOT, 'test', 'bad');

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

/** stderr and stdout of one CLI run, written as the process streams would receive them. */
async function runCheck(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const line = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);
  const code = await main(['check', file], {
    out: (t) => (stdout += line(t)),
    err: (t) => (stderr += line(t)),
  });
  return { code, stdout, stderr };
}

process.chdir(ROOT);
const filter = process.argv[2];
let changed = 0;
let problems = 0;
for (const path of listSpk(BAD)) {
  const rel = relative(ROOT, path).split('\\').join('/');
  if (filter !== undefined && !rel.includes(filter)) continue;
  const { code, stderr: raw } = await runCheck(rel);
  const stderr = raw.split(PACKAGE_ROOT).join('$PACKAGE_ROOT');
  if (code !== 1) {
    problems++;
    console.error(`!! ${rel}: exit code ${code}, expected 1`);
  }
  const golden = path.replace(/\.spk$/, '.expected');
  let previous: string | undefined;
  try {
    previous = readFileSync(golden, 'utf8');
  } catch {
    previous = undefined;
  }
  if (previous !== stderr) {
    writeFileSync(golden, stderr);
    changed++;
    console.log(`${previous === undefined ? 'new' : 'updated'}: ${relative(ROOT, golden)}`);
  }
}
console.log(`${changed} golden file(s) written${problems > 0 ? `, ${problems} problem(s)` : ''}`);
if (problems > 0) process.exitCode = 1;
