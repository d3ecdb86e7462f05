import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** Writes a file completely or not at all: a temporary name first, then an atomic rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temporary = temporaryName(path);
  try {
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** A file to write: its path and its contents. */
export interface FileToWrite {
  readonly path: string;
  readonly data: string | Uint8Array;
}

/**
 * Writes several files as a set: each under a temporary name, then all renamed once every one
 * is complete. Between two files the event loop gets a turn (a signal listener can run) and
 * `stop` is asked; when it says so, or a write fails, the temporaries are removed and no file
 * of the set is written. Returns false when stopped.
 */
export async function writeFilesAtomic(
  files: readonly FileToWrite[],
  stop: () => boolean,
): Promise<boolean> {
  const temporaries: string[] = [];
  try {
    for (const f of files) {
      const temporary = temporaryName(f.path);
      temporaries.push(temporary);
      writeFileSync(temporary, f.data);
      await new Promise((resolve) => setImmediate(resolve));
      if (stop()) {
        for (const t of temporaries) rmSync(t, { force: true });
        return false;
      }
    }
    files.forEach((f, k) => renameSync(temporaries[k]!, f.path));
    return true;
  } catch (error) {
    for (const t of temporaries) rmSync(t, { force: true });
    throw error;
  }
}

function temporaryName(path: string): string {
  return `${path}.${process.pid}.tmp`;
}
