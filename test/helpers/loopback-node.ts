/**
 * Plain libp2p nodes for wire tests: loopback only, mDNS off (the test
 * network rule), a temp state directory each; all stopped and removed after
 * the file's tests.
 */
import '../../src/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { createP2PNode, type P2PNode } from '../../src/node/libp2p.js'

/** A node factory whose nodes are cleaned up by an `after` hook of the calling test file. */
export function loopbackNodes (prefix: string): () => Promise<P2PNode> {
  const dirs: string[] = []
  const nodes: P2PNode[] = []
  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
  })
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    dirs.push(dir)
    const n = await createP2PNode({ stateDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, log: () => {} })
    nodes.push(n)
    return n
  }
}
