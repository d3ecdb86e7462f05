import { readFileSync } from 'node:fs';
import { InternalError } from '../diagnostics/diagnostic.js';
import type { Connector } from '../ir/types.js';
import { philox4x32_10, streamId } from '../random/philox.js';

/**
 * Connectivity as the delivery kernels see it. `bernoulli` is regenerated at
 * every spike from the Philox stream and never stored (`procedural`); stored
 * connectivity is compressed rows, built on the host from the same stream, so
 * that a stored and a procedural fixed_probability projection with the same
 * seed have the same connections.
 */
export type Connectivity =
  | { readonly kind: 'all' }
  | { readonly kind: 'one' }
  /** Pair (j, i) is connected iff Philox word < threshold: probability threshold / 2^32. */
  | { readonly kind: 'bernoulli'; readonly threshold: number; readonly stream: number }
  | { readonly kind: 'rows'; readonly rows: CompressedRows };

/** Targets of each source in one flat array: targets[start[j] .. start[j+1]). Both directions are kept. */
export interface CompressedRows {
  /** Out-rows: post targets (local indices) of each pre neuron, ascending. */
  readonly outStart: Uint32Array;
  readonly outTargets: Uint32Array;
  /** In-rows: pre sources of each post neuron, ascending (for gathers in a fixed order). */
  readonly inStart: Uint32Array;
  readonly inSources: Uint32Array;
}

/** The threshold for probability p, exact to 2^-32. */
export function bernoulliThreshold(p: number): number {
  return Math.min(0xffffffff, Math.round(p * 2 ** 32));
}

/**
 * Whether pre j connects to post i (local indices) in a Bernoulli projection:
 * key (seed, stream), counter (j, i / 4, 0, 0), word i % 4. Every backend
 * computes the same integers, so the connections are identical everywhere.
 */
export function bernoulliConnected(seed: number, stream: number, threshold: number, j: number, i: number): boolean {
  const words = philox4x32_10([j, i >>> 2, 0, 0], [seed, stream]);
  return words[i & 3]! < threshold;
}

function fromPairs(nPre: number, nPost: number, pairs: readonly (readonly [number, number])[]): CompressedRows {
  const sorted = [...pairs].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const outStart = new Uint32Array(nPre + 1);
  for (const [j] of sorted) outStart[j + 1]! += 1;
  for (let j = 0; j < nPre; j++) outStart[j + 1]! += outStart[j]!;
  const outTargets = Uint32Array.from(sorted, ([, i]) => i);
  const byPost = [...sorted].sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  const inStart = new Uint32Array(nPost + 1);
  for (const [, i] of byPost) inStart[i + 1]! += 1;
  for (let i = 0; i < nPost; i++) inStart[i + 1]! += inStart[i]!;
  const inSources = Uint32Array.from(byPost, ([j]) => j);
  return { outStart, outTargets, inStart, inSources };
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
export function buildConnectivity(connector: Connector, procedural: boolean, nPre: number, nPost: number, seed: number, projectionKey: string): Connectivity {
  const stream = streamId(projectionKey);
  switch (connector.kind) {
    case 'all_to_all':
      return { kind: 'all' };
    case 'one_to_one':
      return { kind: 'one' };
    case 'fixed_probability': {
      if (connector.p >= 1) return { kind: 'all' };
      const threshold = bernoulliThreshold(connector.p);
      if (procedural) return { kind: 'bernoulli', threshold, stream };
      const pairs: [number, number][] = [];
      for (let j = 0; j < nPre; j++) for (let i = 0; i < nPost; i++) if (bernoulliConnected(seed, stream, threshold, j, i)) pairs.push([j, i]);
      return { kind: 'rows', rows: fromPairs(nPre, nPost, pairs) };
    }
    case 'fixed_out_degree': {
      const pairs: [number, number][] = [];
      for (let j = 0; j < nPre; j++) for (const i of sampleDistinct(nPost, connector.k, seed, stream, j)) pairs.push([j, i]);
      return { kind: 'rows', rows: fromPairs(nPre, nPost, pairs) };
    }
    case 'fixed_in_degree': {
      const pairs: [number, number][] = [];
      for (let i = 0; i < nPost; i++) for (const j of sampleDistinct(nPre, connector.k, seed, stream, i)) pairs.push([j, i]);
      return { kind: 'rows', rows: fromPairs(nPre, nPost, pairs) };
    }
    case 'from_file': {
      const pairs: [number, number][] = [];
      const lines = readFileSync(connector.path, 'utf8').split(/\r?\n/);
      for (const [n, line] of lines.entries()) {
        if (line.trim() === '' || /^[A-Za-z#]/.test(line.trim())) continue;
        const [a, b] = line.split(',').map((x) => Number(x.trim()));
        if (a === undefined || b === undefined || !Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0 || a >= nPre || b >= nPost) {
          throw new InternalError(`${connector.path}:${n + 1}: expected 'pre,post' indices within the ranges (${nPre} x ${nPost})`);
        }
        pairs.push([a, b]);
      }
      return { kind: 'rows', rows: fromPairs(nPre, nPost, pairs) };
    }
  }
}

/** The post targets of pre neuron j, for host-side delivery and tests. */
export function targetsOf(c: Connectivity, j: number, nPost: number, seed: number): number[] {
  switch (c.kind) {
    case 'all':
      return Array.from({ length: nPost }, (_, i) => i);
    case 'one':
      return j < nPost ? [j] : [];
    case 'bernoulli': {
      const out: number[] = [];
      // One Philox call decides four posts (see bernoulliConnected).
      for (let block = 0; block * 4 < nPost; block++) {
        const words = philox4x32_10([j, block, 0, 0], [seed, c.stream]);
        for (let w = 0; w < 4 && block * 4 + w < nPost; w++) if (words[w]! < c.threshold) out.push(block * 4 + w);
      }
      return out;
    }
    case 'rows':
      return Array.from(c.rows.outTargets.subarray(c.rows.outStart[j]!, c.rows.outStart[j + 1]!));
  }
}
