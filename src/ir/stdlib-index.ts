import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * Which stdlib file defines each model (`Expon` -> `stdlib/synapses.spk`), read from the files
 * themselves the first time a message needs it, so that the note of an unknown model names
 * the import that brings it in.
 */
let index: Map<string, string> | undefined;

export function stdlibFileDefining(model: string): string | undefined {
  index ??= readIndex();
  return index.get(model);
}

function readIndex(): Map<string, string> {
  const result = new Map<string, string>();
  const folder = join(PACKAGE_ROOT, 'stdlib');
  let files: string[];
  try {
    files = readdirSync(folder).filter((f) => f.endsWith('.spk'));
  } catch {
    return result;
  }
  for (const file of files.sort()) {
    const text = readFileSync(join(folder, file), 'utf8');
    for (const m of text.matchAll(/^\s*(?:neuron|synapse|output)\s+([A-Za-z_]\w*)/gm))
      result.set(m[1]!, `stdlib/${file}`);
  }
  return result;
}
