import test from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defaultConfig, validateConfig, loadConfig } from '../../src/daemon/config.js'

const sample = fileURLToPath(new URL('../../../docs/deploy/doswarm.json', import.meta.url))
const source = fileURLToPath(new URL('../../../src/daemon/config.ts', import.meta.url))

test('a bad config names the key and the problem', () => {
  const cases: Array<[unknown, string]> = [
    [{ mdns: 'yes' }, 'config mdns: must be true or false'],
    [{ mode: 'internet' }, 'config mode: must be "http-only", "lan" or "group"'],
    [{ cache: { maxSize: 'lots' } }, 'config cache.maxSize:'],
    [{ cache: { maxAge: 3 } }, 'config cache.maxAge: unknown key'],
    [{ bandwidht: {} }, 'config bandwidht: unknown key'],
    [{ bandwidth: { upload: -1 } }, 'config bandwidth.upload: must be a number ≥ 0'],
    [{ bandwidth: { maxConcurrentUploads: 0 } }, 'config bandwidth.maxConcurrentUploads:'],
    [{ api: { host: '0.0.0.0' } }, 'config api.host: must be a loopback address'],
    [{ api: { port: 70000 } }, 'config api.port:'],
    [{ trust: ['ed25519:nope'] }, 'config trust[0]:'],
    [{ mode: 'group' }, 'config groupSecret: group mode needs'],
    [{ mode: 'group', groupSecret: 'abc' }, 'config groupSecret: must be 64 hex'],
    [[], 'config (file): must be a JSON object']
  ]
  for (const [raw, msg] of cases) {
    assert.throws(() => validateConfig(raw), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CONFIG_INVALID')
      assert.ok(err.message.startsWith(msg), `${JSON.stringify(raw)} → ${err.message}`)
      return true
    })
  }
  assert.equal(validateConfig({ cache: { maxSize: '10GiB' } }).cache.maxSize, '10GiB')
  assert.equal(validateConfig({ mode: 'group', groupSecret: 'ab'.repeat(32) }).mode, 'group')
})

test('missing or unparsable config files are config errors', async () => {
  await assert.rejects(loadConfig('/nonexistent/doswarm.json'), { code: 'CONFIG_INVALID' })
  await assert.rejects(loadConfig(source), { code: 'CONFIG_INVALID' })
})

test('the documented defaults are the real ones: TSDoc @default tags and the sample config', () => {
  const env = { HOME: '/home/u' }
  const defaults = defaultConfig(env) as unknown as Record<string, unknown>
  // the sample config spells out every key; apart from the machine-specific directories, it holds the defaults
  const documented = JSON.parse(readFileSync(sample, 'utf8')) as Record<string, unknown>
  assert.deepEqual(Object.keys(documented).sort(), Object.keys(defaults).sort())
  for (const key of Object.keys(defaults)) {
    if (key === 'stateDir' || key === 'cacheDir') continue
    assert.deepEqual(documented[key], defaults[key], `docs/deploy/doswarm.json ${key}`)
  }
  assert.deepEqual(validateConfig(documented, env).listen, defaults.listen)
  // every leaf's @default tag in config.ts matches defaultConfig()
  const text = readFileSync(source, 'utf8')
  const tags = [...text.matchAll(/@default (.+?) \*\/\s*\n\s*(\w+):/g)].map(m => [m[2], m[1].trim()] as const)
  assert.ok(tags.length >= 15)
  const flat = new Map<string, unknown>()
  for (const [k, v] of Object.entries(defaults)) {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v)) flat.set(k2, v2)
    else flat.set(k, v)
  }
  for (const [key, tag] of tags) {
    if (key === 'stateDir' || key === 'cacheDir') continue
    const value = flat.get(key)
    const rendered = typeof value === 'string' ? `'${value}'` : JSON.stringify(value).replace(/"/g, "'").replace(/,/g, ', ')
    assert.equal(tag, rendered, `@default of ${key}`)
  }
})
