/**
 * A download job: what `node.download()` returns. It is awaitable (it
 * resolves with the final stats or rejects with a typed error), reports
 * progress as events, and can be paused, resumed and cancelled. A paused job
 * keeps its verified pieces in the cache; resuming continues from them.
 */
import { AbortedError, DoswarmError } from '../errors.js'
import type { Manifest } from '../manifest/types.js'
import type { DownloadProgress, DownloadStats } from '../swarm/download.js'

/** Lifecycle of a download job. */
export type JobState = 'queued' | 'downloading' | 'paused' | 'complete' | 'failed' | 'cancelled'

/** Foreground jobs get the foreground bandwidth cap and HTTP delay; background jobs yield to them. */
export type Priority = 'foreground' | 'background'

/** The final result of a job. */
export interface DownloadResult extends DownloadStats {
  out: string
  bytesToPeers: number
  perPeer: Array<{ peerId: string, sent: number, received: number }>
}

/** The `detail` of a job's `progress` event. */
export interface JobProgress extends DownloadProgress {
  state: JobState
  /** connected peers sharing this content */
  peers: number
}

let nextJobId = 1

export class DownloadJob extends EventTarget implements PromiseLike<DownloadResult> {
  /** Process-unique id (`job-1`, …); the daemon adds its own persistent ids. */
  readonly id: string
  readonly out: string
  readonly priority: Priority
  readonly createdAt = Date.now()
  startedAt: number | undefined
  finishedAt: number | undefined
  /** The settled outcome. */
  readonly done: Promise<DownloadResult>
  #manifest: Manifest | undefined
  #state: JobState = 'queued'
  #error: DoswarmError | undefined
  #last: JobProgress | undefined
  readonly #cancel = new AbortController()
  #pauseCtl: AbortController | undefined
  #resumed: PromiseWithResolvers<void> | undefined

  /** @internal created by {@link DoswarmNode.download} */
  constructor (init: { out: string, priority: Priority, run: (job: DownloadJob) => Promise<DownloadResult>, id?: string, signal?: AbortSignal }) {
    super()
    this.id = init.id ?? `job-${nextJobId++}`
    this.out = init.out
    if (init.signal !== undefined) {
      if (init.signal.aborted) this.#cancel.abort(new AbortedError())
      else init.signal.addEventListener('abort', () => { this.cancel() }, { once: true })
    }
    this.priority = init.priority
    this.done = Promise.resolve().then(async () => await init.run(this)).then(result => {
      this.finishedAt = Date.now()
      this.#setState('complete')
      return result
    }, (err: unknown) => {
      this.finishedAt = Date.now()
      this.#error = err instanceof DoswarmError ? err : new DoswarmError('STORE_IO', (err as Error)?.message ?? String(err))
      this.#setState(this.#cancel.signal.aborted ? 'cancelled' : 'failed')
      throw err
    })
    // an unobserved failure is reported through `done`/`then`; do not crash the process
    this.done.catch(() => {})
  }

  get state (): JobState { return this.#state }
  /** The verified manifest, once loaded. */
  get manifest (): Manifest | undefined { return this.#manifest }
  /** @internal */
  setManifest (m: Manifest): void { this.#manifest = m }
  /** The error of a failed or cancelled job. */
  get error (): DoswarmError | undefined { return this.#error }
  /** The latest progress report. */
  get progress (): JobProgress | undefined { return this.#last }

  /** Aborted when the job is cancelled (or its caller's signal aborts). */
  get signal (): AbortSignal { return this.#cancel.signal }

  /** Stop fetching; verified pieces stay. No-op unless downloading or queued. */
  pause (): void {
    if (this.#state !== 'downloading' && this.#state !== 'queued') return
    this.#resumed = Promise.withResolvers<void>()
    this.#setState('paused')
    this.#pauseCtl?.abort(new AbortedError('paused'))
  }

  /** Continue a paused job. */
  resume (): void {
    if (this.#state !== 'paused') return
    this.#setState('downloading')
    this.#resumed?.resolve()
    this.#resumed = undefined
  }

  /** Give up: `done` rejects with ABORTED; nothing is written at `out`. */
  cancel (): void {
    if (this.#state === 'complete' || this.#state === 'failed' || this.#state === 'cancelled') return
    this.#cancel.abort(new AbortedError('cancelled'))
    this.#resumed?.resolve()
  }

  then<T1 = DownloadResult, T2 = never> (onfulfilled?: ((value: DownloadResult) => T1 | PromiseLike<T1>) | null, onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null): Promise<T1 | T2> {
    return this.done.then(onfulfilled, onrejected)
  }

  catch<T = never> (onrejected?: ((reason: unknown) => T | PromiseLike<T>) | null): Promise<DownloadResult | T> {
    return this.done.catch(onrejected)
  }

  finally (onfinally?: (() => void) | null): Promise<DownloadResult> {
    return this.done.finally(onfinally)
  }

  /** @internal the runner: a signal for the current run, aborted by pause() or cancel(). */
  runSignal (): AbortSignal {
    this.#pauseCtl = new AbortController()
    return AbortSignal.any([this.#cancel.signal, this.#pauseCtl.signal])
  }

  /** @internal the runner waits here while paused. */
  async whilePaused (): Promise<void> {
    while (this.#state === 'paused' && !this.#cancel.signal.aborted) await this.#resumed?.promise
    if (this.#cancel.signal.aborted) throw new AbortedError('cancelled')
  }

  /** @internal */
  started (): void {
    this.startedAt ??= Date.now()
    if (this.#state === 'queued') this.#setState('downloading')
  }

  /** @internal */
  report (p: JobProgress): void {
    this.#last = p
    this.dispatchEvent(new CustomEvent('progress', { detail: p }))
  }

  #setState (s: JobState): void {
    if (this.#state === s) return
    this.#state = s
    this.dispatchEvent(new CustomEvent('state', { detail: s }))
  }
}
