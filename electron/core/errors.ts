import type { ErrorCode, TokenFailureDetail, WireError } from '../../shared/errors';

/**
 * A failure the user can act on. The message is shown as is, so it is written for a custodian
 * under ceremony stress and never contains a secret.
 */
export class CustosError extends Error {
  override readonly name = 'CustosError';
  /** For a token's refusal: which CKR_, at which step, for which mechanism or attribute. */
  readonly detail: TokenFailureDetail | undefined;
  /** Whose factors this refusal is about, when it is about one person's (crosses the wire: forms point at them). */
  readonly custodianId: string | undefined;
  /** Which parameter of the request this refusal is about (crosses the wire: a form shows it at that field). */
  readonly field: string | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly remedy: readonly string[] = [],
    options?: { cause?: unknown; detail?: TokenFailureDetail; custodianId?: string; field?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.detail = options?.detail;
    this.custodianId = options?.custodianId;
    this.field = options?.field;
  }
}

export function isCustosError(error: unknown): error is CustosError {
  return error instanceof CustosError;
}

/**
 * A refusal as it crosses to the renderer: code, words, remedy, and whose factors or which parameter it is about when
 * it says.
 */
export function wireError(error: CustosError): WireError {
  return {
    code: error.code,
    message: error.message,
    remedy: [...error.remedy],
    ...(error.custodianId === undefined ? {} : { custodianId: error.custodianId }),
    ...(error.field === undefined ? {} : { field: error.field }),
  };
}

/**
 * A file or folder named on the command line (or chosen in a dialog) that cannot be used, as a clear
 * error with its own code and the path (Node's fs errors carry it), instead of an unexpected failure.
 * Null for anything else.
 */
export function fileError(error: unknown): CustosError | null {
  const e = error as NodeJS.ErrnoException;
  if (!(error instanceof Error) || typeof e.code !== 'string') return null;
  const path = shown(e.path ?? (e as { dest?: string }).dest ?? 'the file');
  switch (e.code) {
    case 'ENAMETOOLONG':
    case 'ELOOP':
      return new CustosError(
        'FILE_NOT_FOUND',
        `${path} cannot be opened: ${e.code === 'ELOOP' ? 'its links lead round in a loop' : 'the name is longer than the system allows'}.`,
        ['Check the path.'],
        { cause: error },
      );
    case 'ENOENT':
    case 'ENOTDIR':
      return new CustosError(
        'FILE_NOT_FOUND',
        `${path} does not exist (or a folder on its way does not).`,
        ['Check the path; create the folder first where one is to be written.'],
        { cause: error },
      );
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new CustosError(
        'FILE_ACCESS_DENIED',
        `Custos may not read or write ${path}.`,
        ['Check its permissions, or choose another place.'],
        { cause: error },
      );
    case 'EEXIST':
    case 'EISDIR':
      return new CustosError(
        'FILE_EXISTS',
        `${path} already exists; nothing was overwritten.`,
        ['Choose another path, or move the existing one away first.'],
        { cause: error },
      );
    case 'ENOSPC':
      return new CustosError(
        'STORE_DISK_FULL',
        `The disk holding ${path} is full; what was being written is incomplete there.`,
        ['Free space, then run the command again.'],
        { cause: error },
      );
    default:
      return null;
  }
}

/** How much of a path or name a person gave is quoted back: an argument of 100 KB is not echoed whole. */
const SHOWN_CHARACTERS = 240;

/** A path or name a person gave, as `printable`, its middle cut out (“…”) when it is long; the end names the file. */
export function shown(text: string): string {
  const characters = [...text];
  if (characters.length <= SHOWN_CHARACTERS) return printable(text);
  const half = SHOWN_CHARACTERS / 2;
  return printable(`${characters.slice(0, half).join('')}…${characters.slice(-half).join('')}`);
}

/** Control, line-separating and bidirectional characters, which steer a terminal, break a line or reorder the text. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * Text that came from a file, the database or a person (a path, a label, a name), as it may be shown: control and
 * bidirectional characters become escapes. `keepLines` lets newline and tab through, for whole pages of output. JSON
 * stays JSON: such characters only stand inside its strings, where the escape means the same character.
 */
export function printable(text: string, keepLines = false): string {
  return text.replace(UNPRINTABLE, (c) =>
    keepLines && (c === '\n' || c === '\t') ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
