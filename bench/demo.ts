/**
 * `npm run demo`: a swarm on this machine, nothing sent off it.
 *
 * Starts a counting HTTP origin on 127.0.0.1, generates a file, creates a
 * publisher key and a signed manifest with the real CLI, then starts several
 * `doswarm get` processes at once, each listening on its own loopback port
 * with mDNS off and the first node as static peer. Prints bytes by source per
 * node, how many copies the origin sent, and the savings against every node
 * downloading from HTTP alone.
 *
 *   node dist/bench/demo.js [--nodes 5] [--size-mib 64]
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startOrigin } from '../test/helpers/origin-server.js'
import { runCli } from '../test/helpers/cli.js'

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => { resolve(typeof addr === 'object' && addr !== null ? addr.port : 0) })
    })
    srv.on('error', reject)
  })
}

function mib (n: number): string { return (n / 1048576).toFixed(1) }

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5' }, 'size-mib': { type: 'string', default: '64' }, help: { type: 'boolean' } } })
  if (values.help === true) { process.stdout.write('usage: demo [--nodes N] [--size-mib M]\n'); return }
  const nodes = Number(values.nodes)
  const size = Number(values['size-mib']) * 1048576 + 12345
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 30 || !(size > 0)) throw new Error('--nodes must be 2..30 and --size-mib positive')

  const dir = await mkdtemp(join(tmpdir(), 'doswarm-demo-'))
  const data = randomBytes(size)
  const file = join(dir, 'update.bin')
  await writeFile(file, data)
  const origin = await startOrigin({ data })
  try {
    process.stdout.write(`origin  ${origin.url}  (a ${mib(size)} MiB generated file)\n`)
    const keygen = await runCli(['keygen', '--out', join(dir, 'publisher.key')])
    const publicKey = keygen.stdout.trim().split('\n').pop() ?? ''
    const manifest = join(dir, 'update.dsw')
    const pub = await runCli(['publish', file, '--key', join(dir, 'publisher.key'), '--origin', origin.url, '--out', manifest])
    if (pub.code !== 0) throw new Error(pub.stderr)
    process.stdout.write(`publish content id ${pub.stdout.trim().split('\n').pop() ?? ''}\n`)

    const ports = await Promise.all(Array.from({ length: nodes }, freePort))
    const first = `/ip4/127.0.0.1/tcp/${ports[0]}`
    process.stdout.write(`swarm   ${nodes} nodes on 127.0.0.1, mDNS off, static peer ${first}\n\n`)
    const started = performance.now()
    const runs = await Promise.all(ports.map(async (port, i) => await runCli([
      'get', manifest, '--trust', publicKey, '--out', join(dir, `node-${i}.bin`), '--cache', join(dir, `cache-${i}`),
      '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--no-mdns', '--json',
      ...(i === 0 ? [] : ['--peer', first])
    ])))
    const wall = (performance.now() - started) / 1000
    const want = createHash('sha256').update(data).digest('hex')
    const rows: string[] = []
    let failures = 0
    for (const [i, r] of runs.entries()) {
      const line = r.stdout.trim().split('\n').pop() ?? '{}'
      const res = JSON.parse(line) as Record<string, number | boolean | string>
      const got = res.ok === true ? createHash('sha256').update(await readFile(join(dir, `node-${i}.bin`))).digest('hex') : ''
      const verified = got === want
      if (!verified) failures++
      rows.push(`| ${i} | ${verified ? 'yes' : `NO (${JSON.stringify(res.error ?? r.stderr)})`} | ${mib(Number(res.bytesFromHttp ?? 0))} | ${mib(Number(res.bytesFromPeers ?? 0))} | ${mib(Number(res.bytesToPeers ?? 0))} | ${Number(res.piecesRejected ?? 0)} | ${(Number(res.durationMs ?? 0) / 1000).toFixed(1)} |`)
    }
    process.stdout.write('| node | verified | MiB from HTTP | MiB from peers | MiB to peers | rejected | seconds |\n|---|---|---|---|---|---|---|\n')
    process.stdout.write(rows.join('\n') + '\n\n')
    const copies = origin.bytesSent / size
    process.stdout.write(`origin sent ${mib(origin.bytesSent)} MiB = ${copies.toFixed(2)} copies of the file for ${nodes} machines ` +
      `(HTTP alone: ${nodes} copies); saving ${((1 - copies / nodes) * 100).toFixed(1)}% of origin traffic; all done in ${wall.toFixed(1)} s\n`)
    if (failures > 0) { process.exitCode = 1; process.stdout.write(`${failures} node(s) failed\n`) }
  } finally {
    await origin.close()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
