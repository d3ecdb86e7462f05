import { renameSync, writeFileSync } from 'node:fs';

/** Where the CLI writes; tests capture it instead of the process streams. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

/** Writes a file completely or not at all: a temporary name first, then an atomic rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

/** A mistake in how the command was called (exit code 2), as opposed to a model error (exit code 1). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
