/**
 * Building stored connectivity (src/codegen/connectivity.ts, buildConnectivity and storedRows),
 * pinned against a reference written here the plain way: the edges of each connector drawn
 * with philox4x32_10 directly (a Set for Floyd's algorithm, a linear count over the skip
 * table), then compressed by sorting the edge list with Array.prototype.sort, by (pre, post,
 * edge index) for the out-rows and by (post, pre, edge index) for the in-rows. The built
 * arrays must equal the reference bit for bit, for every connector kind on small random sizes
 * (empty rows and nPre != nPost included) and for from_file with repeated, unsorted lines.
 */
import { describe, expect, it } from 'vitest';
import {
  type CompressedRows,
  buildConnectivity,
  SKIP_GUIDE_BITS,
  skipCount,
  skipTable,
  storedRows,
} from '../src/codegen/connectivity.js';
import { parsePairs } from '../src/ir/connection-file.js';
import type { Connector } from '../src/ir/types.js';
import { philox4x32_10, streamId } from '../src/random/philox.js';

const SEED = 20240611;

/** A small deterministic generator (LCG) for sizes and file contents. */
function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

// ---------------------------------------------------------------------------------------------
// Reference

type Edge = readonly [pre: number, post: number];

/** Floyd's algorithm as specified: a Set of draws, then ascending. */
function referenceDistinct(n: number, k: number, stream: number, row: number): number[] {
  const chosen = new Set<number>();
  for (let m = n - k; m < n; m++) {
    const r = philox4x32_10([row, m, 1, 0], [SEED, stream])[0]! % (m + 1);
    chosen.add(chosen.has(r) ? m : r);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** Geometric skipping as specified, K counted by a linear scan of the table. */
function referenceGeometricRow(p: number, stream: number, j: number, nPost: number): number[] {
  const { entries } = skipTable(p);
  const row: number[] = [];
  for (let c = 0, i = -1; ; c++) {
    const x = philox4x32_10([j, c >>> 2, 1, 0], [SEED, stream])[c & 3]!;
    i += entries.filter((t) => x < t).length + 1;
    if (i >= nPost) return row;
    row.push(i);
  }
}

function referenceEdges(connector: Connector, nPre: number, nPost: number, key: string): Edge[] {
  const stream = streamId(key);
  const edges: Edge[] = [];
  switch (connector.kind) {
    case 'all_to_all':
      for (let j = 0; j < nPre; j++) for (let i = 0; i < nPost; i++) edges.push([j, i]);
      return edges;
    case 'one_to_one':
      for (let j = 0; j < Math.min(nPre, nPost); j++) edges.push([j, j]);
      return edges;
    case 'fixed_probability':
      if (connector.p >= 1) return referenceEdges({ kind: 'all_to_all' }, nPre, nPost, key);
      if (connector.p <= 0) return edges;
      for (let j = 0; j < nPre; j++)
        for (const i of referenceGeometricRow(connector.p, stream, j, nPost)) edges.push([j, i]);
      return edges;
    case 'fixed_out_degree':
      for (let j = 0; j < nPre; j++)
        for (const i of referenceDistinct(nPost, connector.k, stream, j)) edges.push([j, i]);
      return edges;
    case 'fixed_in_degree':
      for (let i = 0; i < nPost; i++)
        for (const j of referenceDistinct(nPre, connector.k, stream, i)) edges.push([j, i]);
      return edges;
    case 'from_file':
      throw new Error('from_file edges are written by the test');
  }
}

/** Compressed rows by sorting the edge list; repeated edges are kept, in list order. */
function referenceRows(edges: readonly Edge[], nPre: number, nPost: number): CompressedRows {
  const ids = edges.map((_, e) => e);
  const out = [...ids].sort((a, b) => {
    const [pa, qa] = edges[a]!;
    const [pb, qb] = edges[b]!;
    return pa - pb || qa - qb || a - b;
  });
  const into = [...ids].sort((a, b) => {
    const [pa, qa] = edges[a]!;
    const [pb, qb] = edges[b]!;
    return qa - qb || pa - pb || a - b;
  });
  const synapseOf = new Map(out.map((e, synapse) => [e, synapse]));
  const starts = (n: number, rowOf: (e: number) => number): Uint32Array => {
    const start = new Uint32Array(n + 1);
    for (const e of ids) start[rowOf(e) + 1]! += 1;
    for (let r = 0; r < n; r++) start[r + 1]! += start[r]!;
    return start;
  };
  return {
    outStart: starts(nPre, (e) => edges[e]![0]),
    outTargets: Uint32Array.from(out, (e) => edges[e]![1]),
    outSources: Uint32Array.from(out, (e) => edges[e]![0]),
    inStart: starts(nPost, (e) => edges[e]![1]),
    inSources: Uint32Array.from(into, (e) => edges[e]![0]),
    inSynapses: Uint32Array.from(into, (e) => synapseOf.get(e)!),
  };
}

/** The built rows, whatever the connectivity kind (all_to_all and one_to_one spelt out). */
function built(connector: Connector, nPre: number, nPost: number, key: string): CompressedRows {
  return storedRows(buildConnectivity(connector, false, nPre, nPost, SEED, key), nPre, nPost);
}

function expectSameRows(actual: CompressedRows, expected: CompressedRows, what: string): void {
  expect(actual.outStart, `${what}: outStart`).toEqual(expected.outStart);
  expect(actual.outTargets, `${what}: outTargets`).toEqual(expected.outTargets);
  expect(actual.outSources, `${what}: outSources`).toEqual(expected.outSources);
  expect(actual.inStart, `${what}: inStart`).toEqual(expected.inStart);
  expect(actual.inSources, `${what}: inSources`).toEqual(expected.inSources);
  expect(actual.inSynapses, `${what}: inSynapses`).toEqual(expected.inSynapses);
}

/** Small sizes with empty sides, square and non-square shapes, plus a few random ones. */
const SIZES: (readonly [number, number])[] = [
  [0, 0],
  [0, 4],
  [4, 0],
  [1, 1],
  [3, 9],
  [9, 3],
  [40, 40],
];
const random = lcg(7);
for (let c = 0; c < 6; c++) SIZES.push([1 + random(60), 1 + random(60)]);

// ---------------------------------------------------------------------------------------------
// Tests

describe('stored connectivity equals the sorted-edge-list reference', () => {
  /** Degrees up to n, the most the language accepts for n neurons on the sampled side. */
  const degrees = (n: number): number[] => [0, 1, 5, n].filter((k) => k <= n);
  const connectors = (nPre: number, nPost: number): Connector[] => [
    { kind: 'all_to_all' },
    { kind: 'one_to_one' },
    ...[0, 0.02, 0.3, 0.9, 1].map((p): Connector => ({ kind: 'fixed_probability', p })),
    ...degrees(nPre).map((k): Connector => ({ kind: 'fixed_in_degree', k })),
    ...degrees(nPost).map((k): Connector => ({ kind: 'fixed_out_degree', k })),
  ];

  for (const [nPre, nPost] of SIZES)
    it(`${nPre} x ${nPost}: every generated connector kind`, () => {
      for (const connector of connectors(nPre, nPost)) {
        const what = `${JSON.stringify(connector)} ${nPre} x ${nPost}`;
        const key = `Build.${connector.kind}`;
        const expected = referenceRows(referenceEdges(connector, nPre, nPost, key), nPre, nPost);
        expectSameRows(built(connector, nPre, nPost, key), expected, what);
      }
    });

  it('rows longer than one run of Philox blocks (PHILOX_RUN_MAX, 4096 blocks of 4 words)', () => {
    const long: [Connector, number, number][] = [
      [{ kind: 'fixed_out_degree', k: 5000 }, 2, 9000],
      [{ kind: 'fixed_in_degree', k: 4097 }, 4500, 2],
      [{ kind: 'fixed_probability', p: 0.9 }, 2, 40000],
    ];
    for (const [connector, nPre, nPost] of long) {
      const what = `${JSON.stringify(connector)} ${nPre} x ${nPost}`;
      const key = `Build.long.${connector.kind}`;
      const expected = referenceRows(referenceEdges(connector, nPre, nPost, key), nPre, nPost);
      expectSameRows(built(connector, nPre, nPost, key), expected, what);
    }
  });

  it('from_file: unsorted lines, repeated edges, comments, blank and CRLF lines', () => {
    for (const [nPre, nPost] of SIZES.filter(([a, b]) => a > 0 && b > 0)) {
      const draw = lcg(nPre * 101 + nPost);
      const edges: Edge[] = [];
      const lines = ['pre,post', '# a comment'];
      for (let e = 0; e < 3 * (nPre + nPost); e++) {
        const edge: Edge = [draw(nPre), draw(nPost)];
        const copies = draw(4) === 0 ? 3 : 1;
        for (let c = 0; c < copies; c++) {
          edges.push(edge);
          lines.push(c === 1 ? ` ${edge[0]} , ${edge[1]}\r` : `${edge[0]},${edge[1]}`);
        }
        if (draw(10) === 0) lines.push('');
      }
      const pairs = parsePairs(Buffer.from(lines.join('\n')), nPre, nPost);
      expect(pairs.badCount, `from_file ${nPre} x ${nPost}: bad lines ${pairs.badLines}`).toBe(0);
      const connector: Connector = {
        kind: 'from_file',
        path: 'edges.csv',
        pre: pairs.pre,
        post: pairs.post,
      };
      const rows = built(connector, nPre, nPost, 'Build.file');
      expectSameRows(rows, referenceRows(edges, nPre, nPost), `from_file ${nPre} x ${nPost}`);
    }
  });
});

describe('compressed rows are consistent', () => {
  it('each in-row entry names a synapse of its source whose target is that in-row', () => {
    const connectors: Connector[] = [
      { kind: 'fixed_in_degree', k: 7 },
      { kind: 'fixed_out_degree', k: 7 },
      { kind: 'fixed_probability', p: 0.2 },
    ];
    for (const connector of connectors) {
      const { outStart, outTargets, inStart, inSources, inSynapses } = built(
        connector,
        50,
        30,
        'Build.consistency',
      );
      const seen = new Uint8Array(outTargets.length);
      for (let i = 0; i < 30; i++)
        for (let slot = inStart[i]!; slot < inStart[i + 1]!; slot++) {
          const j = inSources[slot]!;
          const synapse = inSynapses[slot]!;
          expect(outTargets[synapse]).toBe(i);
          expect(synapse).toBeGreaterThanOrEqual(outStart[j]!);
          expect(synapse).toBeLessThan(outStart[j + 1]!);
          seen[synapse]! += 1;
        }
      expect(
        seen.every((n) => n === 1),
        'inSynapses is a permutation',
      ).toBe(true);
    }
  });
});

describe('skipCount', () => {
  it('counts the table entries above x (a linear count), at and around every entry and guide bucket boundary', () => {
    for (const p of [1e-3, 0.02, 0.05, 0.5, 0.99, 1 - 1e-12]) {
      const table = skipTable(p);
      const xs = [0, 1, 0xfffffffe, 0xffffffff];
      for (const t of table.entries.subarray(0, 200)) xs.push(t - 1, t, t + 1);
      for (let b = 0; b < 2 ** SKIP_GUIDE_BITS; b += 7) {
        const edge = b * 2 ** (32 - SKIP_GUIDE_BITS);
        xs.push(edge - 1, edge, edge + 1);
      }
      const draw = lcg(3);
      for (let n = 0; n < 200; n++) xs.push(draw(0xffffffff));
      for (const x of xs.filter((x) => x >= 0 && x <= 0xffffffff))
        expect(skipCount(table, x), `p = ${p}, x = ${x}`).toBe(
          table.entries.filter((t) => x < t).length,
        );
    }
  });

  it('the guide is the count at each bucket start, and bounds most searches to one entry', () => {
    const table = skipTable(0.02);
    const buckets = 2 ** SKIP_GUIDE_BITS;
    expect(table.guide.length).toBe(buckets + 1);
    expect(table.guide[buckets]).toBe(0);
    let narrow = 0;
    for (let b = 0; b < buckets; b++) {
      const x = b * 2 ** (32 - SKIP_GUIDE_BITS);
      expect(table.guide[b]).toBe(table.entries.filter((t) => x < t).length);
      if (table.guide[b]! - table.guide[b + 1]! <= 1) narrow++;
    }
    // Draws are uniform over the buckets: the share of draws whose search has at most one entry.
    expect(narrow / buckets).toBeGreaterThan(0.9);
  });
});
