import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';
import type { Model } from './types.js';

/**
 * Which stdlib file defines each model, and as what kind (`Expon` -> a synapse in
 * `stdlib/synapses.spk`), read from the files themselves the first time a message needs it,
 * so that the note of an unknown model names the import that brings it in.
 */
let index: Map<string, { readonly kind: Model['kind']; readonly file: string }> | undefined;

/** The kind of the stdlib model of this name and the file that defines it, or undefined. */
export function stdlibModel(
  model: string,
): { readonly kind: Model['kind']; readonly file: string } | undefined {
  index ??= readIndex();
  return index.get(model);
}

function readIndex(): NonNullable<typeof index> {
  const result: NonNullable<typeof index> = new Map();
  const folder = join(PACKAGE_ROOT, 'stdlib');
  try {
    for (const file of readdirSync(folder)
      .filter((f) => f.endsWith('.spk'))
      .sort()) {
      // Comments out first, so that a model named in one is not taken for a definition.
      const text = readFileSync(join(folder, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
      for (const m of text.matchAll(/^\s*(neuron|synapse|output)\s+([A-Za-z_]\w*)/gm))
        result.set(m[2]!, { kind: m[1] as Model['kind'], file: `stdlib/${file}` });
    }
  } catch {
    // No readable stdlib (an unusual install): the note falls back to its general advice.
  }
  return result;
}
