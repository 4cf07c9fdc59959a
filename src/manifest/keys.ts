/**
 * Publisher keys: Ed25519 through Node's crypto. A private key is stored as
 * PKCS#8 PEM (mode 0600); a public key travels as `ed25519:<base58btc>` of its
 * raw 32 bytes — short enough to paste into a config file or a command line.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { base58btc } from 'multiformats/bases/base58'
import { KeyInvalidError } from '../errors.js'

/** Prefix of every public key string. */
export const PUBLIC_KEY_PREFIX = 'ed25519:'
/** Length in bytes of a raw Ed25519 public key. */
export const RAW_PUBLIC_KEY_BYTES = 32
// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw key follows it.
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

export interface GeneratedKey {
  /** PKCS#8 PEM of the private key; keep it secret. */
  privateKeyPem: string
  /** Public key string to hand to receivers (`--trust`). */
  publicKey: string
}

/** Create a new Ed25519 publisher key pair. */
export function generateKey (): GeneratedKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKeyToString(publicKey)
  }
}

/** Raw 32 bytes of an Ed25519 public key object. */
export function rawPublicKey (key: KeyObject): Uint8Array {
  const der = new Uint8Array(key.export({ type: 'spki', format: 'der' }))
  if (der.length !== SPKI_ED25519_PREFIX.length + RAW_PUBLIC_KEY_BYTES) throw new KeyInvalidError('not an Ed25519 public key')
  return der.subarray(SPKI_ED25519_PREFIX.length)
}

/** `ed25519:<base58btc>` string of a public (or private) key object. */
export function publicKeyToString (key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  return PUBLIC_KEY_PREFIX + base58btc.baseEncode(rawPublicKey(pub))
}

/** String form of raw public key bytes. */
export function rawPublicKeyToString (raw: Uint8Array): string {
  return PUBLIC_KEY_PREFIX + base58btc.baseEncode(raw)
}

/** Parse `ed25519:<base58btc>` into raw bytes; throws {@link KeyInvalidError}. */
export function parsePublicKeyString (text: string): Uint8Array {
  const s = text.trim()
  if (!s.startsWith(PUBLIC_KEY_PREFIX)) throw new KeyInvalidError(`public key must start with "${PUBLIC_KEY_PREFIX}"`)
  let raw: Uint8Array
  try {
    raw = base58btc.baseDecode(s.slice(PUBLIC_KEY_PREFIX.length))
  } catch {
    throw new KeyInvalidError('public key is not valid base58btc')
  }
  if (raw.length !== RAW_PUBLIC_KEY_BYTES) throw new KeyInvalidError(`public key must be ${RAW_PUBLIC_KEY_BYTES} bytes, got ${raw.length}`)
  return raw
}

/** Key object for raw Ed25519 public key bytes. */
export function publicKeyFromRaw (raw: Uint8Array): KeyObject {
  const der = new Uint8Array(SPKI_ED25519_PREFIX.length + raw.length)
  der.set(SPKI_ED25519_PREFIX)
  der.set(raw, SPKI_ED25519_PREFIX.length)
  try {
    return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' })
  } catch (err) {
    throw new KeyInvalidError(`invalid Ed25519 public key: ${(err as Error).message}`)
  }
}

/** Load an Ed25519 private key from PEM text; throws {@link KeyInvalidError}. */
export function privateKeyFromPem (pem: string): KeyObject {
  let key: KeyObject
  try {
    key = createPrivateKey({ key: pem, format: 'pem' })
  } catch (err) {
    throw new KeyInvalidError(`cannot read private key: ${(err as Error).message}`)
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyInvalidError(`private key is ${key.asymmetricKeyType ?? 'unknown'}, not ed25519`)
  return key
}
