/**
 * A malicious peer for the LAN benchmark's "corrupt" scenario, run inside its
 * own host namespace: the test suite's evil peer (test/helpers/evil-peer.ts,
 * built from the library) with behaviour `corrupt-all` — it claims every
 * piece and answers each REQUEST with junk — relayed from `--bind IP:7680`.
 * Prints `{"ready":true,"addr":"/ip4/IP/tcp/7680/p2p/<id>"}`, then every
 * `--every-ms` its counters; honest nodes are given that address as --peer.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliArgs } from '../lib/args.js'
import { verifyManifest } from '../../src/manifest/index.js'
import { startEvilPeer } from '../../test/helpers/evil-peer.js'
import { relay } from './forward.js'

const args = cliArgs('Usage: node dist/bench/lan/evil-host.js --manifest FILE --bind IP [--port 7680]', {
  manifest: { type: 'string', help: 'the signed manifest of the content' },
  trust: { type: 'string', help: 'publisher public key (ed25519:…)' },
  bind: { type: 'string', help: 'LAN address to listen on' },
  port: { type: 'string', default: '7680', help: 'LAN port' },
  'every-ms': { type: 'string', default: '1000', help: 'stats line interval' }
})

const dir = await mkdtemp(join(tmpdir(), 'doswarm-lan-evil-'))
const manifest = verifyManifest(await readFile(args.str('manifest')), { trustedKeys: [args.str('trust')] })
const evil = await startEvilPeer({ dir, manifest, behaviour: { kind: 'corrupt-all' } })
const port = Number(/\/tcp\/(\d+)/.exec(evil.addr)?.[1])
const server = await relay(args.str('bind'), args.num('port'), '127.0.0.1', port)
const stats = (): string => JSON.stringify({ sessions: evil.stats.sessions, connections: evil.stats.connections, requests: evil.stats.requests.length, badPieces: evil.stats.badPieces })
process.stdout.write(`${JSON.stringify({ ready: true, addr: `/ip4/${args.str('bind')}/tcp/${args.num('port')}/p2p/${evil.peerId}` })}\n`)
const timer = setInterval(() => { process.stdout.write(`${stats()}\n`) }, args.num('every-ms'))
const stop = (): void => {
  clearInterval(timer)
  process.stdout.write(`${stats()}\n`)
  server.close()
  void evil.stop().finally(() => { void rm(dir, { recursive: true, force: true }).then(() => process.exit(0)) })
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
