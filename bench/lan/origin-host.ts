/**
 * The origin of the emulated LAN, run inside the origin namespace by the
 * LAN benchmark: the counting test origin (test/helpers/origin-server.ts) on
 * 127.0.0.1, relayed from `--bind IP:PORT`. Prints one JSON line
 * `{"ready":true,"url":…}` when listening, then every `--every-ms` a line
 * `{"t":ms,"bytesSent":n,"requests":n,"relayedIn":n,"relayedOut":n}` (body
 * bytes the origin has sent; bytes the relay read from it and handed on to
 * the LAN, headers included) so the driver in the root namespace can count per run.
 *
 *   ip netns exec <prefix>origin node dist/bench/lan/origin-host.js --file F --bind 10.77.0.1 --port 8080
 */
import { cliArgs } from '../lib/args.js'
import { startOrigin } from '../../test/helpers/origin-server.js'
import { relay } from './forward.js'

const args = cliArgs('Usage: node dist/bench/lan/origin-host.js --file FILE --bind IP [--port 8080]', {
  file: { type: 'string', help: 'file to serve (any path)' },
  bind: { type: 'string', help: 'LAN address to listen on' },
  port: { type: 'string', default: '8080', help: 'LAN port' },
  'every-ms': { type: 'string', default: '250', help: 'stats line interval' }
})

const origin = await startOrigin({ data: args.str('file') })
const server = await relay(args.str('bind'), args.num('port'), '127.0.0.1', origin.port)
const t0 = performance.now()
const line = (): void => {
  const c = server.counters
  process.stdout.write(`${JSON.stringify({ t: Math.round(performance.now() - t0), bytesSent: origin.bytesSent, requests: origin.requests, relayedIn: c.fromTarget, relayedOut: c.toClients() })}\n`)
}
process.stdout.write(`${JSON.stringify({ ready: true, url: `http://${args.str('bind')}:${args.num('port')}/content` })}\n`)
const timer = setInterval(line, args.num('every-ms'))
const stop = (): void => {
  clearInterval(timer)
  line()
  server.close()
  void origin.close().then(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
