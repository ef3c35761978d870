/**
 * One catalog of error codes for the whole project. Every message says what was expected,
 * what arrived, and how to fix it; the CLI maps codes to exit codes and the server to 4xx/5xx.
 */
export type ErrorCode =
  | 'BAD_INPUT' // malformed row, wrong type, missing field (exit 65)
  | 'NOT_FOUND' // unknown dataset, user, item, model, file (exit 66)
  | 'CONFLICT' // state does not allow the operation (exit 75)
  | 'MISSING_DATA' // a required data folder (e.g. ../shared/data) is absent (exit 66)
  | 'INTERNAL'; // a bug: please report (exit 70)

export class GensearchError extends Error {
  readonly code: ErrorCode;
  /** Where the problem is, e.g. `items.jsonl:17`, when it has a place. */
  readonly where?: string;

  constructor(code: ErrorCode, message: string, where?: string) {
    super(where ? `${where}: ${message}` : message);
    this.name = 'GensearchError';
    this.code = code;
    this.where = where;
  }
}

/** A malformed input row: names the file and line so the user can fix it. */
export function badRow(file: string, line: number, reason: string): GensearchError {
  return new GensearchError('BAD_INPUT', reason, `${file}:${line}`);
}

export function badInput(message: string): GensearchError {
  return new GensearchError('BAD_INPUT', message);
}

export function notFound(what: string, hint?: string): GensearchError {
  return new GensearchError('NOT_FOUND', hint ? `${what} not found: ${hint}` : `${what} not found`);
}

/** sysexits-style codes, so scripts can tell bad input from missing files from bugs. */
export function exitCodeFor(error: unknown): number {
  if (!(error instanceof GensearchError)) return 70;
  switch (error.code) {
    case 'BAD_INPUT':
      return 65;
    case 'NOT_FOUND':
    case 'MISSING_DATA':
      return 66;
    case 'CONFLICT':
      return 75;
    case 'INTERNAL':
      return 70;
  }
}
