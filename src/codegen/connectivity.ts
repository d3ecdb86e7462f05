import { readFileSync } from 'node:fs';
import { InputFileError, InternalError } from '../diagnostics/diagnostic.js';
import type { Connector } from '../ir/types.js';
import { philox4x32_10, streamId } from '../random/philox.js';

/**
 * Connectivity as the delivery kernels see it. `geometric` rows are
 * regenerated at every spike from the Philox stream and never stored
 * (`procedural`); stored connectivity is compressed rows, built on the host
 * from the same stream, so that a stored and a procedural fixed_probability
 * projection with the same seed have the same connections.
 */
export type Connectivity =
  | { readonly kind: 'all' }
  | { readonly kind: 'one' }
  /** Rows regenerated at every spike by geometric skipping (see `skipTable`). */
  | { readonly kind: 'geometric'; readonly table: Uint32Array; readonly stream: number }
  | { readonly kind: 'rows'; readonly rows: CompressedRows };

/** Targets of each source in one flat array: targets[start[j] .. start[j+1]). Both directions are kept. */
export interface CompressedRows {
  /** Out-rows: post targets (local indices) of each pre neuron, ascending. */
  readonly outStart: Uint32Array;
  readonly outTargets: Uint32Array;
  /** In-rows: pre sources of each post neuron, ascending (for gathers in a fixed order). */
  readonly inStart: Uint32Array;
  readonly inSources: Uint32Array;
  /** For each in-row entry, the synapse's id: its position in the out-rows (outTargets). */
  readonly inSynapses: Uint32Array;
}

/**
 * Fixed-probability rows by geometric skipping, with integers only so that
 * every backend finds the same connections. Between two connections of a row
 * the number of skipped candidates K has P(K >= k) = (1 - p)^k: each pair is
 * connected independently with probability p (a Bernoulli trial per pair, up
 * to 2^-32). One draw x (a Philox word) gives K = #{k >= 1 : x < T[k-1]} with
 * T[k-1] = floor((1 - p)^k * 2^32), found by binary search; the table ends
 * where T reaches 0, so skips longer than that (probability < 2^-32) never occur.
 */
export function skipTable(p: number): Uint32Array {
  const table: number[] = [];
  const q = 1 - p;
  for (let k = 1; ; k++) {
    const t = Math.floor(q ** k * 2 ** 32);
    if (t <= 0 || k > 1 << 20) break;
    table.push(Math.min(t, 0xffffffff));
  }
  return Uint32Array.from(table);
}

/** K for a draw x: how many entries of the decreasing table exceed x. */
export function skipCount(table: Uint32Array, x: number): number {
  let lo = 0;
  let hi = table.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x < table[mid]!) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The targets of pre neuron j (local), in ascending order: draw c of row j is
 * word c % 4 of Philox(key (seed, stream), counter (j, c / 4, 1, 0)).
 */
export function geometricRow(
  table: Uint32Array,
  seed: number,
  stream: number,
  j: number,
  nPost: number,
  visit: (i: number) => void,
): void {
  let i = -1;
  let words: [number, number, number, number] = [0, 0, 0, 0];
  for (let c = 0; ; c++) {
    if ((c & 3) === 0) words = philox4x32_10([j, c >>> 2, 1, 0], [seed, stream]);
    i += skipCount(table, words[c & 3]!) + 1;
    if (i >= nPost) return;
    visit(i);
  }
}

/** Edges as two growable columns: pre and post local indices. */
class Edges {
  pre: Uint32Array = new Uint32Array(1024);
  post: Uint32Array = new Uint32Array(1024);
  count = 0;

  add(j: number, i: number): void {
    if (this.count === this.pre.length) {
      const grow = (a: Uint32Array): Uint32Array => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.pre = grow(this.pre);
      this.post = grow(this.post);
    }
    this.pre[this.count] = j;
    this.post[this.count] = i;
    this.count += 1;
  }
}

/** A stable counting sort of `order` by `key`: O(n + buckets), no comparisons. */
function sortBy(
  order: Uint32Array,
  key: Uint32Array,
  buckets: number,
): { order: Uint32Array; start: Uint32Array } {
  const start = new Uint32Array(buckets + 1);
  for (const e of order) start[key[e]! + 1]! += 1;
  for (let b = 0; b < buckets; b++) start[b + 1]! += start[b]!;
  const next = start.slice(0, buckets);
  const sorted = new Uint32Array(order.length);
  for (const e of order) sorted[next[key[e]!]!++] = e;
  return { order: sorted, start };
}

/** Compressed rows in both directions, each row ascending (a fixed order for gathers on every backend). */
function compress(nPre: number, nPost: number, edges: Edges): CompressedRows {
  const pre = edges.pre.subarray(0, edges.count);
  const post = edges.post.subarray(0, edges.count);
  const identity = Uint32Array.from({ length: edges.count }, (_, k) => k);
  const out = sortBy(sortBy(identity, post, nPost).order, pre, nPre);
  const into = sortBy(sortBy(identity, pre, nPre).order, post, nPost);
  const synapseOf = new Uint32Array(edges.count);
  out.order.forEach((e, k) => {
    synapseOf[e] = k;
  });
  return {
    outStart: out.start,
    outTargets: Uint32Array.from(out.order, (e) => post[e]!),
    inStart: into.start,
    inSources: Uint32Array.from(into.order, (e) => pre[e]!),
    inSynapses: Uint32Array.from(into.order, (e) => synapseOf[e]!),
  };
}

/** k distinct integers from [0, n), by Floyd's algorithm on Philox integers (no floats, same everywhere). */
function sampleDistinct(n: number, k: number, seed: number, stream: number, row: number): number[] {
  const chosen = new Set<number>();
  for (let m = n - k; m < n; m++) {
    const r = philox4x32_10([row, m, 1, 0], [seed, stream])[0]! % (m + 1);
    chosen.add(chosen.has(r) ? m : r);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** Connectivity of a projection between ranges of nPre and nPost neurons. */
export function buildConnectivity(
  connector: Connector,
  procedural: boolean,
  nPre: number,
  nPost: number,
  seed: number,
  projectionKey: string,
): Connectivity {
  const stream = streamId(projectionKey);
  switch (connector.kind) {
    case 'all_to_all':
      return { kind: 'all' };
    case 'one_to_one':
      return { kind: 'one' };
    case 'fixed_probability': {
      if (connector.p >= 1) return { kind: 'all' };
      if (connector.p <= 0) return { kind: 'rows', rows: compress(nPre, nPost, new Edges()) };
      const table = skipTable(connector.p);
      if (procedural) return { kind: 'geometric', table, stream };
      const edges = new Edges();
      for (let j = 0; j < nPre; j++)
        geometricRow(table, seed, stream, j, nPost, (i) => edges.add(j, i));
      return { kind: 'rows', rows: compress(nPre, nPost, edges) };
    }
    case 'fixed_out_degree': {
      const edges = new Edges();
      for (let j = 0; j < nPre; j++)
        for (const i of sampleDistinct(nPost, connector.k, seed, stream, j)) edges.add(j, i);
      return { kind: 'rows', rows: compress(nPre, nPost, edges) };
    }
    case 'fixed_in_degree': {
      const edges = new Edges();
      for (let i = 0; i < nPost; i++)
        for (const j of sampleDistinct(nPre, connector.k, seed, stream, i)) edges.add(j, i);
      return { kind: 'rows', rows: compress(nPre, nPost, edges) };
    }
    case 'from_file': {
      const edges = new Edges();
      const lines = readFileSync(connector.path, 'utf8').split(/\r?\n/);
      for (const [n, line] of lines.entries()) {
        if (line.trim() === '' || /^[A-Za-z#]/.test(line.trim())) continue;
        const [a, b] = line.split(',').map((x) => Number(x.trim()));
        if (
          a === undefined ||
          b === undefined ||
          !Number.isInteger(a) ||
          !Number.isInteger(b) ||
          a < 0 ||
          b < 0 ||
          a >= nPre ||
          b >= nPost
        ) {
          throw new InputFileError(
            connector.path,
            n + 1,
            `expected 'pre,post' with indices below ${nPre} and ${nPost}, found '${line.trim()}'`,
          );
        }
        edges.add(a, b);
      }
      return { kind: 'rows', rows: compress(nPre, nPost, edges) };
    }
  }
}

/** Calls `visit` with each post target (local index) of pre neuron j, ascending. */
export function forEachTarget(
  c: Connectivity,
  j: number,
  nPost: number,
  seed: number,
  visit: (i: number) => void,
): void {
  switch (c.kind) {
    case 'all':
      for (let i = 0; i < nPost; i++) visit(i);
      return;
    case 'one':
      if (j < nPost) visit(j);
      return;
    case 'geometric':
      geometricRow(c.table, seed, c.stream, j, nPost, visit);
      return;
    case 'rows':
      for (let k = c.rows.outStart[j]!; k < c.rows.outStart[j + 1]!; k++)
        visit(c.rows.outTargets[k]!);
      return;
  }
}

/** Connectivity as stored rows, whatever its kind (all_to_all and one_to_one spelt out), for per-synapse data. */
export function storedRows(c: Connectivity, nPre: number, nPost: number): CompressedRows {
  if (c.kind === 'rows') return c.rows;
  if (c.kind === 'geometric')
    throw new InternalError('procedural connections are never stored (routing refuses this)');
  const edges = new Edges();
  for (let j = 0; j < nPre; j++) forEachTarget(c, j, nPost, 0, (i) => edges.add(j, i));
  return compress(nPre, nPost, edges);
}
