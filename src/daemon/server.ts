/**
 * The daemon's local control API: HTTP + JSON on a loopback address or a
 * Unix socket. Every route but the Activity Monitor's static files needs
 * `Authorization: Bearer <token>`; the token lives in a file only the
 * daemon's owner can read. Routes (docs/API.md, "Control API"):
 *
 *   GET  /v1/stats                   StatsInfo
 *   GET  /v1/jobs                    { jobs: JobInfo[] }
 *   POST /v1/jobs                    CreateJobRequest → JobInfo (201)
 *   GET  /v1/jobs/:id                JobInfo
 *   POST /v1/jobs/:id/pause|resume|cancel   JobInfo
 *   GET  /v1/cache                   { entries: CacheEntry[] }
 *   GET  /metrics                    Prometheus text format
 *   GET  /, /monitor.js, /monitor.css, /vendor/chart.umd.js   the Activity Monitor page
 */
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { DoswarmError } from '../errors.js'
import type { ApiError, CreateJobRequest } from './api-types.js'
import type { Daemon } from './daemon.js'
import { monitorAssets } from './monitor/assets.js'

/** Largest request body accepted (a base64 manifest fits). @default 12 MiB */
export const MAX_BODY_BYTES = 12 * 1024 * 1024

/** The Activity Monitor runs no inline code and talks only to this server. */
export const MONITOR_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

const STATUS: Record<string, number> = { USAGE: 400, UNAUTHORIZED: 401, NOT_FOUND: 404, KEY_INVALID: 400, TLS_PIN_MISMATCH: 502, MANIFEST_FETCH_FAILED: 502 }

function send (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function fail (res: ServerResponse, err: unknown): void {
  const code = err instanceof DoswarmError ? err.code : 'INTERNAL'
  const status = STATUS[code] ?? (code.startsWith('MANIFEST_') ? 422 : err instanceof DoswarmError ? 400 : 500)
  const body: ApiError = { error: { code, message: (err as Error)?.message ?? String(err) } }
  send(res, status, body)
}

async function readJson (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const c of req) {
    total += (c as Buffer).length
    if (total > MAX_BODY_BYTES) throw new DoswarmError('USAGE', `request body over ${MAX_BODY_BYTES} bytes`)
    chunks.push(c as Buffer)
  }
  try { return JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { throw new DoswarmError('USAGE', 'request body is not JSON') }
}

function authorized (req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? ''
  const given = Buffer.from(h.startsWith('Bearer ') ? h.slice(7).trim() : '')
  const want = Buffer.from(token)
  return given.length === want.length && timingSafeEqual(given, want)
}

export async function startApiServer (daemon: Daemon, opts: { token: string, host: string, port: number, socket: string | null }): Promise<{ server: Server, url: string }> {
  const assets = await monitorAssets()
  const server = createServer((req, res) => {
    void handle(req, res).catch(err => { fail(res, err) })
  })
  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const path = url.pathname
    const asset = req.method === 'GET' ? assets.get(path) : undefined
    if (asset !== undefined) {
      // the page holds no data; it reads the token from the URL fragment and calls the API with it
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-store', 'content-security-policy': MONITOR_CSP, 'x-content-type-options': 'nosniff' })
      res.end(asset.body)
      return
    }
    if (!authorized(req, opts.token)) { send(res, 401, { error: { code: 'UNAUTHORIZED', message: 'missing or wrong token (see the daemon\'s api-token file)' } }); return }
    if (req.method === 'GET' && path === '/metrics') {
      const registry = daemon.metrics
      res.writeHead(200, { 'content-type': registry.contentType })
      res.end(await registry.metrics())
      return
    }
    if (req.method === 'GET' && path === '/v1/stats') { send(res, 200, await daemon.statsInfo()); return }
    if (req.method === 'GET' && path === '/v1/cache') { send(res, 200, { entries: await daemon.node.listCache() }); return }
    if (path === '/v1/jobs') {
      if (req.method === 'GET') { send(res, 200, { jobs: daemon.jobs.list() }); return }
      if (req.method === 'POST') { send(res, 201, await daemon.jobs.create(await readJson(req) as CreateJobRequest)); return }
    }
    const m = /^\/v1\/jobs\/([0-9a-f]{1,32})(?:\/(pause|resume|cancel))?$/.exec(path)
    if (m !== null) {
      const [, id, action] = m
      if (req.method === 'GET' && action === undefined) { send(res, 200, daemon.jobs.info(id)); return }
      if (req.method === 'POST' && action === 'pause') { send(res, 200, daemon.jobs.pause(id)); return }
      if (req.method === 'POST' && action === 'resume') { send(res, 200, daemon.jobs.resume(id)); return }
      if (req.method === 'POST' && action === 'cancel') { send(res, 200, daemon.jobs.cancel(id)); return }
    }
    send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${req.method ?? ''} ${path}` } })
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    if (opts.socket !== null) server.listen(opts.socket, resolve)
    else server.listen(opts.port, opts.host, resolve)
  })
  const addr = server.address()
  const url = opts.socket !== null
    ? `unix:${opts.socket}`
    : `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${typeof addr === 'object' && addr !== null ? addr.port : opts.port}`
  return { server, url }
}
