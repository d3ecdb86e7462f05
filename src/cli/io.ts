/** Where the CLI writes; tests capture it instead of the process streams. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Redraws a one-line status in place ('' clears it); only where stderr is a terminal. */
  readonly status?: (text: string) => void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  ...(process.stderr.isTTY
    ? { status: (text: string) => process.stderr.write(`\r${text}\x1b[K`) }
    : {}),
};

/** A mistake in how the command was called (exit code 2), as opposed to a model error (exit code 1). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
