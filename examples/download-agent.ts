/**
 * A small download agent that embeds doswarm: it downloads one file
 * described by a signed manifest, shows progress, lets Ctrl-C pause and a
 * second Ctrl-C cancel, and prints where the bytes came from.
 *
 *   node dist/examples/download-agent.js MANIFEST OUT PUBKEY [--peer MULTIADDR]
 *
 * Compiled with the project (`npm run build`), so it cannot drift from the API.
 */
import { createNode, DoswarmError, type JobProgress } from 'doswarm'

async function main (argv: string[]): Promise<number> {
  const [manifestPath, out, publisher, flag, peer] = argv
  if (manifestPath === undefined || out === undefined || publisher === undefined) {
    process.stderr.write('usage: download-agent MANIFEST OUT PUBKEY [--peer MULTIADDR]\n')
    return 2
  }
  const node = createNode({
    trustedKeys: [publisher],
    // a real agent keeps mDNS on; this example only dials the peer it is given
    mdns: false,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    ...(flag === '--peer' && peer !== undefined ? { peers: [peer] } : {})
  })
  const job = node.download(manifestPath, { out, priority: 'foreground' })
  job.addEventListener('progress', evt => {
    const p = (evt as CustomEvent<JobProgress>).detail
    process.stderr.write(`\r${p.have}/${p.pieces} pieces, ${p.bytesFromPeers} B from peers, ${p.bytesFromHttp} B from HTTP   `)
  })
  let interrupts = 0
  process.on('SIGINT', () => {
    interrupts++
    if (interrupts === 1 && job.state === 'downloading') {
      job.pause()
      process.stderr.write('\npaused; Ctrl-C again to cancel, or wait 3 s to resume\n')
      setTimeout(() => { if (job.state === 'paused') job.resume() }, 3000)
    } else {
      job.cancel()
    }
  })
  try {
    const result = await job
    process.stdout.write(`\n${result.out}: ${result.size} bytes verified; ${result.bytesFromPeers} from peers, ${result.bytesFromHttp} from HTTP\n`)
    return 0
  } catch (err) {
    process.stderr.write(`\n${err instanceof DoswarmError ? `${err.code}: ${err.message}` : String(err)}\n`)
    return 1
  } finally {
    await node.stop()
  }
}

process.exitCode = await main(process.argv.slice(2))
