import { DoswarmError } from '../errors.js'

/** Documented exit codes of the `doswarm` command (README "Exit codes"). */
export const EXIT = {
  OK: 0,
  /** the download or publish failed: no source, origin failure, disk, hash mismatch */
  FAILED: 1,
  /** bad command line or config: missing file, unreadable key, bad URL, bad option, taken port */
  USAGE: 2,
  /** the manifest was rejected: signature, trust, expiry, format */
  MANIFEST: 3,
  /** no daemon answers (`status`) */
  NO_DAEMON: 4,
  /** interrupted by SIGINT/SIGTERM before finishing */
  INTERRUPTED: 130
} as const

export function exitCodeFor (err: unknown): number {
  if (!(err instanceof DoswarmError)) return EXIT.FAILED
  if (err.code === 'USAGE' || err.code === 'KEY_INVALID' || err.code === 'PORT_IN_USE' || err.code === 'CONFIG_INVALID') return EXIT.USAGE
  if (err.code === 'DAEMON_UNAVAILABLE') return EXIT.NO_DAEMON
  if (err.code === 'MANIFEST_FETCH_FAILED') return EXIT.FAILED
  if (err.code.startsWith('MANIFEST_')) return EXIT.MANIFEST
  if (err.code === 'ABORTED') return EXIT.INTERRUPTED
  return EXIT.FAILED
}

/** One line for humans: the message, never a stack. */
export function errorLine (err: unknown): string {
  if (err instanceof DoswarmError) return `doswarm: ${err.message.split('\n')[0]} [${err.code}]`
  return `doswarm: unexpected error: ${(err as Error)?.message ?? String(err)}`
}
