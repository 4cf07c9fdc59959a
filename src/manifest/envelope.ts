/**
 * The signed envelope around a manifest body:
 *
 *   magic "DSWM" (4) ‖ envelope version 0x01 (1) ‖ publisher key (32) ‖ signature (64) ‖ body
 *
 * The Ed25519 signature covers SIGNING_CONTEXT ‖ body, so the exact body bytes
 * are authenticated before a single one of them is parsed.
 */
import { createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto'
import { ManifestMalformedError, ManifestSignatureError, ManifestTooLargeError, ManifestUnsupportedError, ManifestUntrustedKeyError } from '../errors.js'
import { publicKeyFromRaw, rawPublicKey, rawPublicKeyToString } from './keys.js'

/** The four magic bytes that open every signed manifest. */
export const MAGIC = Uint8Array.from([0x44, 0x53, 0x57, 0x4d]) // "DSWM"
/** Envelope version written and accepted. */
export const ENVELOPE_VERSION = 1
/** Header length: magic + version + key + signature. */
export const HEADER_BYTES = 4 + 1 + 32 + 64
/** Manifests larger than this are rejected before any parsing: 8 MiB. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024
/** Domain separation: a manifest signature can never be mistaken for another doswarm signature. */
export const SIGNING_CONTEXT = new TextEncoder().encode('doswarm manifest v1\0')

function signedMessage (body: Uint8Array): Uint8Array {
  const msg = new Uint8Array(SIGNING_CONTEXT.length + body.length)
  msg.set(SIGNING_CONTEXT)
  msg.set(body, SIGNING_CONTEXT.length)
  return msg
}

/** Wrap canonical body bytes in a signed envelope. */
export function sealEnvelope (body: Uint8Array, privateKey: KeyObject): Uint8Array {
  const pub = rawPublicKey(createPublicKey(privateKey))
  const sig = edSign(null, signedMessage(body), privateKey)
  const out = new Uint8Array(HEADER_BYTES + body.length)
  out.set(MAGIC, 0)
  out[4] = ENVELOPE_VERSION
  out.set(pub, 5)
  out.set(sig, 37)
  out.set(body, HEADER_BYTES)
  if (out.length > MAX_MANIFEST_BYTES) throw new ManifestTooLargeError(`manifest would be ${out.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte cap; use a larger piece size`)
  return out
}

/**
 * Check size cap, envelope, publisher trust and signature — in that order —
 * and return the authenticated body bytes and the publisher key string.
 */
export function openEnvelope (bytes: Uint8Array, trusted: readonly Uint8Array[]): { body: Uint8Array, publisher: string } {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new ManifestTooLargeError(`manifest is ${bytes.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte cap`)
  if (bytes.length < HEADER_BYTES || !MAGIC.every((b, i) => bytes[i] === b)) throw new ManifestMalformedError('not a doswarm manifest (bad magic or too short)')
  if (bytes[4] !== ENVELOPE_VERSION) throw new ManifestUnsupportedError(`manifest envelope version ${bytes[4]} is not supported`)
  const key = bytes.subarray(5, 37)
  const sig = bytes.subarray(37, HEADER_BYTES)
  const body = bytes.subarray(HEADER_BYTES)
  const publisher = rawPublicKeyToString(key)
  if (!trusted.some(t => t.length === key.length && t.every((b, i) => b === key[i]))) {
    throw new ManifestUntrustedKeyError(`manifest is signed by ${publisher}, which is not a trusted publisher key`)
  }
  let ok = false
  try {
    ok = edVerify(null, signedMessage(body), publicKeyFromRaw(key), sig)
  } catch {
    ok = false
  }
  if (!ok) throw new ManifestSignatureError()
  return { body, publisher }
}
