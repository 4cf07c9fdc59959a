/**
 * The node's persistent libp2p identity: one Ed25519 key in
 * `<stateDir>/peer-key` (libp2p's protobuf private-key encoding, mode 0600),
 * created on first start, so the peer id survives restarts.
 */
import '../polyfill.js'
import { randomBytes } from 'node:crypto'
import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { KeyInvalidError } from '../errors.js'
import { nodeStoreFs } from '../store/index.js'

/** File name of the peer key inside the state directory. */
export const PEER_KEY_FILE = 'peer-key'

/** A protobuf-encoded Ed25519 private key is 68 bytes; anything far larger is not ours. */
const MAX_KEY_FILE_BYTES = 4096

export interface PeerKey {
  privateKey: Ed25519PrivateKey
  /** true when this call generated the key (first start) */
  created: boolean
  path: string
}

/**
 * Load the peer key from `<stateDir>/peer-key`, or create it. Creation is
 * crash-safe and race-free: the key is written to a temp file, fsynced, then
 * hard-linked to its final name (which fails if another process won the race;
 * we then read theirs), and the directory is fsynced.
 *
 * A present but unreadable, oversized or non-Ed25519 key is an error
 * ({@link KeyInvalidError}); it is never silently replaced, since that would
 * change the node's identity.
 */
export async function loadOrCreatePeerKey (stateDir: string): Promise<PeerKey> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  const path = join(stateDir, PEER_KEY_FILE)
  const existing = await readKey(path)
  if (existing !== undefined) return { privateKey: existing, created: false, path }

  const key = await generateKeyPair('Ed25519')
  const tmp = join(stateDir, `.${PEER_KEY_FILE}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', 0o600)
  try {
    await fh.writeFile(privateKeyToProtobuf(key))
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fh.close()
  try {
    // link() never replaces an existing file, unlike rename()
    await link(tmp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const theirs = await readKey(path)
    if (theirs === undefined) throw new KeyInvalidError(`peer key ${path} vanished while being created`)
    return { privateKey: theirs, created: false, path }
  } finally {
    await unlink(tmp).catch(() => {})
  }
  await nodeStoreFs.fsyncDir(stateDir)
  return { privateKey: key, created: true, path }
}

async function readKey (path: string): Promise<Ed25519PrivateKey | undefined> {
  let st
  try {
    st = await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new KeyInvalidError(`cannot read peer key ${path}: ${(err as Error).message}`)
  }
  if (!st.isFile()) throw new KeyInvalidError(`peer key ${path} is not a regular file`)
  if (st.size > MAX_KEY_FILE_BYTES) throw new KeyInvalidError(`peer key ${path} is too large (${st.size} bytes)`)
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    // a private key readable by others: tighten it rather than refuse to start
    await chmod(path, 0o600).catch(() => {})
  }
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new KeyInvalidError(`cannot read peer key ${path}: ${(err as Error).message}`)
  }
  let key
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new KeyInvalidError(`peer key ${path} is corrupt (${(err as Error).message}); move it away to create a new identity`)
  }
  if (key.type !== 'Ed25519') throw new KeyInvalidError(`peer key ${path} is a ${key.type} key, expected Ed25519`)
  return key
}
