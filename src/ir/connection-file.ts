/**
 * The file of a `connect from_file("pairs.csv")` projection: read and checked when the network
 * is lowered, so that `check` finds every problem `run` would, and read once per compile
 * however many projections name it (ConnectionFiles). The format:
 *
 *   - UTF-8 text (a leading byte order mark is skipped), lines ending in LF or CRLF;
 *   - a data line is `pre,post`: two whole numbers written with digits only, spaces or tabs
 *     allowed around each, counted from 0 at the start of the projection's pre and post
 *     slices; one synapse per line, in file order, repeated pairs kept;
 *   - blank lines, and lines whose first non-blank character is `#`, are skipped anywhere;
 *   - the first line that is neither may be a header: skipped when its first field starts
 *     with an ASCII letter (`pre,post`, `i,j`) and is not a word for a number that is not
 *     finite (`NaN,1` is a bad data line, not a header);
 *   - a file without pairs is a warning: the projection makes no synapse.
 *
 * A well-formed file goes through one pass over its bytes (millions of lines in well under a
 * second); only the lines it rejects are decoded again, to be reported with their text.
 */
import { readFileSync } from 'node:fs';
import { type Diagnostics, InternalError } from '../diagnostics/diagnostic.js';
import { fileErrorReason } from '../diagnostics/file-error.js';
import { type Span, lineText, makeSourceFile } from '../diagnostics/source.js';

/** The pairs of a connection file in file order: synapse k joins pre[k] to post[k] (slice-local indices). */
export interface ConnectionPairs {
  readonly pre: Uint32Array;
  readonly post: Uint32Array;
}

/** What a pass over a file found: the good pairs, and the lines that are not. */
export interface ParsedPairs extends ConnectionPairs {
  /** Line numbers (from 1) of the first REPORTED_LINES bad lines. */
  readonly badLines: readonly number[];
  readonly badCount: number;
}

/** One side of a projection, as messages name it. */
export interface ProjectionSide {
  /** `population B`, or `B[10:15]` for a slice. */
  readonly label: string;
  readonly size: number;
  /** Whether it is a slice that starts after neuron 0 (its indices are then not the population's). */
  readonly offset: boolean;
}

/** A from_file connector being lowered: where the file is and what its indices must fit. */
export interface ConnectionFileUse {
  /** Absolute, for reading. */
  readonly path: string;
  /** As messages print it: beside the displayed path of the .spk file. */
  readonly displayPath: string;
  /** The from_file(...) argument, where the file's own errors point back to. */
  readonly argument: Span;
  readonly projection: string;
  readonly pre: ProjectionSide;
  readonly post: ProjectionSide;
}

/** How many bad lines of one file are reported; the rest are counted. */
export const REPORTED_LINES = 10;

const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const HASH = 35;
const COMMA = 44;
const ZERO = 48;
const NINE = 57;

const WEIGHTS_NOTE =
  "a weight per pair cannot come from the file: the projection's 'weight' line gives it, a constant (weight 1 nA), a distribution (weight normal(1 nA, 0.1 nA)) or an expression of i and j, the pair's pre and post index (weight 1 nA * exp(-abs(i - j) / 10))";

/**
 * The connection files of one compile: each path is read once, and its pairs parsed once for
 * each pair of slice sizes, however many projections name it (they then share the arrays);
 * every projection still gets its own diagnostics, at its own from_file argument. One per
 * compile, not longer: a file may change between two.
 */
export class ConnectionFiles {
  /** By absolute path: the file's bytes, or why it could not be read. */
  private readonly reads = new Map<string, { bytes: Buffer } | { error: unknown }>();
  /** By slice sizes and absolute path. */
  private readonly parses = new Map<string, ParsedPairs>();

  constructor(private readonly readFile: (path: string) => Buffer = readFileSync) {}

  /** The file's pairs for a projection; undefined after reporting why it cannot be used. */
  pairs(use: ConnectionFileUse, diagnostics: Diagnostics): ConnectionPairs | undefined {
    const read = this.read(use.path);
    if ('error' in read) {
      reportUnreadable(use, read.error, diagnostics);
      return undefined;
    }
    const key = `${use.pre.size} ${use.post.size} ${use.path}`;
    let parsed = this.parses.get(key);
    if (parsed === undefined) {
      parsed = parsePairs(read.bytes, use.pre.size, use.post.size);
      this.parses.set(key, parsed);
    }
    return checkedParse(use, read.bytes, parsed, diagnostics);
  }

  private read(path: string): { bytes: Buffer } | { error: unknown } {
    let read = this.reads.get(path);
    if (read === undefined) {
      try {
        read = { bytes: this.readFile(path) };
      } catch (error) {
        read = { error };
      }
      this.reads.set(path, read);
    }
    return read;
  }
}

/** The pairs of a parsed file, or undefined after reporting its bad lines; a warning when it has none. */
function checkedParse(
  use: ConnectionFileUse,
  bytes: Buffer,
  parsed: ParsedPairs,
  diagnostics: Diagnostics,
): ConnectionPairs | undefined {
  if (parsed.badCount === 0) {
    if (parsed.pre.length === 0)
      diagnostics.warning(
        use.argument,
        `the connection file ${use.displayPath} has no pairs: projection '${use.projection}' makes no synapse`,
        { notes: [FORMAT_NOTE] },
      );
    return { pre: parsed.pre, post: parsed.post };
  }
  reportBadLines(use, bytes, parsed, diagnostics);
  return undefined;
}

const PATH_NOTE = 'a relative path starts from the folder of the .spk file that names it';
const FORMAT_NOTE = "from_file reads a CSV file of 'pre,post' lines, a pair of neuron indices each";

/** A file-system error as a diagnostic at the from_file argument; other errors are rethrown. */
function reportUnreadable(use: ConnectionFileUse, error: unknown, diagnostics: Diagnostics): void {
  if (!(error instanceof Error) || !('code' in error) || typeof error.code !== 'string')
    throw error;
  const file = use.displayPath;
  const [message, notes] = ((): [string, string[]] => {
    switch (error.code) {
      case 'ENOENT':
        return [`cannot find the connection file ${file}`, [PATH_NOTE]];
      case 'ENOTDIR':
        return [
          `cannot find the connection file ${file}: a part of its path is a file, not a folder`,
          [PATH_NOTE],
        ];
      case 'EISDIR':
        return [`the connection file ${file} is a folder`, [FORMAT_NOTE]];
      case 'ERR_FS_FILE_TOO_LARGE':
        return [`the connection file ${file} is larger than 2 GiB, the most spikeforge reads`, []];
      default:
        return [
          `cannot read the connection file ${file}: ${fileErrorReason(error) ?? error.message}`,
          [],
        ];
    }
  })();
  diagnostics.error(use.argument, message, { notes });
}

/** Whether a byte is an ASCII letter. */
function isLetter(b: number): boolean {
  const lower = b | 0x20;
  return lower >= 97 && lower <= 122;
}

/** Whether the line from `p` (its first non-blank byte) to `stop` is a header (see the file's doc). */
function isHeader(bytes: Uint8Array, p: number, stop: number): boolean {
  if (!isLetter(bytes[p]!)) return false;
  let end = p;
  while (end < stop && bytes[end] !== COMMA) end++;
  const first = new TextDecoder().decode(bytes.subarray(p, end)).trim();
  return !NOT_FINITE.test(first);
}

/**
 * One pass over the bytes of a file: the pairs of its good lines, and the bad lines (a line
 * is bad when it is not blank, a comment, the header or `pre,post` with pre < nPre and
 * post < nPost). Exactly the lines `describeLine` finds a problem in.
 */
export function parsePairs(bytes: Uint8Array, nPre: number, nPost: number): ParsedPairs {
  const n = bytes.length;
  let pre: Uint32Array = new Uint32Array(Math.max(16, n >>> 3));
  let post: Uint32Array = new Uint32Array(pre.length);
  let count = 0;
  const badLines: number[] = [];
  let badCount = 0;
  let headerAllowed = true;
  let at = n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  for (let line = 1; at < n; line++) {
    // A loop rather than indexOf: Buffer's indexOf is a call into C++, which costs more per line.
    let end = at;
    while (end < n && bytes[end] !== LF) end++;
    const stop = end > at && bytes[end - 1] === CR ? end - 1 : end;
    let p = at;
    at = end + 1;
    while (p < stop && (bytes[p] === SPACE || bytes[p] === TAB)) p++;
    if (p === stop || bytes[p] === HASH) continue;
    if (headerAllowed) {
      headerAllowed = false;
      if (isHeader(bytes, p, stop)) continue;
    }
    let a = 0;
    const aStart = p;
    for (; p < stop && bytes[p]! >= ZERO && bytes[p]! <= NINE; p++) a = a * 10 + bytes[p]! - ZERO;
    const aDigits = p - aStart;
    while (p < stop && (bytes[p] === SPACE || bytes[p] === TAB)) p++;
    let good = aDigits > 0 && a < nPre && p < stop && bytes[p] === COMMA;
    if (good) {
      p++;
      while (p < stop && (bytes[p] === SPACE || bytes[p] === TAB)) p++;
      let b = 0;
      const bStart = p;
      for (; p < stop && bytes[p]! >= ZERO && bytes[p]! <= NINE; p++) b = b * 10 + bytes[p]! - ZERO;
      const bDigits = p - bStart;
      while (p < stop && (bytes[p] === SPACE || bytes[p] === TAB)) p++;
      good = bDigits > 0 && b < nPost && p === stop;
      if (good) {
        if (count === pre.length) {
          pre = grown(pre);
          post = grown(post);
        }
        pre[count] = a;
        post[count] = b;
        count++;
      }
    }
    if (!good) {
      if (badLines.length < REPORTED_LINES) badLines.push(line);
      badCount++;
    }
  }
  return { pre: pre.slice(0, count), post: post.slice(0, count), badLines, badCount };
}

function grown(values: Uint32Array): Uint32Array {
  const larger = new Uint32Array(Math.ceil(values.length * 1.5));
  larger.set(values);
  return larger;
}

/** One bad line's problem: where in the line (character offsets), and what to say. */
interface LineProblem {
  readonly start: number;
  readonly end: number;
  readonly message: string;
  readonly label?: string;
  readonly notes?: readonly string[];
}

/** A field of a line between commas, its spaces and tabs trimmed; offsets in the line. */
interface Field {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

function fields(line: string): Field[] {
  const result: Field[] = [];
  for (let from = 0; ;) {
    const comma = line.indexOf(',', from);
    const to = comma < 0 ? line.length : comma;
    let start = from;
    let end = to;
    while (start < end && (line[start] === ' ' || line[start] === '\t')) start++;
    while (end > start && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
    result.push({ text: line.slice(start, end), start, end });
    if (comma < 0) return result;
    from = comma + 1;
  }
}

/** A number as a user may write it in a CSV file (what Number reads, less hex and the like). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** How numpy, pandas and C write the numbers that are not finite. */
const NOT_FINITE = /^[+-]?(nan|inf|infinity)$/i;

/** What is wrong with one field of a data line, or undefined when it is a good index. */
function fieldProblem(
  field: Field,
  role: 'pre' | 'post',
  side: ProjectionSide,
): LineProblem | undefined {
  const { text, start, end } = field;
  const at = { start, end };
  if (text === '') {
    return {
      start,
      end: start,
      message: `the ${role} index is missing`,
      label: `expected a neuron index of ${side.label}`,
    };
  }
  if (/^\d+$/.test(text)) {
    const index = Number(text);
    if (index < side.size) return undefined;
    return {
      ...at,
      message: `${role} index ${text} is out of range: ${side.label} has ${side.size} neuron${side.size === 1 ? '' : 's'}`,
      label: side.size === 1 ? 'the only index is 0' : `indices are 0 to ${side.size - 1}`,
      ...(side.offset
        ? {
            notes: [
              `indices count from the start of the slice: 0 is the first neuron of ${side.label}`,
            ],
          }
        : {}),
    };
  }
  if (DECIMAL.test(text)) {
    const value = Number(text);
    if (text.startsWith('-'))
      return { ...at, message: `${role} index ${text} is negative`, label: 'indices count from 0' };
    if (Number.isInteger(value))
      return {
        ...at,
        message: `${role} index ${text} is not written as a whole number`,
        label: `write ${value}`,
        ...(/[eE]/.test(text)
          ? {
              notes: [
                "numpy's savetxt writes numbers as 1.000000000000000000e+00 unless told: np.savetxt(path, pairs, fmt='%d', delimiter=',')",
              ],
            }
          : {}),
      };
    return {
      ...at,
      message: `${role} index ${text} is not a whole number`,
      label: 'indices are whole numbers from 0',
    };
  }
  if (NOT_FINITE.test(text))
    return {
      ...at,
      message: `${role} index ${text} is not a number`,
      label: 'indices are whole numbers from 0',
    };
  return {
    ...at,
    message: `expected a ${role} index, found '${text}'`,
    label: 'indices are whole numbers from 0, written with digits',
  };
}

const HEADER_NOTE =
  'only the first line that is not blank or a comment may be a header (one that starts with a letter)';

/** The problem of a line that `parsePairs` rejected; undefined would be a bug (the two disagree). */
function describeLine(line: string, use: ConnectionFileUse): LineProblem | undefined {
  const parts = fields(line);
  const problem = fieldsProblem(line, parts, use);
  const first = parts[0]!.text;
  if (problem === undefined || !/^[A-Za-z]/.test(first) || NOT_FINITE.test(first)) return problem;
  return { ...problem, notes: [...(problem.notes ?? []), HEADER_NOTE] };
}

function fieldsProblem(
  line: string,
  parts: readonly Field[],
  use: ConnectionFileUse,
): LineProblem | undefined {
  if (parts.length === 1) {
    const only = parts[0]!;
    return {
      start: only.start,
      end: Math.max(only.end, only.start + 1),
      message: `expected 'pre,post', two neuron indices separated by a comma, found '${only.text}'`,
    };
  }
  if (parts.length > 2) {
    const last = parts[parts.length - 1]!;
    // From the comma before the third field to the end of the last one.
    const start = line.lastIndexOf(',', parts[2]!.start - 1);
    return {
      start,
      end: Math.max(last.end, start + 1),
      message: `this line has ${parts.length} fields; a connection file holds only 'pre,post' pairs`,
      label: parts.length === 3 ? 'an extra field' : `${parts.length - 2} extra fields`,
      notes: [WEIGHTS_NOTE],
    };
  }
  return fieldProblem(parts[0]!, 'pre', use.pre) ?? fieldProblem(parts[1]!, 'post', use.post);
}

function reportBadLines(
  use: ConnectionFileUse,
  bytes: Buffer,
  parsed: ParsedPairs,
  diagnostics: Diagnostics,
): void {
  // The file as a source, for excerpts and columns: decoded only when there is something to report.
  const decoded = bytes.toString('utf8');
  const source = makeSourceFile(
    use.displayPath,
    decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded,
  );
  const back = {
    span: use.argument,
    message: `projection '${use.projection}' reads its connections from this file`,
  };
  const more = parsed.badCount - parsed.badLines.length;
  // An explanation is given once per file, at the first line that needs it.
  const explained = new Set<string>();
  parsed.badLines.forEach((lineNumber, k) => {
    const problem = describeLine(lineText(source, lineNumber), use);
    if (problem === undefined)
      throw new InternalError(
        `line ${lineNumber} of ${use.displayPath} was rejected without a reason`,
      );
    const first = source.lineStarts[lineNumber - 1]!;
    const last = k === parsed.badLines.length - 1;
    diagnostics.error(
      { file: source, start: first + problem.start, end: first + problem.end },
      problem.message,
      {
        ...(problem.label === undefined ? {} : { label: problem.label }),
        secondary: [back],
        notes: [
          ...(problem.notes ?? []).filter((n) => !explained.has(n) && (explained.add(n), true)),
          ...(last && more > 0
            ? [`and ${more} more bad line${more === 1 ? '' : 's'} in this file, not shown`]
            : []),
        ],
      },
    );
  });
}
