/**
 * Group mode secrets (DO's "Group" download mode, made cryptographic): nodes
 * that share a 32-byte secret form a libp2p private network (`@libp2p/pnet`);
 * nodes without it cannot complete a connection. The secret is written as 64
 * hex characters, or as the key file IPFS/libp2p private networks use
 * (`swarm.key`), so an existing key can be reused.
 */
import { randomBytes } from 'node:crypto'
import { UsageError } from '../errors.js'

/** Length of a group secret in bytes (pnet's KEY_LENGTH). */
export const GROUP_SECRET_BYTES = 32

/** First line of a pnet v1 key file. */
const KEY_FILE_TAG = '/key/swarm/psk/1.0.0/'
/** Second line: the only encoding `@libp2p/pnet` decodes. */
const KEY_FILE_CODEC = '/base16/'
const HEX_SECRET = /^[0-9a-fA-F]{64}$/

/** A new random group secret as 64 lower-case hex characters. */
export function generateGroupSecret (): string {
  return randomBytes(GROUP_SECRET_BYTES).toString('hex')
}

/**
 * Parse a group secret: 64 hex characters, or the text of a pnet key file
 * (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex characters, one per line).
 * Surrounding whitespace is ignored. Throws {@link UsageError} otherwise.
 */
export function parseGroupSecret (text: string): Uint8Array {
  if (typeof text !== 'string') throw new UsageError('group secret must be a string')
  const lines = text.trim().split(/\r\n|\r|\n/).map(l => l.trim())
  let hex: string | undefined
  if (lines.length === 1) {
    hex = lines[0]
  } else if (lines.length === 3 && lines[0] === KEY_FILE_TAG) {
    if (lines[1] !== KEY_FILE_CODEC) {
      throw new UsageError(`group key file uses encoding ${JSON.stringify(lines[1])}; only ${KEY_FILE_CODEC} is supported`)
    }
    hex = lines[2]
  }
  if (hex === undefined || !HEX_SECRET.test(hex)) {
    throw new UsageError(`invalid group secret: expected ${GROUP_SECRET_BYTES * 2} hex characters (make one with generateGroupSecret) or a ${KEY_FILE_TAG} key file`)
  }
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/** The secret as pnet key file text (`swarm.key`), e.g. to share with IPFS tooling. */
export function groupSecretKeyFile (secret: Uint8Array): string {
  checkSecret(secret)
  return `${KEY_FILE_TAG}\n${KEY_FILE_CODEC}\n${Buffer.from(secret).toString('hex')}\n`
}

/** The `psk` bytes `@libp2p/pnet`'s preSharedKey() expects for `secret`. */
export function groupPsk (secret: Uint8Array): Uint8Array {
  // pnet decodes lower-case base16 only; toString('hex') is lower case
  return new TextEncoder().encode(groupSecretKeyFile(secret).trimEnd())
}

function checkSecret (secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length !== GROUP_SECRET_BYTES) {
    throw new UsageError(`groupSecret must be ${GROUP_SECRET_BYTES} bytes (see parseGroupSecret)`)
  }
}
