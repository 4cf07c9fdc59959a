/**
 * What `doswarm get --http-only` loads. Every module is resident memory for
 * the whole download (docs/benchmarks.md, RSS): the HTTP-only path must not
 * load the peer stack (libp2p), the daemon and its metrics library
 * (prom-client), or undici (its WebAssembly HTTP parser alone cost ~35 MB
 * of compiler memory at peak). A real download from a real origin on
 * 127.0.0.1, with a loader hook logging every resolved module.
 */
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startOrigin } from '../helpers/origin-server.js'
import { CLI, runCli } from '../helpers/cli.js'

const LOAD_LOG = fileURLToPath(new URL('../helpers/load-log.js', import.meta.url))

/** Run the CLI with the load log on; returns exit code, stdout and the resolved module URLs. */
async function runLogged (args: string[], log: string): Promise<{ code: number | null, stdout: string, stderr: string, loaded: string[] }> {
  const r = await new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', LOAD_LOG, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DOSWARM_LOAD_LOG: log } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
    child.on('error', reject)
    child.on('close', code => { resolve({ code, stdout, stderr }) })
  })
  const loaded = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(l => l !== '')
  return { ...r, loaded }
}

const FORBIDDEN = [
  /\/node_modules\/(libp2p|@libp2p|@chainsafe)\//,
  /\/node_modules\/prom-client\//,
  /\/node_modules\/undici\//,
  /\/src\/daemon\//,
  /\/src\/node\/libp2p\.js$/,
  /\/src\/swarm\/swarm\.js$/
]

test('get --http-only downloads without loading libp2p, the daemon, prom-client or undici', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-imports-'))
  const data = randomBytes(300_000)
  await writeFile(join(dir, 'file.bin'), data)
  const origin = await startOrigin({ data })
  try {
    const key = join(dir, 'key.pem')
    const kg = await runCli(['keygen', '--out', key])
    assert.equal(kg.code, 0, kg.stderr)
    const pub = kg.stdout.trim().split('\n').pop() ?? ''
    const manifest = join(dir, 'file.dsw')
    const p = await runCli(['publish', join(dir, 'file.bin'), '--key', key, '--origin', origin.url, '--piece-size', '65536', '--out', manifest])
    assert.equal(p.code, 0, p.stderr)
    const out = join(dir, 'got.bin')
    const r = await runLogged(['get', manifest, '--trust', pub, '--out', out, '--cache', join(dir, 'cache'), '--http-only', '--json'], join(dir, 'load.log'))
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout.trim()).ok, true)
    assert.deepEqual(await readFile(out), data)
    // the log works: the modules the download needs are in it
    assert.ok(r.loaded.some(u => u.endsWith('/src/origin/http-source.js')), 'load log records the origin source')
    assert.ok(r.loaded.some(u => u.endsWith('/src/store/piece-store.js')), 'load log records the store')
    for (const re of FORBIDDEN) {
      const hit = r.loaded.filter(u => re.test(u))
      assert.deepEqual(hit, [], `get --http-only loaded ${String(re)}`)
    }
  } finally {
    await origin.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test('--help loads no command module', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-imports-'))
  try {
    const r = await runLogged(['--help'], join(dir, 'load.log'))
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /doswarm get MANIFEST/)
    assert.ok(r.loaded.some(u => u.endsWith('/src/cli/exit-codes.js')), 'load log records the CLI')
    const heavy = r.loaded.filter(u => /\/src\/(cli\/commands|cli\/daemon-commands|node|store|origin|daemon)\b/.test(u) || u.includes('/node_modules/'))
    assert.deepEqual(heavy, [])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
