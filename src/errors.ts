/**
 * Every error doswarm throws on purpose is a {@link DoswarmError} with a stable
 * `code` (for programs and the CLI's `--json` output) and a `name` equal to the
 * class name (for `instanceof`-free matching in tests).
 */
export type ErrorCode =
  | 'MANIFEST_MALFORMED'
  | 'MANIFEST_SIGNATURE_INVALID'
  | 'MANIFEST_UNTRUSTED_KEY'
  | 'MANIFEST_EXPIRED'
  | 'MANIFEST_UNSUPPORTED'
  | 'MANIFEST_TOO_LARGE'
  | 'MANIFEST_ROLLBACK'
  | 'KEY_INVALID'
  | 'USAGE'
  | 'PIECE_UNAVAILABLE'
  | 'ORIGIN_FAILED'
  | 'OUTPUT_EXISTS'
  | 'STORE_IO'
  | 'DISK_FULL'
  | 'ABORTED'
  | 'PROTOCOL_VIOLATION'
  | 'STREAM_TRUNCATED'
  | 'PORT_IN_USE'
  | 'MANIFEST_FETCH_FAILED'
  | 'TLS_PIN_MISMATCH'
  | 'DAEMON_UNAVAILABLE'
  | 'CONFIG_INVALID'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'FILE_HASH_MISMATCH'
  | 'PIECE_NOT_HELD'
  | 'STORE_INCOMPLETE'

export class DoswarmError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** The manifest bytes are not a well-formed, canonical doswarm manifest. */
export class ManifestMalformedError extends DoswarmError {
  constructor (message: string) { super('MANIFEST_MALFORMED', message) }
}
/** The Ed25519 signature does not verify over the exact manifest bytes. */
export class ManifestSignatureError extends DoswarmError {
  constructor (message = 'manifest signature does not verify') { super('MANIFEST_SIGNATURE_INVALID', message) }
}
/** The manifest is signed by a key that the receiver does not trust. */
export class ManifestUntrustedKeyError extends DoswarmError {
  constructor (message: string) { super('MANIFEST_UNTRUSTED_KEY', message) }
}
/** The manifest's expiry lies before the verification time. */
export class ManifestExpiredError extends DoswarmError {
  constructor (message: string) { super('MANIFEST_EXPIRED', message) }
}
/** Unknown format version, hash function or envelope. */
export class ManifestUnsupportedError extends DoswarmError {
  constructor (message: string) { super('MANIFEST_UNSUPPORTED', message) }
}
/** The manifest is larger than the cap; it was not parsed. */
export class ManifestTooLargeError extends DoswarmError {
  constructor (message: string) { super('MANIFEST_TOO_LARGE', message) }
}
/**
 * The manifest is validly signed but older than a version of the same content
 * name from the same publisher that this node already accepted (THREATS T7).
 */
export class ManifestRollbackError extends DoswarmError {
  constructor (message: string) { super('MANIFEST_ROLLBACK', message) }
}
/** A key file or public-key string could not be read or parsed. */
export class KeyInvalidError extends DoswarmError {
  constructor (message: string) { super('KEY_INVALID', message) }
}
/** Bad command-line or API input (missing file, bad URL, bad option). */
export class UsageError extends DoswarmError {
  constructor (message: string) { super('USAGE', message) }
}
/** No source could deliver a verified copy of a piece within the retry budget. */
export class PieceUnavailableError extends DoswarmError {
  readonly piece: number
  constructor (piece: number, message: string) {
    super('PIECE_UNAVAILABLE', message)
    this.piece = piece
  }
}
/** One HTTP origin request failed in a way that may be retried elsewhere. */
export class OriginError extends DoswarmError {
  /** true when retrying the same origin later may succeed (5xx, 429, reset, stall) */
  readonly retryable: boolean
  /** server-requested delay before retrying, in ms, already capped */
  readonly retryAfterMs?: number
  constructor (message: string, retryable: boolean, retryAfterMs?: number, options?: { cause?: unknown }) {
    super('ORIGIN_FAILED', message, options)
    this.retryable = retryable
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs
  }
}
/** Writing the store or the output failed (other than a full disk). */
export class StoreIoError extends DoswarmError {
  constructor (message: string, options?: { cause?: unknown }) { super('STORE_IO', message, options) }
}
/** ENOSPC while writing a piece, a checkpoint or the output. */
export class DiskFullError extends DoswarmError {
  constructor (message: string, options?: { cause?: unknown }) { super('DISK_FULL', message, options) }
}
/** The assembled file does not hash to the manifest's fileHash; nothing was placed at the output path. */
export class FileHashMismatchError extends DoswarmError {
  constructor (message: string) { super('FILE_HASH_MISMATCH', message) }
}
/** The store was asked for a piece it does not hold verified and durable. */
export class PieceNotHeldError extends DoswarmError {
  readonly piece: number
  constructor (piece: number, message = `piece ${piece} is not held`) {
    super('PIECE_NOT_HELD', message)
    this.piece = piece
  }
}
/** An operation needs every piece durable (e.g. finalize) but some are missing. */
export class StoreIncompleteError extends DoswarmError {
  constructor (message: string) { super('STORE_INCOMPLETE', message) }
}
/** The operation was cancelled through its AbortSignal. */
export class AbortedError extends DoswarmError {
  /**
   * Why the canceller gave up, as a stable tag for counters (e.g. the
   * scheduler's reasons for cutting an HTTP request, src/origin/cut.ts).
   */
  readonly why: string | undefined
  constructor (message = 'aborted', why?: string) {
    super('ABORTED', message)
    this.why = why
  }
}
/** A peer broke the wire protocol (bad frame, bad length, bad index). */
export class ProtocolError extends DoswarmError {
  constructor (message: string) { super('PROTOCOL_VIOLATION', message) }
}
/**
 * A stream ended cleanly inside a frame: the last frame is incomplete. Not a
 * violation — a connection closed gracefully (shutdown, connection pruning)
 * ends its streams this way wherever their bytes stood — so the link closes
 * and its requests move to other sources, but the peer is not struck (THREATS C5).
 */
export class StreamTruncatedError extends DoswarmError {
  constructor (message: string) { super('STREAM_TRUNCATED', message) }
}
/**
 * A source refused a fetch for now (a peer answered BUSY): the scheduler
 * gives the pieces to another holder and does not count it against the source.
 */
export class SourceBusyError extends DoswarmError {
  constructor (message: string) { super('PIECE_UNAVAILABLE', message) }
}
/** The listen port is already taken by another process. */
export class PortInUseError extends DoswarmError {
  constructor (message: string) { super('PORT_IN_USE', message) }
}

/** Convert an fs error into the store's typed errors. */
export function toStoreError (err: unknown, what: string): DoswarmError {
  if (err instanceof DoswarmError) return err
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DiskFullError(`${what}: disk full`, { cause: err })
  return new StoreIoError(`${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

/** Throw {@link AbortedError} if the signal has fired. */
export function throwIfAborted (signal?: AbortSignal): void {
  if (signal?.aborted === true) throw new AbortedError()
}

/** The manifest could not be fetched (network, status, size cap, timeout). */
export class ManifestFetchError extends DoswarmError {
  constructor (message: string, options?: { cause?: unknown }) { super('MANIFEST_FETCH_FAILED', message, options) }
}
/** The HTTPS server's public key does not match the pinned SHA-256. */
export class TlsPinMismatchError extends DoswarmError {
  constructor (message: string) { super('TLS_PIN_MISMATCH', message) }
}
/** The local daemon could not be reached or refused the request. */
export class DaemonUnavailableError extends DoswarmError {
  constructor (message: string, options?: { cause?: unknown }) { super('DAEMON_UNAVAILABLE', message, options) }
}
/** The configuration file is invalid: names the key and the problem. */
export class ConfigError extends DoswarmError {
  readonly key: string
  constructor (key: string, problem: string) {
    super('CONFIG_INVALID', `config ${key}: ${problem}`)
    this.key = key
  }
}
