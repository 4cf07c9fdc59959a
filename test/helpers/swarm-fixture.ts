/**
 * A swarm on loopback for tests: a generated file, a publisher key, a signed
 * manifest whose origin is a counting HTTP server on 127.0.0.1, and doswarm
 * nodes that listen on 127.0.0.1 with mDNS off.
 */
import '../../src/polyfill.js'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createManifest, generateKey, privateKeyFromPem, type Manifest } from '../../src/manifest/index.js'
import { createNode, type DoswarmNode, type NodeInit } from '../../src/node/node.js'
import { startOrigin } from './origin-server.js'

export interface SwarmFixture {
  dir: string
  data: Uint8Array
  file: string
  manifest: Manifest
  publicKey: string
  /** the publisher's private key, to sign more manifests */
  privateKeyPem: string
  origin: Awaited<ReturnType<typeof startOrigin>>
  nodes: DoswarmNode[]
  /** Start a node listening on 127.0.0.1, port 0, mDNS off. */
  node: (init?: NodeInit) => Promise<DoswarmNode>
  /** First listen address of a node, with /p2p/ id. */
  addr: (n: DoswarmNode) => string
  same: (path: string) => Promise<boolean>
  close: () => Promise<void>
}

export async function swarmFixture (opts: { size: number, pieceSize?: number, behaviour?: Parameters<typeof startOrigin>[0]['behaviour'] }): Promise<SwarmFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-swarm-'))
  const data = randomBytes(opts.size)
  const file = join(dir, 'content.bin')
  await writeFile(file, data)
  const origin = await startOrigin({ data, ...(opts.behaviour !== undefined ? { behaviour: opts.behaviour } : {}) })
  const key = generateKey()
  const manifest = await createManifest({ file, origins: [origin.url], privateKey: privateKeyFromPem(key.privateKeyPem), pieceSize: opts.pieceSize ?? 64 * 1024 })
  const nodes: DoswarmNode[] = []
  let n = 0
  const fx: SwarmFixture = {
    dir,
    data,
    file,
    manifest,
    publicKey: key.publicKey,
    privateKeyPem: key.privateKeyPem,
    origin,
    nodes,
    node: async (init = {}) => {
      const node = createNode({ cacheDir: join(dir, `cache-${n++}`), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, ...init })
      nodes.push(node)
      await node.start()
      return node
    },
    addr: node => node.multiaddrs.find(a => a.includes('/ip4/127.0.0.1/')) ?? node.multiaddrs[0],
    same: async path => Buffer.compare(await readFile(path), data) === 0,
    close: async () => {
      await Promise.allSettled(nodes.map(async x => { await x.stop() }))
      await origin.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
  return fx
}

/** Poll `cond` every 20 ms; fail the test after `ms` with `what` in the message. */
export async function waitFor (cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
