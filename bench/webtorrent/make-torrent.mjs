// Write a .torrent for FILE with the origin as web seed and one tracker:
//   node make-torrent.mjs FILE OUT.torrent WEBSEED_URL TRACKER_URL PIECE_BYTES
import { writeFile } from 'node:fs/promises'
import createTorrent from 'create-torrent'

const [file, out, webSeed, tracker, pieceLength] = process.argv.slice(2)
if (file === undefined || out === undefined || webSeed === undefined || tracker === undefined) {
  process.stderr.write('usage: node make-torrent.mjs FILE OUT.torrent WEBSEED_URL TRACKER_URL [PIECE_BYTES]\n')
  process.exit(2)
}
createTorrent(file, {
  name: 'content.bin',
  urlList: [webSeed],
  announceList: [[tracker]],
  pieceLength: pieceLength !== undefined ? Number(pieceLength) : undefined,
  private: true,
  createdBy: 'doswarm bench/lan'
}, (err, torrent) => {
  if (err) { process.stderr.write(`${err.stack ?? err}\n`); process.exit(1) }
  writeFile(out, torrent).then(() => process.stdout.write(`${out}\n`), e => { process.stderr.write(`${e}\n`); process.exit(1) })
})
