// One WebTorrent host of the LAN benchmark: downloads TORRENT into OUT_DIR
// (TCP peers from the local tracker + the torrent's web seed; no DHT, no LSD,
// no uTP, no NAT traversal), prints one JSON line when done, then keeps
// seeding until SIGINT/SIGTERM (exit 0).
//   node wt-node.mjs TORRENT OUT_DIR [PORT]
import { readFile } from 'node:fs/promises'
import WebTorrent from 'webtorrent'

const [torrentPath, outDir, port = '6881'] = process.argv.slice(2)
if (torrentPath === undefined || outDir === undefined) { process.stderr.write('usage: node wt-node.mjs TORRENT OUT_DIR [PORT]\n'); process.exit(2) }
const t0 = performance.now()
const client = new WebTorrent({ dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: true, torrentPort: Number(port) })
client.on('error', err => { process.stdout.write(`${JSON.stringify({ ok: false, error: String(err?.message ?? err) })}\n`); process.exit(1) })
const torrent = client.add(await readFile(torrentPath), { path: outDir })
torrent.on('error', err => { process.stdout.write(`${JSON.stringify({ ok: false, error: String(err?.message ?? err) })}\n`); process.exit(1) })
torrent.on('done', () => {
  let fromWebSeed = 0
  for (const w of torrent.wires) if (w.type === 'webSeed') fromWebSeed += w.downloaded
  process.stdout.write(`${JSON.stringify({ ok: true, durationMs: Math.round(performance.now() - t0), downloaded: torrent.downloaded, uploaded: torrent.uploaded, fromWebSeedOpenWires: fromWebSeed, file: torrent.files[0]?.path })}\n`)
})
const stop = () => { client.destroy(() => process.exit(0)) }
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
