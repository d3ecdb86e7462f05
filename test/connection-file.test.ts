/**
 * The connection file of `connect from_file(...)` (src/ir/connection-file.ts): which lines are
 * pairs, the header and comment rule, and that every line the fast byte parser rejects is
 * reported in the file with a location inside that line (the parser and the description of
 * bad lines must agree: a random search over short lines against a reference written with a
 * regular expression). Messages themselves are pinned by test/bad/network/from_file_*.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../src/diagnostics/diagnostic.js';
import { lineColumn, makeSourceFile } from '../src/diagnostics/source.js';
import {
  type ConnectionFileUse,
  ConnectionFiles,
  REPORTED_LINES,
  parsePairs,
} from '../src/ir/connection-file.js';
import type { Connector } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';

const SPK = makeSourceFile('net.spk', 'connect from_file("pairs.csv")\n');
const USE: ConnectionFileUse = {
  path: '/nowhere/pairs.csv',
  displayPath: 'pairs.csv',
  argument: { file: SPK, start: 18, end: 29 },
  projection: 'P',
  pre: { label: 'population A', size: 3, offset: false },
  post: { label: 'population B', size: 5, offset: false },
};

/** The pairs of a file holding `text` for USE, as a compile reads them; undefined after reporting. */
function checkedPairs(
  text: string,
  diagnostics: Diagnostics,
): ReturnType<ConnectionFiles['pairs']> {
  return new ConnectionFiles(() => Buffer.from(text)).pairs(USE, diagnostics);
}

/** The pairs of a file's text, as [pre, post] lists, and its bad line numbers. */
function parsed(text: string): { pairs: number[][]; bad: readonly number[]; badCount: number } {
  const p = parsePairs(Buffer.from(text), USE.pre.size, USE.post.size);
  return {
    pairs: [...p.pre].map((a, k) => [a, p.post[k]!]),
    bad: p.badLines,
    badCount: p.badCount,
  };
}

describe('connection file lines', () => {
  it('reads pairs with spaces and tabs around fields, CRLF endings and no final line break', () => {
    expect(parsed('0,1\r\n 2 ,\t4\t\r\n1,1\n1,1').pairs).toEqual([
      [0, 1],
      [2, 4],
      [1, 1],
      [1, 1],
    ]);
  });

  it('skips blank and comment lines anywhere, a byte order mark, and one header first', () => {
    const text = '\ufeff# exported by hand\n\n  \r\n  pre,post\n0,1\n# more\n\n2,3\n';
    expect(parsed(text)).toEqual({
      pairs: [
        [0, 1],
        [2, 3],
      ],
      bad: [],
      badCount: 0,
    });
  });

  it('takes a header only as the first line that is not blank or a comment', () => {
    expect(parsed('pre,post\ni,j\n0,1\n').bad).toEqual([2]);
    expect(parsed('0,1\npre,post\n').bad).toEqual([2]);
    expect(parsed('0,1\n').pairs).toEqual([[0, 1]]);
  });

  it('does not take a first line of NaN or inf for a header: it is a bad data line', () => {
    expect(parsed('NaN,1\n0,1\n').bad).toEqual([1]);
    expect(parsed(' Inf , 2\n').bad).toEqual([1]);
    expect(parsed('nanoseconds,1\n0,1\n')).toEqual({ pairs: [[0, 1]], bad: [], badCount: 0 });
  });

  it('a file without pairs is a warning at the from_file argument; the projection is kept, empty', () => {
    for (const text of ['', '# nothing yet\n\n', 'pre,post\n']) {
      const diagnostics = new Diagnostics();
      const pairs = checkedPairs(text, diagnostics);
      expect(pairs?.pre.length, JSON.stringify(text)).toBe(0);
      expect(diagnostics.errorCount).toBe(0);
      expect(diagnostics.items.map((d) => [d.severity, d.message, d.span])).toEqual([
        [
          'warning',
          "the connection file pairs.csv has no pairs: projection 'P' makes no synapse",
          USE.argument,
        ],
      ]);
    }
  });

  it('rejects signs, fractions, exponents, empty fields, NaN, extra fields and indices out of range', () => {
    const lines = ['+1,2', '-1,2', '1.0,2', '1e0,2', ',2', '1,', 'NaN,1', '0,1,0.5', '0,1,', '3,0'];
    lines.push('0,5', '0;1', '0 1', '0,1 # x', '00000000000000000000009,0');
    const p = parsed(['pre,post', ...lines].join('\n'));
    expect(p.pairs).toEqual([]);
    expect(p.badCount).toBe(lines.length);
    expect(p.bad).toEqual(lines.slice(0, REPORTED_LINES).map((_, k) => k + 2));
  });

  it('keeps leading zeros and repeated pairs, in file order', () => {
    expect(parsed('002,004\n0,1\n0,1\n').pairs).toEqual([
      [2, 4],
      [0, 1],
      [0, 1],
    ]);
  });
});

describe('bad lines are reported where they are', () => {
  it('reports the first lines in the file, with a note at from_file, and counts the rest', () => {
    const text = ['pre,post', ...Array.from({ length: 14 }, (_, k) => `0,${5 + k}`)].join('\n');
    const diagnostics = new Diagnostics();
    expect(checkedPairs(text, diagnostics)).toBeUndefined();
    expect(diagnostics.items.length).toBe(REPORTED_LINES);
    expect(diagnostics.items.map((d) => lineColumn(d.span.file, d.span.start).line)).toEqual(
      Array.from({ length: REPORTED_LINES }, (_, k) => k + 2),
    );
    for (const d of diagnostics.items) {
      expect(d.span.file.path).toBe('pairs.csv');
      expect(d.secondary.map((s) => s.span)).toEqual([USE.argument]);
    }
    expect(diagnostics.items.at(-1)!.notes).toContain(
      'and 4 more bad lines in this file, not shown',
    );
  });

  it('agrees with a reference on random short lines: each rejected line gets a diagnostic inside it', () => {
    const alphabet = ['0', '1', '4', '7', ',', ' ', '\t', '-', '+', '.', 'e', 'a', '#', '\r', 'N'];
    const reference = /^[ \t]*(\d+)[ \t]*,[ \t]*(\d+)[ \t]*\r?$/;
    let state = 7;
    const draw = (n: number): number => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state % n;
    };
    let rejected = 0;
    for (let c = 0; c < 4000; c++) {
      let line = '';
      for (let k = draw(9); k > 0; k--) line += alphabet[draw(alphabet.length)];
      // After a pair, so that the line cannot be the header.
      const text = `0,0\n${line}\n`;
      const m = reference.exec(line);
      const blank = /^[ \t]*\r?$/.test(line) || /^[ \t]*#/.test(line);
      const good = blank || (m !== null && Number(m[1]) < 3 && Number(m[2]) < 5);
      const diagnostics = new Diagnostics();
      const pairs = checkedPairs(text, diagnostics);
      expect(pairs !== undefined, JSON.stringify(line)).toBe(good);
      if (good) continue;
      rejected++;
      expect(diagnostics.items.length, JSON.stringify(line)).toBe(1);
      const d = diagnostics.items[0]!;
      const start = lineColumn(d.span.file, d.span.start);
      const end = lineColumn(d.span.file, Math.max(d.span.start, d.span.end - 1));
      expect([start.line, end.line], JSON.stringify(line)).toEqual([2, 2]);
      // At most one past the end, where a missing index would go.
      expect(end.column, JSON.stringify(line)).toBeLessThanOrEqual(line.length + 1);
    }
    expect(rejected).toBeGreaterThan(1000);
  });
});

describe('a connection file named by several projections', () => {
  it('is read once, and parsed once for each pair of slice sizes', () => {
    const reads: string[] = [];
    const files = new ConnectionFiles((path) => {
      reads.push(path);
      return Buffer.from('pre,post\n0,1\n2,4\n');
    });
    const diagnostics = new Diagnostics();
    const a = files.pairs(USE, diagnostics);
    const b = files.pairs({ ...USE, projection: 'Q' }, diagnostics);
    const wider = files.pairs(
      { ...USE, post: { label: 'population C', size: 6, offset: false } },
      diagnostics,
    );
    expect(reads).toEqual([USE.path]);
    expect(b?.pre).toBe(a?.pre);
    expect(b?.post).toBe(a?.post);
    expect(wider?.pre).not.toBe(a?.pre);
    expect([...wider!.pre, ...wider!.post]).toEqual([0, 2, 1, 4]);
    expect(diagnostics.items).toEqual([]);
  });

  it('that cannot be read is tried once and reported at each from_file argument', () => {
    let reads = 0;
    const files = new ConnectionFiles(() => {
      reads++;
      throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    });
    const diagnostics = new Diagnostics();
    const other = { ...USE.argument, start: 0, end: 7 };
    expect(files.pairs(USE, diagnostics)).toBeUndefined();
    expect(files.pairs({ ...USE, argument: other }, diagnostics)).toBeUndefined();
    expect(reads).toBe(1);
    expect(diagnostics.items.map((d) => [d.message, d.span])).toEqual([
      ['cannot find the connection file pairs.csv', USE.argument],
      ['cannot find the connection file pairs.csv', other],
    ]);
  });

  it('gives the projections of one compile, in any network, the same pairs; a new compile reads again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spikeforge-pairs-'));
    try {
      writeFileSync(join(dir, 'pairs.csv'), 'pre,post\n0,1\n1,0\n');
      const projection = (name: string): string =>
        `projection ${name} = A -> B { connect from_file("pairs.csv")  weight 1 nA  synapse Expon  output CUBA }`;
      const network = (name: string, projections: string[]): string =>
        `network ${name} {\n  population A = LifRef(2)\n  population B = LifRef(2)\n  ${projections.join('\n  ')}\n}\n`;
      const entry = join(dir, 'net.spk');
      writeFileSync(
        entry,
        `import "stdlib/neurons.spk"\nimport "stdlib/synapses.spk"\n${network('One', [projection('P'), projection('Q')])}${network('Two', [projection('R')])}`,
      );
      const connectors = (): Extract<Connector, { kind: 'from_file' }>[] => {
        const result = compileFiles([entry]);
        expect(result.diagnostics.items.map((d) => d.message)).toEqual([]);
        return [...result.program!.networks.values()].flatMap((n) =>
          n.projections.map((p) => {
            if (p.connector.kind !== 'from_file') throw new Error(`${p.name} is not from_file`);
            return p.connector;
          }),
        );
      };
      const [p, q, r] = connectors();
      expect([...p!.pre, ...p!.post]).toEqual([0, 1, 1, 0]);
      expect(q!.pre).toBe(p!.pre);
      expect(r!.pre).toBe(p!.pre);
      expect(r!.post).toBe(p!.post);
      expect(connectors()[0]!.pre).not.toBe(p!.pre);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
