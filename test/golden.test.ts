/**
 * Generated code must equal the golden files in test/golden/ byte for byte (cases and
 * targets: test/golden/cases.ts). A failure means the code generator's output changed: if
 * that was meant, run `npm run golden` and review the diff (`git diff test/golden`).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
} from './golden/cases.js';

const HOW_TO_UPDATE =
  'if the change is intended, run `npm run golden` and review the diff (git diff test/golden)';

const { cases, skipped } = goldenCases();
for (const line of describeSkipped(skipped)) console.log(`golden: ${line}`);

/** Where two texts first differ, as "line N: expected ... / generated ...". */
function firstDifference(expected: string, actual: string): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  for (let k = 0; k < Math.max(a.length, b.length); k++) {
    if (a[k] !== b[k])
      return `first difference at line ${k + 1}:\n  golden:    ${a[k] ?? '(end of file)'}\n  generated: ${b[k] ?? '(end of file)'}`;
  }
  return 'the files differ only in bytes the line split hides';
}

describe.each(GOLDEN_TARGETS.map((t) => [t.dir, t] as const))('golden %s', (_dir, target) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const path = goldenPath(target, c.name);
    const rel = repoPath(path);
    if (!existsSync(path)) expect.fail(`${rel} is missing (${c.origin}); ${HOW_TO_UPDATE}`);
    const golden = readFileSync(path, 'utf8');
    const generated = generate(target, c.plan);
    if (generated !== golden) {
      expect(
        generated,
        `${target.target} output for ${c.origin} drifted from ${rel}; ${HOW_TO_UPDATE}\n${firstDifference(golden, generated)}`,
      ).toBe(golden);
    }
  });

  it('has no stale golden files', () => {
    const dir = join(GOLDEN_DIR, target.dir);
    const expected = new Set(cases.map((c) => `${c.name}.${target.extension}`));
    const stale = existsSync(dir)
      ? readdirSync(dir).filter((f) => f.endsWith(`.${target.extension}`) && !expected.has(f))
      : [];
    expect(
      stale,
      `golden files with no case in test/golden/${target.dir}: ${stale.join(', ')}; ${HOW_TO_UPDATE}`,
    ).toEqual([]);
  });
});

describe('host Philox module', () => {
  it('src/random/philox-wasm-binary.ts holds philoxRunWat() assembled', async () => {
    const committed = readFileSync(PHILOX_BINARY_PATH, 'utf8');
    expect(committed, `${repoPath(PHILOX_BINARY_PATH)} drifted; ${HOW_TO_UPDATE}`).toBe(
      await philoxBinaryText(),
    );
  });
});
