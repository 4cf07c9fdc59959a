/**
 * The only I/O of the protocol layer: read frames from a libp2p v3 stream
 * (or any async byte source) and write encoded frames to one, honouring
 * backpressure in both directions. Streams are typed structurally so tests
 * can use plain fakes; a libp2p `Stream` satisfies both interfaces.
 */
import { AbortedError, throwIfAborted } from '../errors.js'
import type { ByteChunks, FrameDecoder } from './decode.js'
import type { Frame } from './message.js'
import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * How long {@link writeFrames} waits for 'drain' when the caller gives no
 * signal (a peer that stops reading must not hold a writer forever).
 *
 * @default 30000
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000

/**
 * Async bytes; `pause`/`resume` (libp2p v3 streams have them) let the reader
 * stop the remote while frames are handled. A source that also has
 * addEventListener/removeEventListener (a libp2p v3 stream) is read through
 * its events, see {@link MessageEventSource}.
 */
export interface FrameSource extends AsyncIterable<Uint8Array | ByteChunks> {
  pause?: () => void
  resume?: () => void
}

/**
 * The readable side of a libp2p v3 stream read through its events. Its own
 * async iterator is not used: it ends at the remote's half-close even while
 * bytes that arrived during a pause are still in the stream's read buffer,
 * so a busy reader lost the tail of what the remote wrote before closing
 * (seen as "stream ended inside a frame" between honest peers). The events
 * do not: 'end' comes only after the last buffered byte was dispatched.
 */
export interface MessageEventSource {
  addEventListener: (type: 'message' | 'end' | 'close', listener: (evt: Event) => void) => void
  removeEventListener: (type: 'message' | 'end' | 'close', listener: (evt: Event) => void) => void
  pause: () => void
  resume: () => void
  /** bytes received but not yet dispatched (held while paused) */
  readonly readBufferLength?: number
  /** libp2p `ReadStatus`: 'readable' | 'paused' | 'closing' | 'closed' */
  readonly readStatus?: string
}

function isEventSource (source: FrameSource): source is FrameSource & MessageEventSource {
  const s = source as Partial<MessageEventSource>
  return typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function' &&
    typeof s.pause === 'function' && typeof s.resume === 'function'
}

/**
 * The chunks of a libp2p v3 stream from its 'message' events, ending at
 * 'end' (every buffered byte dispatched) or at a clean 'close' with nothing
 * left buffered, failing at a 'close' that carries an error (reset, abort).
 * Chunks dispatched before an error are still handed out first. Holds at most
 * what the stream dispatched since the last read: while the reader is paused
 * the stream keeps its bytes itself (bounded by its read-buffer limit).
 */
function eventChunks (stream: MessageEventSource): AsyncIterator<Uint8Array | ByteChunks> {
  const queue: Array<Uint8Array | ByteChunks> = []
  let ended = false
  let failure: { error: unknown } | undefined
  let wake: (() => void) | undefined
  const notify = (): void => { const w = wake; wake = undefined; w?.() }
  const onMessage = (evt: Event): void => {
    const data = (evt as Event & { data?: Uint8Array | ByteChunks }).data
    if (data !== undefined && data.byteLength > 0) queue.push(data)
    notify()
  }
  const onEnd = (): void => { ended = true; notify() }
  const onClose = (evt: Event): void => {
    const error = (evt as Event & { error?: unknown }).error
    if (error !== undefined && error !== null) failure ??= { error }
    else if ((stream.readBufferLength ?? 0) === 0) ended = true
    // else: bytes held during a pause are dispatched on resume, then 'end' follows
    notify()
  }
  const detach = (): void => {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('end', onEnd)
    stream.removeEventListener('close', onClose)
  }
  if ((stream.readStatus === 'closed' || stream.readStatus === 'closing') && (stream.readBufferLength ?? 0) === 0) {
    ended = true
  } else {
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
  }
  return {
    async next (): Promise<IteratorResult<Uint8Array | ByteChunks>> {
      for (;;) {
        const chunk = queue.shift()
        if (chunk !== undefined) return { done: false, value: chunk }
        if (failure !== undefined) { detach(); throw failure.error }
        if (ended) { detach(); return { done: true, value: undefined } }
        await new Promise<void>(resolve => { wake = resolve })
      }
    },
    async return (): Promise<IteratorResult<Uint8Array | ByteChunks>> {
      detach()
      ended = true
      queue.length = 0
      notify()
      return { done: true, value: undefined }
    }
  }
}

/** The writable side of a libp2p v3 stream, as far as {@link writeFrames} needs it. */
export interface FrameSink {
  /** Queue bytes; `false` means the buffer is full and 'drain' will follow. */
  send: (data: Uint8Array | Uint8ArrayList) => boolean
  /** True while the stream waits for 'drain'. */
  readonly writableNeedsDrain?: boolean
  /** 'open' while usable (libp2p `MessageStreamStatus`). */
  readonly status?: string
  addEventListener: (type: 'drain' | 'close', listener: (evt: Event) => void) => void
  removeEventListener: (type: 'drain' | 'close', listener: (evt: Event) => void) => void
}

/** The stream closed or was reset while a write waited for it to drain. */
export class StreamClosedError extends Error {
  constructor (message = 'stream closed', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StreamClosedError'
  }
}

/** libp2p rejects some reads with a StreamCloseEvent rather than an Error; unwrap it. */
function toError (err: unknown): unknown {
  if (err instanceof Error) return err
  const inner = (err as { error?: unknown } | null)?.error
  if (inner instanceof Error) return inner
  return new StreamClosedError(`stream failed: ${String(err)}`, { cause: err })
}

function noop (): void {}

function tryCall (fn: (() => void) | undefined, target: FrameSource): void {
  // pause()/resume() throw once the stream is closing; the reader ends then anyway
  try { fn?.call(target) } catch {}
}

/**
 * Yield the frames of `source` in order. Thin: it buffers nothing beyond the
 * decoder, and pauses the source while the consumer handles frames so a slow
 * consumer stops the remote (through the muxer window) instead of queueing.
 * At a clean end it calls `decoder.end()`, so a stream cut inside a frame
 * throws StreamTruncatedError (a disconnect, not a violation). On abort it throws {@link AbortedError}; the
 * caller should then abort the stream itself.
 */
export async function * readFrames (source: FrameSource, decoder: FrameDecoder, signal?: AbortSignal): AsyncGenerator<Frame, void, undefined> {
  throwIfAborted(signal)
  const it = isEventSource(source) ? eventChunks(source) : source[Symbol.asyncIterator]()
  let nextPending = false
  let finished = false
  try {
    while (true) {
      let result: IteratorResult<Uint8Array | ByteChunks>
      try {
        nextPending = true
        result = await nextOrAbort(it, signal)
        nextPending = false
      } catch (err) {
        throw toError(err)
      }
      if (result.done === true) {
        finished = true
        break
      }
      const frames = decoder.push(result.value)
      if (frames.length === 0) continue
      tryCall(source.pause, source)
      try {
        for (const frame of frames) {
          yield frame
          throwIfAborted(signal)
        }
      } finally {
        tryCall(source.resume, source)
      }
    }
    decoder.end()
  } finally {
    if (!finished) {
      // a generator's return() waits behind a pending next(); do not hang on it
      const ret = it.return?.()
      if (nextPending) ret?.catch(noop)
      else await ret?.catch(noop)
    }
  }
}

/**
 * `it.next()`, or AbortedError as soon as `signal` fires. The listener lives
 * for one call only (a long-lived promise raced on every chunk would collect
 * a reaction per chunk for the life of the stream).
 */
async function nextOrAbort<T> (it: AsyncIterator<T>, signal: AbortSignal | undefined): Promise<IteratorResult<T>> {
  if (signal === undefined) return await it.next()
  throwIfAborted(signal)
  return await new Promise<IteratorResult<T>>((resolve, reject) => {
    const onAbort = (): void => { reject(new AbortedError()) }
    signal.addEventListener('abort', onAbort, { once: true })
    it.next().then(
      result => { signal.removeEventListener('abort', onAbort); resolve(result) },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err) }
    )
  })
}

function waitForDrain (stream: FrameSink, signal: AbortSignal | undefined): Promise<void> {
  if (stream.status !== undefined && stream.status !== 'open') {
    return Promise.reject(new StreamClosedError(`stream is ${stream.status}`))
  }
  const timeout = signal === undefined
  const deadline = signal ?? AbortSignal.timeout(DEFAULT_DRAIN_TIMEOUT_MS)
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      deadline.removeEventListener('abort', onAbort)
    }
    const onDrain = (): void => { cleanup(); resolve() }
    const onClose = (evt: Event): void => {
      cleanup()
      reject(new StreamClosedError('stream closed while waiting to write', { cause: (evt as { error?: unknown }).error }))
    }
    const onAbort = (): void => {
      cleanup()
      reject(new AbortedError(timeout ? `stream did not drain within ${DEFAULT_DRAIN_TIMEOUT_MS} ms` : 'aborted'))
    }
    if (deadline.aborted) { onAbort(); return }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    deadline.addEventListener('abort', onAbort)
  })
}

/**
 * Send the chunks of one or more whole frames (the output of `encodeFrame`)
 * and resolve when the stream can take more. All chunks are handed to the
 * stream together, with no wait in between, so concurrent writers never
 * interleave inside a frame. Waits for the 'drain' event first if the stream
 * is already full, and afterwards if this write filled it, so each writer
 * overshoots the stream's buffer by at most one frame. (It listens for the
 * event because libp2p 3.x's `onDrain()` resolves at once after a first
 * drain.) Without `signal`, a wait gives up after
 * {@link DEFAULT_DRAIN_TIMEOUT_MS} with {@link AbortedError}. A stream that
 * closes meanwhile rejects with {@link StreamClosedError}; errors thrown by
 * `send()` (a stream closed for writing) propagate.
 */
export async function writeFrames (stream: FrameSink, chunks: ReadonlyArray<Uint8Array | Uint8ArrayList>, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal)
  while (stream.writableNeedsDrain === true) await waitForDrain(stream, signal)
  throwIfAborted(signal)
  let writable = true
  for (const chunk of chunks) if (!stream.send(chunk)) writable = false
  if (!writable) await waitForDrain(stream, signal)
}
