/**
 * Defaults and fixed values of the piece store. Options documented with
 * `@default` in {@link PieceStoreInit} take their values from here, and a test
 * checks the two agree.
 */

/** Longest a verified, written piece waits for its group commit, in ms. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 10

/** A group commit starts as soon as this many written pieces are waiting. */
export const DEFAULT_CHECKPOINT_PIECES = 32

/**
 * Largest piece the store accepts. Manifests allow up to 16 MiB; the store
 * checks again because it allocates a piece-sized buffer on every `read()`.
 */
export const MAX_PIECE_SIZE = 16 * 1024 * 1024

/** Buffer size for streaming reads (re-verification, final hash): bounds memory on 4 GB files. */
export const IO_CHUNK_SIZE = 1024 * 1024

/** File names inside `<cacheDir>/<contentId>/`. */
export const MANIFEST_FILE = 'manifest'
export const DATA_FILE = 'data'
export const STATE_FILE = 'state'

/** Content ids are CID strings (base32 lower case); anything else never becomes a path (T9). */
export const CONTENT_ID_PATTERN = /^[a-z0-9]+$/
/** CIDv1 base32 of a SHA-256 multihash is 59 characters; leave room for other codecs, but cap it. */
export const MAX_CONTENT_ID_LENGTH = 128
