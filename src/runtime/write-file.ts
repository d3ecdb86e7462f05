import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes a file completely or not at all: a temporary name first, then an atomic rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temporary = temporaryName(path);
  try {
    naming(path, () => {
      writeFileSync(temporary, data);
      renameSync(temporary, path);
    });
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
      naming(f.path, () => writeFileSync(temporary, f.data));
      await new Promise((resolve) => setImmediate(resolve));
      if (stop()) {
        for (const t of temporaries) rmSync(t, { force: true });
        return false;
      }
    }
    files.forEach((f, k) => naming(f.path, () => renameSync(temporaries[k]!, f.path)));
    return true;
  } catch (error) {
    for (const t of temporaries) rmSync(t, { force: true });
    throw error;
  }
}

/**
 * Where a file is written until it is complete: its own name, the process id (two commands
 * writing into one folder do not meet) and `.tmp`.
 */
export function temporaryName(path: string): string {
  return `${path}.${process.pid}.tmp`;
}

/** The file and the process of a name that temporaryName made, or undefined for any other name. */
export function temporaryOf(
  name: string,
): { readonly file: string; readonly pid: number } | undefined {
  const match = /^(.+)\.(\d+)\.tmp$/.exec(name);
  return match === null ? undefined : { file: match[1]!, pid: Number(match[2]) };
}

/**
 * Runs `write`, a step of writing `path`; a file-system error it throws names `path`, the
 * file the user will look for: a failed write to an open file (no space left) names no file
 * at all, and an open or a rename names the temporary.
 */
export function naming<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    if (error instanceof Error && 'code' in error) (error as NodeJS.ErrnoException).path = path;
    throw error;
  }
}

/**
 * Creates a folder and the missing ones above it, one level at a time. Node 20's recursive
 * mkdirSync never returns for some paths it cannot create (`/proc/out` spins at full CPU,
 * deaf to signals); one level at a time, the first refusal is the error.
 */
export function makeFolder(path: string): void {
  const parent = dirname(path);
  if (parent !== path && !isFolder(parent)) makeFolder(parent);
  try {
    mkdirSync(path);
  } catch (error) {
    if (!(error instanceof Error && 'code' in error && error.code === 'EEXIST' && isFolder(path)))
      throw error;
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
