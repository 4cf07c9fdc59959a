/**
 * Waiting on a store promise under an AbortSignal. Aborting stops the wait,
 * not the work: a piece already handed to the disk still commits.
 */
import { AbortedError, throwIfAborted } from '../errors.js'

/** Resolve or reject with `promise`, or reject with {@link AbortedError} when `signal` fires first. */
export async function waitFor<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return await promise
  throwIfAborted(signal)
  let onAbort: (() => void) | undefined
  try {
    return await new Promise<T>((resolve, reject) => {
      onAbort = () => { reject(new AbortedError()) }
      signal.addEventListener('abort', onAbort, { once: true })
      promise.then(resolve, reject)
    })
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}
