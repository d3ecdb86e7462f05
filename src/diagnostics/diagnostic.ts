import { type Span, lineColumn, lineText } from './source.js';

export type Severity = 'error' | 'warning';

/** A span with a short message, shown under the carets. */
export interface Label {
  readonly span: Span;
  readonly message: string;
}

/**
 * One problem found in the user's input. `label` is printed under the primary
 * carets (typically a hint such as "write -50 mV"); `secondary` points at related
 * places (the earlier definition of a duplicate name); `notes` are free text.
 */
export interface Diagnostic {
  readonly severity: Severity;
  readonly message: string;
  readonly span: Span;
  readonly label?: string;
  readonly secondary: readonly Label[];
  readonly notes: readonly string[];
}

export interface DiagnosticOptions {
  readonly label?: string;
  readonly secondary?: readonly Label[];
  readonly notes?: readonly string[];
}

/** Collects the diagnostics of one compilation; passes add to it and go on. */
export class Diagnostics {
  readonly items: Diagnostic[] = [];

  error(span: Span, message: string, options: DiagnosticOptions = {}): void {
    this.add('error', span, message, options);
  }

  warning(span: Span, message: string, options: DiagnosticOptions = {}): void {
    this.add('warning', span, message, options);
  }

  get hasErrors(): boolean {
    return this.errorCount > 0;
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === 'error').length;
  }

  private add(severity: Severity, span: Span, message: string, options: DiagnosticOptions): void {
    this.items.push({
      severity,
      message,
      span,
      ...(options.label === undefined ? {} : { label: options.label }),
      secondary: options.secondary ?? [],
      notes: options.notes ?? [],
    });
  }
}

/**
 * Thrown when a pass finds an impossible state: a bug in spikeforge, not in the
 * user's model. The CLI renders it with a request to report it.
 */
export class InternalError extends Error {
  override readonly name = 'InternalError';
}

/** Carries a late pass's diagnostics (integration, code generation) to the CLI, which renders them. */
export class DiagnosticError extends Error {
  override readonly name = 'DiagnosticError';
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join('; '));
  }
}

export function assertNever(value: never): never {
  throw new InternalError(`unexpected value ${JSON.stringify(value)}`);
}

/** `file:line:col` of a span's start. */
export function location(span: Span): string {
  const { line, column } = lineColumn(span.file, span.start);
  return `${span.file.path}:${line}:${column}`;
}

/** The longest source line an excerpt shows whole; longer ones are cut around the span. */
const MAX_EXCERPT = 160;

/** The source line of a span and carets under it (clipped to the first line), as diagnostics show them. */
export function sourceExcerpt(span: Span, label: string | undefined): string {
  const { line, column } = lineColumn(span.file, span.start);
  const whole = lineText(span.file, line);
  const end = lineColumn(span.file, Math.max(span.start, span.end - 1));
  let width =
    end.line === line
      ? Math.max(1, end.column - column + 1)
      : Math.max(1, whole.length - column + 1);
  // A long line (minified or binary text) is cut to a window that starts a little before the span.
  const from = whole.length <= MAX_EXCERPT ? 0 : Math.max(0, column - 1 - MAX_EXCERPT / 4);
  const to = Math.min(whole.length, from + MAX_EXCERPT);
  const before = from > 0 ? '\u2026' : '';
  const text = before + visible(whole.slice(from, to)) + (to < whole.length ? '\u2026' : '');
  width = Math.max(1, Math.min(width, to - (column - 1)));
  // Tabs are kept in the caret line so that carets stay aligned with the source.
  const pad = (before + whole.slice(from, column - 1)).replace(/[^\t]/g, ' ');
  const carets = '^'.repeat(width);
  return `   ${text}\n   ${pad}${carets}${label === undefined ? '' : ` ${label}`}`;
}

/** Control characters (but tabs) as their Unicode control pictures, one column each. */
function visible(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) =>
    c === '\u007f' ? '\u2421' : String.fromCharCode(0x2400 + c.charCodeAt(0)),
  );
}

/** Renders `file:line:col: error: message`, the source line, carets, then related places and notes. */
export function renderDiagnostic(d: Diagnostic): string {
  const parts = [
    `${location(d.span)}: ${d.severity}: ${d.message}`,
    sourceExcerpt(d.span, d.label),
  ];
  for (const s of d.secondary) parts.push(renderSecondary(s));
  for (const n of d.notes) parts.push(`   = note: ${n}`);
  return parts.join('\n');
}

/** A related place of a diagnostic: `file:line:col: note: message`, its source line and carets. */
export function renderSecondary(s: Label): string {
  return `${location(s.span)}: note: ${s.message}\n${sourceExcerpt(s.span, undefined)}`;
}

export function renderInternalError(error: unknown): string {
  const detail = error instanceof Error ? error.message : String(error);
  return (
    `internal error: ${detail}\n` +
    `   = note: this is a bug in spikeforge, not in your model.\n` +
    `   = note: please report it with the input files and this message at https://github.com/spikeforge/spikeforge/issues`
  );
}

/** `n` and a noun, plural unless n is 1 ("1 network", "23 models"), for messages. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
