import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** Writes a file completely or not at all: a temporary name first, then an atomic rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
