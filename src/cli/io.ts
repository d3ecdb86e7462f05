/** Where the CLI writes; tests capture it instead of the process streams. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

/** A mistake in how the command was called (exit code 2), as opposed to a model error (exit code 1). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
