import { InternalError } from '../diagnostics/diagnostic.js';
import { toSymbolic } from '../integrate/to-symbolic.js';
import type { Connector, Expr } from '../ir/types.js';
import { streamId, u32ToUniform01 } from '../random/philox.js';
import { simplify } from '../symbolic/simplify.js';
import { JsPrinter } from './js/printer.js';
import { PHILOX_RUN_MAX, philoxRun } from '../random/philox-wasm.js';
import { type DrawnWeights, drawnWeight } from './drawn-weights.js';

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
  /**
   * Rows regenerated at every spike by geometric skipping (see `skipTable`), with the weight of
   * each connection drawn again too when it varies (see DrawnWeights).
   */
  | {
      readonly kind: 'geometric';
      readonly table: SkipTable;
      readonly stream: number;
      readonly weights?: DrawnWeights;
    }
  | { readonly kind: 'rows'; readonly rows: CompressedRows };

/**
 * Targets of each source in one flat array: targets[start[j] .. start[j+1]), both directions.
 * The in-rows are derived from the out-rows when first read, and kept: only gathers and
 * `on_post` read them, and on a large network they would be most of the memory.
 */
export interface CompressedRows {
  /** Out-rows: post targets (local indices) of each pre neuron, ascending. */
  readonly outStart: Uint32Array;
  readonly outTargets: Uint32Array;
  /** For each out-row entry (a synapse), its pre neuron: made when first read (per-synapse kernels that read `pre.X`). */
  readonly outSources: Uint32Array;
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
 * T[k-1] = floor((1 - p)^k * 2^32) (`entries`, decreasing), found by binary search; the table
 * ends where T reaches 0, so skips longer than that (probability < 2^-32) never occur.
 *
 * The search starts from a guide (Chen and Asau's guide table): guide[b] is K for
 * x = b * 2^(32 - SKIP_GUIDE_BITS), so a draw x in bucket b = x >> (32 - SKIP_GUIDE_BITS) has
 * K in [guide[b + 1], guide[b]]; for p = 0.02 that range holds at most one entry for 97% of
 * the draws, where the whole table takes 11 steps.
 */
export interface SkipTable {
  readonly entries: Uint32Array;
  /** 2^SKIP_GUIDE_BITS + 1 words; the last is 0. */
  readonly guide: Uint32Array;
}

export const SKIP_GUIDE_BITS = 10;

export function skipTable(p: number): SkipTable {
  const table: number[] = [];
  const q = 1 - p;
  for (let k = 1; ; k++) {
    const t = Math.floor(q ** k * 2 ** 32);
    if (t <= 0 || k > 1 << 20) break;
    table.push(Math.min(t, 0xffffffff));
  }
  const entries = Uint32Array.from(table);
  const buckets = 2 ** SKIP_GUIDE_BITS;
  const guide = new Uint32Array(buckets + 1);
  for (let b = 0; b < buckets; b++)
    guide[b] = countAbove(entries, 0, entries.length, b * 2 ** (32 - SKIP_GUIDE_BITS));
  return { entries, guide };
}

/**
 * K for a draw x: how many entries of the decreasing table exceed x. A binary search whose
 * steps do not branch on the comparison (a conditional move), since draws are random and
 * mispredicted branches dominated building stored fixed_probability rows.
 */
export function skipCount(table: SkipTable, x: number): number {
  const b = x >>> (32 - SKIP_GUIDE_BITS);
  const from = table.guide[b + 1]!;
  return countAbove(table.entries, from, table.guide[b]! - from, x);
}

/** from + how many of entries[from, from + n) exceed x, given that they decrease. */
function countAbove(entries: Uint32Array, from: number, n: number, x: number): number {
  if (n === 0) return from;
  let base = from;
  for (; n > 1;) {
    const half = n >>> 1;
    base = x < entries[base + half]! ? base + half : base;
    n -= half;
  }
  return x < entries[base]! ? base + 1 : base;
}

/**
 * The targets of pre neuron j (local), in ascending order: draw c of row j is
 * word c % 4 of Philox(key (seed, stream), counter (j, c / 4, 1, 0)). With drawn weights,
 * `visit` also gets the weight (in quanta) of word c % 4 of counter (j, c / 4, 2, 0), else 1.
 * The words come in runs of blocks, short at first (many rows end after a few draws) and
 * doubling; `visit` must not draw through philoxRun, whose memory holds the run.
 */
export function geometricRow(
  table: SkipTable,
  seed: number,
  stream: number,
  j: number,
  nPost: number,
  visit: (i: number, weight: number) => void,
  drawn?: DrawnWeights,
): void {
  let i = -1;
  for (
    let first = 0, blocks = 4;
    ;
    first += blocks, blocks = Math.min(2 * blocks, PHILOX_RUN_MAX)
  ) {
    // The weights' run is copied out before the targets' run reuses the generator's memory.
    const weightWords =
      drawn === undefined
        ? undefined
        : philoxRun(seed, stream, [j, first, 2, 0], 1, blocks).slice();
    const words = philoxRun(seed, stream, [j, first, 1, 0], 1, blocks);
    for (let w = 0; w < 4 * blocks; w++) {
      i += skipCount(table, words[w]!) + 1;
      if (i >= nPost) return;
      visit(i, weightWords === undefined ? 1 : drawnWeight(drawn!, weightWords[w]!));
    }
  }
}

/** A growable column of u32s, for rows whose length is known only once they are drawn or read. */
class U32Column {
  private data: Uint32Array;
  length = 0;

  constructor(capacity: number) {
    this.data = new Uint32Array(Math.max(capacity, 16));
  }

  push(x: number): void {
    if (this.length === this.data.length) {
      const grown = new Uint32Array(Math.ceil(this.data.length * 1.5));
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = x;
  }

  /** The values pushed, in an array of exactly that length. */
  values(): Uint32Array {
    return this.length === this.data.length ? this.data : this.data.slice(0, this.length);
  }
}

/**
 * Row starts for entries listed in any order, entry e in row rowOf[e]: once grouped by row
 * (a counting sort), row r holds start[r] .. start[r + 1].
 */
function rowStarts(rowOf: Uint32Array, nRows: number): Uint32Array {
  const start = new Uint32Array(nRows + 1);
  for (let e = 0; e < rowOf.length; e++) start[rowOf[e]! + 1]! += 1;
  for (let r = 0; r < nRows; r++) start[r + 1]! += start[r]!;
  return start;
}

/** Row starts of nRows rows of `length` entries each. */
function regularStarts(nRows: number, length: number): Uint32Array {
  const start = new Uint32Array(nRows + 1);
  for (let r = 0; r <= nRows; r++) start[r] = r * length;
  return start;
}

type InRows = Pick<CompressedRows, 'inStart' | 'inSources' | 'inSynapses'>;

/**
 * Compressed rows from out-rows sorted by (pre, post). The in-rows, when read, are a stable
 * counting sort of the out-row entries by post, so each in-row lists its sources ascending
 * and, for repeated (pre, post) pairs (from_file keeps them), their synapses ascending.
 */
function withInRows(nPost: number, outStart: Uint32Array, outTargets: Uint32Array): CompressedRows {
  let inRows: InRows | undefined;
  let sources: Uint32Array | undefined;
  const transposed = (): InRows => (inRows ??= inRowsOf(nPost, outStart, outTargets));
  return {
    outStart,
    outTargets,
    get outSources() {
      return (sources ??= rowOwners(outStart));
    },
    get inStart() {
      return transposed().inStart;
    },
    get inSources() {
      return transposed().inSources;
    },
    get inSynapses() {
      return transposed().inSynapses;
    },
  };
}

/** The row of every entry of compressed rows with these row starts. */
function rowOwners(start: Uint32Array): Uint32Array {
  const owners = new Uint32Array(start[start.length - 1]!);
  for (let row = 0; row + 1 < start.length; row++) owners.fill(row, start[row]!, start[row + 1]!);
  return owners;
}

function inRowsOf(nPost: number, outStart: Uint32Array, outTargets: Uint32Array): InRows {
  const inStart = rowStarts(outTargets, nPost);
  const next = inStart.slice(0, nPost);
  const inSources = new Uint32Array(outTargets.length);
  const inSynapses = new Uint32Array(outTargets.length);
  const nPre = outStart.length - 1;
  for (let j = 0; j < nPre; j++) {
    const end = outStart[j + 1]!;
    for (let synapse = outStart[j]!; synapse < end; synapse++) {
      const slot = next[outTargets[synapse]!]!++;
      inSources[slot] = j;
      inSynapses[slot] = synapse;
    }
  }
  return { inStart, inSources, inSynapses };
}

/**
 * Compressed rows from in-rows sorted by (post, pre): the out-rows are a stable counting sort
 * of the in-row entries by pre, so each out-row lists its targets ascending. The in-rows are
 * let go and derived again if read (`withInRows` gives back the same ones).
 */
function withOutRows(nPre: number, inStart: Uint32Array, inSources: Uint32Array): CompressedRows {
  const outStart = rowStarts(inSources, nPre);
  const next = outStart.slice(0, nPre);
  const outTargets = new Uint32Array(inSources.length);
  const nPost = inStart.length - 1;
  for (let i = 0; i < nPost; i++) {
    const end = inStart[i + 1]!;
    for (let slot = inStart[i]!; slot < end; slot++) outTargets[next[inSources[slot]!]!++] = i;
  }
  return withInRows(nPost, outStart, outTargets);
}

/**
 * nRows rows of k distinct integers from [0, n) each, ascending, in one flat array (row r at
 * r * k), by Floyd's algorithm on Philox integers (no floats, same everywhere): for m = n - k
 * .. n - 1, row r draws x = word 0 of Philox(key (seed, stream), counter (r, m, 1, 0)) and
 * takes x % (m + 1), or m when that one is taken already. Needs k <= n (the language checks it).
 */
function distinctRows(
  nRows: number,
  n: number,
  k: number,
  seed: number,
  stream: number,
): Uint32Array {
  const rows = new Uint32Array(nRows * k);
  const taken = new Uint8Array(n);
  for (let row = 0; row < nRows; row++) {
    const first = row * k;
    for (let from = n - k; from < n; from += PHILOX_RUN_MAX) {
      const count = Math.min(PHILOX_RUN_MAX, n - from);
      const words = philoxRun(seed, stream, [row, from, 1, 0], 1, count);
      for (let b = 0, m = from, at = first + from - (n - k); b < count; b++, m++, at++) {
        const r = words[4 * b]! % (m + 1);
        const chosen = taken[r] === 1 ? m : r;
        taken[chosen] = 1;
        rows[at] = chosen;
      }
    }
    rows.subarray(first, first + k).sort(); // typed arrays sort numerically
    for (let at = first; at < first + k; at++) taken[rows[at]!] = 0;
  }
  return rows;
}

/** Compressed rows of an edge list in any order (from_file, checked when lowered); repeated edges are kept. */
function edgeListRows(
  nPre: number,
  nPost: number,
  pre: Uint32Array,
  post: Uint32Array,
): CompressedRows {
  const outStart = rowStarts(pre, nPre);
  const next = outStart.slice(0, nPre);
  const outTargets = new Uint32Array(pre.length);
  for (let e = 0; e < pre.length; e++) outTargets[next[pre[e]!]!++] = post[e]!;
  for (let j = 0; j < nPre; j++) outTargets.subarray(outStart[j]!, outStart[j + 1]!).sort();
  return withInRows(nPost, outStart, outTargets);
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
      // Procedural rows stay procedural at p = 1, where drawn weights need the row's draws.
      if (connector.p >= 1 && !procedural) return { kind: 'all' };
      if (connector.p <= 0) {
        const empty = withInRows(nPost, new Uint32Array(nPre + 1), new Uint32Array(0));
        return { kind: 'rows', rows: empty };
      }
      const table = skipTable(connector.p);
      if (procedural) return { kind: 'geometric', table, stream };
      const expected = nPre * nPost * connector.p;
      const targets = new U32Column(Math.ceil(expected + 6 * Math.sqrt(expected)));
      const push = (i: number): void => targets.push(i);
      const outStart = new Uint32Array(nPre + 1);
      for (let j = 0; j < nPre; j++) {
        geometricRow(table, seed, stream, j, nPost, push);
        outStart[j + 1] = targets.length;
      }
      return { kind: 'rows', rows: withInRows(nPost, outStart, targets.values()) };
    }
    case 'fixed_out_degree': {
      const outTargets = distinctRows(nPre, nPost, connector.k, seed, stream);
      const outStart = regularStarts(nPre, connector.k);
      return { kind: 'rows', rows: withInRows(nPost, outStart, outTargets) };
    }
    case 'fixed_in_degree': {
      const inSources = distinctRows(nPost, nPre, connector.k, seed, stream);
      const inStart = regularStarts(nPost, connector.k);
      return { kind: 'rows', rows: withOutRows(nPre, inStart, inSources) };
    }
    case 'from_file':
      return { kind: 'rows', rows: edgeListRows(nPre, nPost, connector.pre, connector.post) };
    case 'pairwise_probability':
      return { kind: 'rows', rows: pairwiseRows(connector.p, nPre, nPost, seed, stream) };
  }
}

/**
 * Rows of a probability per pair (`fixed_probability(exp(-abs(i - j) / 10))`): pair (pre, post)
 * is connected when u32ToUniform01 of word 0 of Philox(key (seed, stream), counter (post, pre,
 * 0, 0)) is below p(pre, post). Built once on the host, so every backend gets the same rows.
 */
function pairwiseRows(
  p: Expr,
  nPre: number,
  nPost: number,
  seed: number,
  stream: number,
): CompressedRows {
  const probability = pairFunction(p);
  const targets = new U32Column(1024);
  const outStart = new Uint32Array(nPre + 1);
  for (let pre = 0; pre < nPre; pre++) {
    for (let from = 0; from < nPost; from += PHILOX_RUN_MAX) {
      const count = Math.min(PHILOX_RUN_MAX, nPost - from);
      const words = philoxRun(seed, stream, [from, pre, 0, 0], 0, count);
      for (let b = 0; b < count; b++)
        if (u32ToUniform01(words[4 * b]!) < probability(pre, from + b)) targets.push(from + b);
    }
    outStart[pre + 1] = targets.length;
  }
  return withInRows(nPost, outStart, targets.values());
}

/**
 * An expression of `i` and `j` as a float64 JavaScript function of (pre, post), printed by the
 * CPU backend's printer: evaluating the expression tree for each of millions of pairs would
 * take seconds.
 */
function pairFunction(p: Expr): (pre: number, post: number) => number {
  const printer = new JsPrinter();
  const helpers = new Set<string>();
  const symbols = new Map([
    ['i', 'pre'],
    ['j', 'post'],
  ]);
  const body = printer.printExpr(simplify(toSymbolic(p)), { symbols, helpers });
  const source = `'use strict';\n${printer.prelude(helpers)}\nreturn (pre, post) => ${body};`;
  return (new Function(source) as () => (pre: number, post: number) => number)();
}

/**
 * Calls `visit` with each post target (local index) of pre neuron j, ascending, and the
 * connection's drawn weight in quanta (procedural rows with drawn weights) or 1.
 */
export function forEachTarget(
  c: Connectivity,
  j: number,
  nPost: number,
  seed: number,
  visit: (i: number, weight: number) => void,
): void {
  switch (c.kind) {
    case 'all':
      for (let i = 0; i < nPost; i++) visit(i, 1);
      return;
    case 'one':
      if (j < nPost) visit(j, 1);
      return;
    case 'geometric':
      geometricRow(c.table, seed, c.stream, j, nPost, visit, c.weights);
      return;
    case 'rows':
      for (let k = c.rows.outStart[j]!; k < c.rows.outStart[j + 1]!; k++)
        visit(c.rows.outTargets[k]!, 1);
      return;
  }
}

/** Connectivity as stored rows, whatever its kind (all_to_all and one_to_one spelt out), for per-synapse data. */
export function storedRows(c: Connectivity, nPre: number, nPost: number): CompressedRows {
  if (c.kind === 'rows') return c.rows;
  if (c.kind === 'geometric')
    throw new InternalError('procedural connections are never stored (routing refuses this)');
  if (c.kind === 'all') {
    const outTargets = new Uint32Array(nPre * nPost);
    for (let j = 0; j < nPre; j++) for (let i = 0; i < nPost; i++) outTargets[j * nPost + i] = i;
    return withInRows(nPost, regularStarts(nPre, nPost), outTargets);
  }
  // one_to_one: pre j reaches post j, for j below both sizes.
  const n = Math.min(nPre, nPost);
  const outStart = new Uint32Array(nPre + 1);
  for (let j = 0; j <= nPre; j++) outStart[j] = Math.min(j, n);
  const outTargets = new Uint32Array(n);
  for (let j = 0; j < n; j++) outTargets[j] = j;
  return withInRows(nPost, outStart, outTargets);
}
