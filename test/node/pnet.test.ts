/**
 * Group mode: nodes sharing a group secret form a libp2p private network;
 * nodes with another secret, or none, cannot complete a connection in either
 * direction. Loopback only, mDNS off.
 */
import '../../src/polyfill.js'
import { describe, it, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { generateKey } from '@libp2p/pnet'
import { echo, echoServer } from '../helpers/echo.js'
import {
  createP2PNode, generateGroupSecret, groupSecretKeyFile, parseGroupSecret, DEFAULT_LIMITS, GROUP_SECRET_BYTES,
  type P2PNode, type P2PNodeInit
} from '../../src/node/libp2p.js'

const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
/** A failing handshake may only end by timeout: keep those short in tests. */
const FAST_FAIL = { addressDialTimeout: 1500, inboundUpgradeTimeout: 1500, dialTimeout: 3000 }
const dirs: string[] = []
const nodes: Array<Libp2p<any>> = []

async function node (init: Partial<P2PNodeInit> = {}): Promise<P2PNode> {
  const stateDir = await mkdtemp(join(tmpdir(), 'doswarm-pnet-'))
  dirs.push(stateDir)
  const n = await createP2PNode({ stateDir, listen: [LOOPBACK], mdns: false, log: () => {}, limits: FAST_FAIL, ...init })
  nodes.push(n)
  return n
}

async function stopAll (): Promise<void> {
  await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
}

after(async () => {
  await stopAll()
  await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
})

async function waitFor (cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Dial `to` from `from`; it must fail, and afterwards neither side may list a connection to the other. */
async function assertCannotConnect (from: P2PNode, to: P2PNode): Promise<void> {
  const started = performance.now()
  await assert.rejects(from.dial(to.getMultiaddrs()), 'the dial is refused')
  assert.ok(performance.now() - started < 5000, 'fails within the dial budget')
  // give the other side time to drop its half-open connection
  await new Promise(resolve => setTimeout(resolve, 300))
  assert.equal(from.getConnections(to.peerId).length, 0, 'no connection on the dialling side')
  assert.equal(to.getConnections(from.peerId).length, 0, 'no connection on the listening side')
}

describe('group secrets', () => {
  it('generateGroupSecret gives 64 fresh hex characters that parse to 32 bytes', () => {
    const a = generateGroupSecret()
    assert.match(a, /^[0-9a-f]{64}$/)
    assert.notEqual(generateGroupSecret(), a)
    const bytes = parseGroupSecret(a)
    assert.equal(bytes.length, GROUP_SECRET_BYTES)
    assert.equal(Buffer.from(bytes).toString('hex'), a)
  })

  it('parseGroupSecret accepts hex in any case and pnet key files (LF or CRLF, with padding)', () => {
    const hex = randomBytes(32).toString('hex')
    const want = Buffer.from(hex, 'hex')
    for (const text of [hex, hex.toUpperCase(), `  ${hex}\n`, `/key/swarm/psk/1.0.0/\n/base16/\n${hex}`, `/key/swarm/psk/1.0.0/\r\n/base16/\r\n${hex}\r\n`]) {
      assert.ok(Buffer.from(parseGroupSecret(text)).equals(want), JSON.stringify(text))
    }
    // the file @libp2p/pnet's own generateKey writes
    const file = new Uint8Array(95)
    generateKey(file)
    const text = new TextDecoder().decode(file)
    assert.equal(Buffer.from(parseGroupSecret(text)).toString('hex'), text.split('\n')[2])
    // and ours round-trips
    assert.ok(Buffer.from(parseGroupSecret(groupSecretKeyFile(want))).equals(want))
  })

  it('parseGroupSecret rejects anything else with UsageError', () => {
    const hex = randomBytes(32).toString('hex')
    for (const bad of ['', 'secret', hex.slice(2), hex + 'ab', hex.slice(1) + 'g', `/key/swarm/psk/1.0.0/\n/base64/\n${hex}`,
      `/key/swarm/psk/2.0.0/\n/base16/\n${hex}`, `/key/swarm/psk/1.0.0/\n${hex}`]) {
      assert.throws(() => parseGroupSecret(bad), { code: 'USAGE' }, JSON.stringify(bad))
    }
    assert.throws(() => parseGroupSecret(`/key/swarm/psk/1.0.0/\n/base64/\n${hex}`), /only \/base16\//)
  })

  it('createP2PNode refuses a secret that is not 32 bytes', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'doswarm-pnet-'))
    dirs.push(stateDir)
    for (const groupSecret of [new Uint8Array(31), new Uint8Array(64), 'ab'.repeat(32) as unknown as Uint8Array]) {
      await assert.rejects(createP2PNode({ stateDir, listen: [LOOPBACK], mdns: false, groupSecret }), { code: 'USAGE' })
    }
  })

  it('the limit default is libp2p\'s per-address dial timeout', () => {
    assert.equal(DEFAULT_LIMITS.addressDialTimeout, 6000)
  })
})

describe('group mode connections', () => {
  afterEach(stopAll)

  it('two nodes with the same secret connect and echo over a stream', { timeout: 10_000 }, async () => {
    const secret = parseGroupSecret(generateGroupSecret())
    const a = await node({ groupSecret: secret })
    const b = await node({ groupSecret: new Uint8Array(secret) })
    await echoServer(a)
    const payload = randomBytes(512 * 1024)
    assert.ok((await echo(b, a, payload)).equals(payload), 'echo matches')
    assert.equal(a.getConnections(b.peerId).length, 1)
  })

  it('a node with another secret cannot connect, in either direction', { timeout: 15_000 }, async () => {
    const secret = parseGroupSecret(generateGroupSecret())
    const a = await node({ groupSecret: secret })
    const other = await node({ groupSecret: parseGroupSecret(generateGroupSecret()) })
    await assertCannotConnect(other, a)
    await assertCannotConnect(a, other)
    // the group still works for its members afterwards
    const b = await node({ groupSecret: secret })
    await b.dial(a.getMultiaddrs())
    await waitFor(() => a.getConnections(b.peerId).length === 1, 2000, 'a lists the member connection')
  })

  it('a node without a secret cannot connect to a group node, nor the other way round', { timeout: 15_000 }, async () => {
    const a = await node({ groupSecret: parseGroupSecret(generateGroupSecret()) })
    const open = await node()
    await assertCannotConnect(open, a)
    await assertCannotConnect(a, open)
  })
})
