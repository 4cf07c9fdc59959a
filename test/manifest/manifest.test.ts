import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes, createHash } from 'node:crypto'
import { base58btc } from 'multiformats/bases/base58'
import { createManifest, verifyManifest, generateKey, privateKeyFromPem, parsePublicKeyString, pieceCount, pieceLength, MAX_MANIFEST_BYTES } from '../../src/manifest/index.js'
import { sealEnvelope } from '../../src/manifest/envelope.js'
import { DoswarmError } from '../../src/errors.js'

async function fixture (size = 100_000, pieceSize = 16384): Promise<{ dir: string, file: string, data: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-manifest-'))
  const data = randomBytes(size)
  const file = join(dir, 'payload.bin')
  await writeFile(file, data)
  return { dir, file, data }
}

function codeOf (fn: () => unknown): string | undefined {
  try { fn() } catch (err) { return err instanceof DoswarmError ? err.code : `untyped:${(err as Error).message}` }
  return undefined
}

test('create → verify round trip keeps every field and hashes the file right', async () => {
  const { dir, file, data } = await fixture(100_000)
  try {
    const key = generateKey()
    const m = await createManifest({ file, origins: ['http://127.0.0.1:1/x'], privateKey: privateKeyFromPem(key.privateKeyPem), pieceSize: 16384, version: 7 })
    const v = verifyManifest(m.bytes, { trustedKeys: [key.publicKey] })
    assert.equal(v.contentId, m.contentId)
    assert.match(v.contentId, /^baga[a-z2-7]+$/)
    assert.equal(v.size, 100_000)
    assert.equal(v.pieceSize, 16384)
    assert.equal(pieceCount(v), 7)
    assert.equal(pieceLength(v, 6), 100_000 - 6 * 16384)
    assert.equal(v.version, 7)
    assert.equal(v.name, 'payload.bin')
    assert.equal(v.publisher, key.publicKey)
    assert.deepEqual(Buffer.from(v.fileHash), createHash('sha256').update(data).digest())
    for (let i = 0; i < 7; i++) {
      const piece = data.subarray(i * 16384, Math.min(data.length, (i + 1) * 16384))
      assert.deepEqual(Buffer.from(v.pieceHashes[i]), createHash('sha256').update(piece).digest())
    }
  } finally { await rm(dir, { recursive: true, force: true }) }
})

test('every single byte flip of a signed manifest is rejected with a typed error', async () => {
  const { dir, file } = await fixture(40_000)
  try {
    const key = generateKey()
    const m = await createManifest({ file, origins: ['http://127.0.0.1:1/x'], privateKey: privateKeyFromPem(key.privateKeyPem), pieceSize: 16384 })
    const codes = new Set<string>()
    for (let i = 0; i < m.bytes.length; i++) {
      const bad = Uint8Array.from(m.bytes)
      bad[i] ^= 1 << (i % 8)
      const code = codeOf(() => verifyManifest(bad, { trustedKeys: [key.publicKey] }))
      assert.ok(code !== undefined, `flip at byte ${i} was accepted`)
      assert.ok(!code.startsWith('untyped'), `flip at byte ${i}: ${code}`)
      codes.add(code)
    }
    assert.ok(codes.has('MANIFEST_SIGNATURE_INVALID'))
    assert.ok(codes.has('MANIFEST_UNTRUSTED_KEY'))
    assert.ok(codes.has('MANIFEST_MALFORMED'))
    assert.ok(codes.has('MANIFEST_UNSUPPORTED'))
    // truncation anywhere is rejected too
    for (const n of [0, 3, 50, 101, m.bytes.length - 1]) {
      assert.ok(codeOf(() => verifyManifest(m.bytes.subarray(0, n), { trustedKeys: [key.publicKey] })) !== undefined)
    }
  } finally { await rm(dir, { recursive: true, force: true }) }
})

test('wrong key, expired, oversized, unknown hash and unknown format get their own codes', async () => {
  const { dir, file } = await fixture(20_000)
  try {
    const key = generateKey()
    const other = generateKey()
    const priv = privateKeyFromPem(key.privateKeyPem)
    const m = await createManifest({ file, origins: ['https://cdn.invalid/f'], privateKey: priv, pieceSize: 16384, expiresAt: Date.now() + 60_000 })
    assert.equal(codeOf(() => verifyManifest(m.bytes, { trustedKeys: [other.publicKey] })), 'MANIFEST_UNTRUSTED_KEY')
    assert.equal(codeOf(() => verifyManifest(m.bytes, { trustedKeys: [other.publicKey, key.publicKey] })), undefined)
    assert.equal(codeOf(() => verifyManifest(m.bytes, { trustedKeys: [key.publicKey], now: Date.now() + 120_000 })), 'MANIFEST_EXPIRED')
    const huge = new Uint8Array(MAX_MANIFEST_BYTES + 1)
    assert.equal(codeOf(() => verifyManifest(huge, { trustedKeys: [key.publicKey] })), 'MANIFEST_TOO_LARGE')

    // a correctly signed body that names another hash (sha2-512, 0x13) or another format
    const body = JSON.parse(new TextDecoder().decode(m.bytes.subarray(101)))
    const sha512mh = base58btc.encode(Uint8Array.from([0x13, 0x40, ...randomBytes(64)]))
    const withHash = { ...body, pieces: body.pieces.map(() => sha512mh) }
    const signedHash = sealEnvelope(new TextEncoder().encode(JSON.stringify(withHash)), priv)
    assert.equal(codeOf(() => verifyManifest(signedHash, { trustedKeys: [key.publicKey] })), 'MANIFEST_UNSUPPORTED')
    const signedFormat = sealEnvelope(new TextEncoder().encode(JSON.stringify({ ...body, format: 2 })), priv)
    assert.equal(codeOf(() => verifyManifest(signedFormat, { trustedKeys: [key.publicKey] })), 'MANIFEST_UNSUPPORTED')
    // signed but not canonical (extra space) or inconsistent (piece count) is malformed
    const spaced = sealEnvelope(new TextEncoder().encode(JSON.stringify(body, null, 1)), priv)
    assert.equal(codeOf(() => verifyManifest(spaced, { trustedKeys: [key.publicKey] })), 'MANIFEST_MALFORMED')
    const short = sealEnvelope(new TextEncoder().encode(JSON.stringify({ ...body, pieces: body.pieces.slice(1) })), priv)
    assert.equal(codeOf(() => verifyManifest(short, { trustedKeys: [key.publicKey] })), 'MANIFEST_MALFORMED')
    const badSize = sealEnvelope(new TextEncoder().encode(JSON.stringify({ ...body, pieceSize: 3000 })), priv)
    assert.equal(codeOf(() => verifyManifest(badSize, { trustedKeys: [key.publicKey] })), 'MANIFEST_MALFORMED')
    const fileOrigin = sealEnvelope(new TextEncoder().encode(JSON.stringify({ ...body, origins: ['file:///etc/passwd'] })), priv)
    assert.equal(codeOf(() => verifyManifest(fileOrigin, { trustedKeys: [key.publicKey] })), 'MANIFEST_MALFORMED')
  } finally { await rm(dir, { recursive: true, force: true }) }
})

test('public key strings parse strictly and bad piece sizes are usage errors', async () => {
  const key = generateKey()
  assert.equal(parsePublicKeyString(key.publicKey).length, 32)
  assert.equal(codeOf(() => parsePublicKeyString('ed25519:abc')), 'KEY_INVALID')
  assert.equal(codeOf(() => parsePublicKeyString('rsa:zzz')), 'KEY_INVALID')
  assert.equal(codeOf(() => privateKeyFromPem('not a key')), 'KEY_INVALID')
  const { dir, file } = await fixture(1000)
  try {
    await assert.rejects(createManifest({ file, origins: ['http://127.0.0.1/x'], privateKey: privateKeyFromPem(key.privateKeyPem), pieceSize: 1000 }), { code: 'USAGE' })
    await assert.rejects(createManifest({ file, origins: ['ftp://x/y'], privateKey: privateKeyFromPem(key.privateKeyPem) }), { code: 'USAGE' })
    await assert.rejects(createManifest({ file: join(dir, 'missing'), origins: ['http://127.0.0.1/x'], privateKey: privateKeyFromPem(key.privateKeyPem) }), { code: 'USAGE' })
  } finally { await rm(dir, { recursive: true, force: true }) }
})
