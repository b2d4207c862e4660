// The few typed errors recon raises. Each has a stable code; agent/cli.ts is the only place that
// turns them into exit codes, so scripts (post.sh, units) can rely on those numbers.

export const ERROR_CODES = {
  /** Bad arguments or configuration: the operator must change the command line. */
  USAGE: "E_USAGE",
  /** A file or directory given to recon cannot be read or written. */
  IO: "E_IO",
  /** The inventory document does not satisfy the schema. */
  INVALID_DOCUMENT: "E_INVALID_DOCUMENT",
  /** The master never acknowledged the upload; the document was spooled locally. */
  UPLOAD_FAILED: "E_UPLOAD_FAILED",
  /** The master acknowledged something other than what was sent. */
  ACK_MISMATCH: "E_ACK_MISMATCH",
  /** The post-action (power-off) could not be carried out. */
  POWER_OFF_FAILED: "E_POWER_OFF_FAILED",
  /** A test ran code that would start a real process. */
  EXEC_REFUSED: "E_EXEC_REFUSED",
  /** `recon-agent export`: at least one node could not be exported (the others were). */
  EXPORT_FAILED: "E_EXPORT_FAILED",
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export class ReconError extends Error {
  readonly code: ErrorCode;
  override readonly cause: unknown;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message);
    this.name = "ReconError";
    this.code = code;
    this.cause = options.cause;
  }
}

export function isReconError(value: unknown): value is ReconError {
  return value instanceof ReconError;
}
