import { readdirSync } from 'node:fs';
import { count } from '../diagnostics/diagnostic.js';
import { temporaryOf } from '../runtime/write-file.js';

/** What a command writes into a folder, for the notes on what else the folder holds. */
export interface FolderOutputs {
  /** The command as the note names it: `spikeforge ${command}: note: ...`. */
  readonly command: 'run' | 'compile';
  /** The folder, as the user named it. */
  readonly dir: string;
  /** The names of the files this command wrote into it. */
  readonly written: ReadonlySet<string>;
  /** Whether the command writes files of this name (for some network, target or recording). */
  readonly isOutputName: (name: string) => boolean;
  /** How a note calls such files: 'result' for run's. */
  readonly kind: string;
  /** Where the others probably come from, as a question: 'from an earlier run?'. */
  readonly origin: string;
}

/**
 * Notes on what a command's output folder holds besides its files: files of the command's
 * naming that it did not write (another network's, an earlier run's), which a reader could
 * take for this one's, and the temporary files of a command that was killed before it could
 * remove them. They are named, never removed: the folder may hold the user's own files, and
 * only names this command would have made are mentioned.
 */
export function folderNotes(outputs: FolderOutputs): string[] {
  const { command, dir, written } = outputs;
  const names = readdirSync(dir).sort();
  const others = names.filter((f) => outputs.isOutputName(f) && !written.has(f));
  const abandoned = names.filter((f) => {
    const temporary = temporaryOf(f);
    return (
      temporary !== undefined &&
      (outputs.isOutputName(temporary.file) || written.has(temporary.file)) &&
      !running(temporary.pid)
    );
  });
  const note = `spikeforge ${command}: note: ${dir} also holds`;
  return [
    ...(others.length === 0
      ? []
      : [
          `${note} ${count(others.length, `${outputs.kind} file`)} this ${command} did not write (${outputs.origin}): ${listed(others)}`,
        ]),
    ...(abandoned.length === 0
      ? []
      : [
          `${note} ${count(abandoned.length, 'temporary file')} of an interrupted spikeforge ${command}, which can be deleted: ${listed(abandoned)}`,
        ]),
  ];
}

/** The first five names, and '...' for the rest. */
function listed(names: readonly string[]): string {
  return `${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`;
}

/**
 * Whether a process of this id exists: a temporary file of a running command (another
 * spikeforge writing into the same folder) is no leftover. Signal 0 only asks.
 */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by another user. An id no process can have is nobody's leftover either.
    return !(error instanceof Error && 'code' in error && error.code === 'ESRCH');
  }
}
