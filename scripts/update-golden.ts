/**
 * Regenerates the golden files of generated code, test/golden/<target>/<Name>.<ext>
 * (test/golden/cases.ts says which models and networks, and which targets):
 *
 *   npm run golden                 # write every golden, delete stale ones
 *   npm run golden -- --check      # write nothing; exit 1 if any golden would change
 *
 * Each file is exactly what generateSource(plan, target) returns, byte for byte (no
 * header is added), so test/golden.test.ts can compare them directly. Also
 * src/random/philox-wasm-binary.ts, the assembled bytes of the host's Philox module.
 *
 * Review every changed golden (`git diff test/golden`) before committing: a change in
 * generated code should be one you meant.
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  GOLDEN_DIR,
  GOLDEN_TARGETS,
  PHILOX_BINARY_PATH,
  describeSkipped,
  generate,
  goldenCases,
  goldenPath,
  philoxBinaryText,
  repoPath,
} from '../test/golden/cases.js';

const check = process.argv.includes('--check');
const { cases, skipped } = goldenCases();
let written = 0;
let unchanged = 0;
let removed = 0;
const drift: string[] = [];

/** Brings the file at `path` to `text` (with --check only notes that it would change). */
function update(path: string, text: string): void {
  const previous = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (previous === text) {
    unchanged++;
    return;
  }
  drift.push(`${previous === undefined ? 'new' : 'changed'}: ${repoPath(path)}`);
  if (!check) {
    writeFileSync(path, text);
    written++;
  }
}

for (const target of GOLDEN_TARGETS) {
  const dir = join(GOLDEN_DIR, target.dir);
  if (!check) mkdirSync(dir, { recursive: true });
  const expected = new Set<string>();
  for (const c of cases) {
    const path = goldenPath(target, c.name);
    expected.add(path);
    update(path, generate(target, c.plan));
  }
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!name.endsWith(`.${target.extension}`) || expected.has(path)) continue;
    drift.push(`stale: ${repoPath(path)}`);
    if (!check) {
      unlinkSync(path);
      removed++;
    }
  }
}

update(PHILOX_BINARY_PATH, await philoxBinaryText());

for (const line of describeSkipped(skipped)) console.log(line);
for (const line of drift) console.log(line);
if (check) {
  console.log(
    drift.length === 0
      ? `golden files up to date (${unchanged})`
      : `${drift.length} golden file(s) out of date; run \`npm run golden\` and review the diff`,
  );
  process.exitCode = drift.length === 0 ? 0 : 1;
} else {
  console.log(
    `golden files: ${written} written, ${unchanged} unchanged, ${removed} removed (${cases.length} cases x ${GOLDEN_TARGETS.length} targets)`,
  );
  if (written + removed > 0) console.log('review the changes: git diff test/golden src/random');
}
