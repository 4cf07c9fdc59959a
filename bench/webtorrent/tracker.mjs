// A local HTTP bittorrent-tracker for the LAN benchmark (no UDP, no WebSocket):
//   node tracker.mjs BIND_IP PORT      → prints {"ready":true,"announce":…}
import { Server } from 'bittorrent-tracker'

const [host, port = '8000'] = process.argv.slice(2)
if (host === undefined) { process.stderr.write('usage: node tracker.mjs BIND_IP [PORT]\n'); process.exit(2) }
const server = new Server({ udp: false, http: true, ws: false, stats: false, trustProxy: false })
server.on('error', err => { process.stderr.write(`tracker: ${err.message}\n`) })
server.on('warning', err => { process.stderr.write(`tracker warning: ${err.message}\n`) })
server.listen(Number(port), host, () => {
  process.stdout.write(`${JSON.stringify({ ready: true, announce: `http://${host}:${port}/announce` })}\n`)
})
const stop = () => { server.close(() => process.exit(0)) }
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
