import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { UsageError } from '../../src/errors.js'
import {
  DEFAULT_ALLOW_PRIVATE_REDIRECTS, DEFAULT_CONNECTIONS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_RETRIES,
  DEFAULT_MIN_RATE_BYTES_PER_SEC, DEFAULT_MIN_RATE_WINDOW_MS, DEFAULT_RETRY_AFTER_CAP_MS, DEFAULT_RETRY_BASE_MS, HttpSource
} from '../../src/origin/index.js'
import { resolveOptions } from '../../src/origin/options.js'
import { testManifest } from '../helpers/origin-fixtures.js'

const manifest = testManifest(1000, 16)
const url = 'http://127.0.0.1:1/x'

describe('HttpSourceInit', () => {
  it('defaults are the documented values', () => {
    const o = resolveOptions({ url, manifest })
    assert.equal(o.connections, 4)
    assert.equal(o.idleTimeoutMs, 15_000)
    assert.equal(o.minRateBytesPerSec, 32 * 1024)
    assert.equal(o.minRateWindowMs, 10_000)
    assert.equal(o.maxRetries, 3)
    assert.equal(o.retryBaseMs, 250)
    assert.equal(o.retryAfterCapMs, 10_000)
    assert.equal(o.maxRedirects, 3)
    assert.equal(o.allowPrivateRedirects, false)
    assert.equal(o.random, Math.random)
    assert.equal(o.classifyAddress('10.0.0.1'), 'private')
    assert.deepEqual(
      [DEFAULT_CONNECTIONS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MIN_RATE_BYTES_PER_SEC, DEFAULT_MIN_RATE_WINDOW_MS, DEFAULT_MAX_RETRIES,
        DEFAULT_RETRY_BASE_MS, DEFAULT_RETRY_AFTER_CAP_MS, DEFAULT_MAX_REDIRECTS, DEFAULT_ALLOW_PRIVATE_REDIRECTS],
      [o.connections, o.idleTimeoutMs, o.minRateBytesPerSec, o.minRateWindowMs, o.maxRetries, o.retryBaseMs, o.retryAfterCapMs,
        o.maxRedirects, o.allowPrivateRedirects])
  })

  it('the @default tags in the TSDoc match the constants', () => {
    // Compiled tests live in <outDir>/test/origin; the sources sit at the repository root.
    const src = readFileSync(new URL('../../../src/origin/options.ts', import.meta.url), 'utf8')
    const doc = (name: string): string => {
      const m = new RegExp(`@default ([^*]+?) \\*/\\s*\\n\\s*${name}\\?:`).exec(src)
      assert.ok(m, `no @default for ${name}`)
      return m[1]!.trim()
    }
    assert.equal(doc('connections'), String(DEFAULT_CONNECTIONS))
    assert.equal(doc('idleTimeoutMs'), '15_000')
    assert.equal(doc('minRateBytesPerSec'), '32 KiB/s (32_768)')
    assert.equal(doc('minRateWindowMs'), '10_000')
    assert.equal(doc('maxRetries'), String(DEFAULT_MAX_RETRIES))
    assert.equal(doc('retryBaseMs'), String(DEFAULT_RETRY_BASE_MS))
    assert.equal(doc('retryAfterCapMs'), '10_000')
    assert.equal(doc('maxRedirects'), String(DEFAULT_MAX_REDIRECTS))
    assert.equal(doc('allowPrivateRedirects'), String(DEFAULT_ALLOW_PRIVATE_REDIRECTS))
    assert.equal(Number(doc('idleTimeoutMs').replace(/_/g, '')), DEFAULT_IDLE_TIMEOUT_MS)
    assert.equal(Number(doc('minRateWindowMs').replace(/_/g, '')), DEFAULT_MIN_RATE_WINDOW_MS)
    assert.equal(Number(doc('retryAfterCapMs').replace(/_/g, '')), DEFAULT_RETRY_AFTER_CAP_MS)
    assert.equal(32_768, DEFAULT_MIN_RATE_BYTES_PER_SEC)
  })

  it('rejects bad options eagerly, naming the option', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ url: 'ftp://x/y' }, /http or https/],
      [{ url: 'not a url' }, /invalid url/],
      [{ url: 42 }, /url must be a string/],
      [{ manifest: { size: -1, pieceSize: 16 } }, /manifest/],
      [{ manifest: { size: 10, pieceSize: 0 } }, /manifest/],
      [{ connections: 0 }, /connections/],
      [{ connections: 2.5 }, /connections/],
      [{ connections: 1000 }, /connections/],
      [{ idleTimeoutMs: 0 }, /idleTimeoutMs/],
      [{ idleTimeoutMs: Number.POSITIVE_INFINITY }, /idleTimeoutMs/],
      [{ minRateBytesPerSec: -1 }, /minRateBytesPerSec/],
      [{ minRateWindowMs: 0 }, /minRateWindowMs/],
      [{ maxRetries: -1 }, /maxRetries/],
      [{ retryBaseMs: Number.NaN }, /retryBaseMs/],
      [{ retryAfterCapMs: -5 }, /retryAfterCapMs/],
      [{ maxRedirects: 1.5 }, /maxRedirects/],
      [{ allowPrivateRedirects: 'yes' }, /allowPrivateRedirects/],
      [{ classifyAddress: 'public' }, /classifyAddress/],
      [{ random: 4 }, /random/]
    ]
    for (const [patch, re] of bad) {
      assert.throws(() => new HttpSource({ url, manifest, ...patch } as never), (e: unknown) => e instanceof UsageError && re.test(e.message), JSON.stringify(patch))
    }
  })

  it('accepts zero where zero means "off"', () => {
    const o = resolveOptions({ url, manifest, minRateBytesPerSec: 0, maxRetries: 0, retryBaseMs: 0, retryAfterCapMs: 0, maxRedirects: 0 })
    assert.equal(o.minRateBytesPerSec, 0)
    assert.equal(o.maxRedirects, 0)
  })
})
