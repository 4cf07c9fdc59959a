/**
 * A client for the daemon's control API, used by `doswarm get` (when a
 * daemon runs) and `doswarm status`; other languages speak the same HTTP +
 * JSON (docs/API.md).
 */
import { readFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { DaemonUnavailableError, DoswarmError, type ErrorCode } from '../errors.js'
import type { CreateJobRequest, JobInfo, StatsInfo } from './api-types.js'
import { DAEMON_FILE, TOKEN_FILE, type DaemonFile } from './daemon.js'

/** Deadline of one API call. @default 10000 */
export const API_TIMEOUT_MS = 10_000

export class DaemonClient {
  readonly url: string
  readonly #token: string

  constructor (init: { url: string, token: string }) {
    this.url = init.url
    this.#token = init.token
  }

  async call<T> (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body)
    const target = this.url.startsWith('unix:') ? { socketPath: this.url.slice(5), path } : { ...urlParts(this.url), path }
    const timeout = AbortSignal.timeout(API_TIMEOUT_MS)
    return await new Promise<T>((resolve, reject) => {
      const req = request({
        ...target,
        method,
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
        headers: { authorization: `Bearer ${this.#token}`, ...(text !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}) }
      }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => { chunks.push(c) })
        res.on('end', () => {
          let parsed: unknown
          try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { parsed = undefined }
          if ((res.statusCode ?? 500) >= 400) {
            const e = (parsed as { error?: { code?: string, message?: string } } | undefined)?.error
            reject(new DoswarmError((e?.code ?? 'DAEMON_UNAVAILABLE') as ErrorCode, e?.message ?? `daemon answered HTTP ${res.statusCode ?? '?'}`))
            return
          }
          resolve(parsed as T)
        })
        res.on('error', reject)
      })
      req.on('error', err => { reject(new DaemonUnavailableError(`daemon at ${this.url}: ${err.message}`, { cause: err })) })
      req.end(text)
    })
  }

  async stats (): Promise<StatsInfo> { return await this.call('GET', '/v1/stats') }
  async jobs (): Promise<JobInfo[]> { return (await this.call<{ jobs: JobInfo[] }>('GET', '/v1/jobs')).jobs }
  async job (id: string): Promise<JobInfo> { return await this.call('GET', `/v1/jobs/${id}`) }
  async createJob (req: CreateJobRequest): Promise<JobInfo> { return await this.call('POST', '/v1/jobs', req) }
  async act (id: string, action: 'pause' | 'resume' | 'cancel'): Promise<JobInfo> { return await this.call('POST', `/v1/jobs/${id}/${action}`) }
}

function urlParts (url: string): { host: string, port: number } {
  const u = new URL(url)
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) }
}

/**
 * The daemon running with this state directory, if any: its `daemon.json`
 * names a live process and the API answers with our token.
 */
export async function findDaemon (stateDir: string): Promise<DaemonClient | undefined> {
  let info: DaemonFile
  let token: string
  try {
    info = JSON.parse(await readFile(join(stateDir, DAEMON_FILE), 'utf8')) as DaemonFile
    token = (await readFile(join(stateDir, TOKEN_FILE), 'utf8')).trim()
  } catch {
    return undefined
  }
  try { process.kill(info.pid, 0) } catch (err) {
    // EPERM: the process exists but belongs to someone else (a system daemon) — still worth asking
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined
  }
  const client = new DaemonClient({ url: info.url, token })
  try {
    await client.call('GET', '/v1/stats', undefined, AbortSignal.timeout(2000))
    return client
  } catch {
    return undefined
  }
}
