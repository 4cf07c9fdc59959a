/**
 * The driver's view of the counting origin (origin-host.js): it follows the
 * origin process's stats lines (body bytes written, requests, bytes the
 * relay handed on to the LAN) and reads the origin link's tc counter.
 */
import type { Child } from '../lib/proc.js'
import { qdiscSentBytes } from './netns.js'
import type { OriginCounter } from './scenarios.js'

/** Follows the origin process's stats lines. */
export function originCounter (child: Child, ns?: string): OriginCounter {
  let last = { t: 0, bytesSent: 0, requests: 0, relayedOut: NaN }
  let seen = 0
  const check = (): void => {
    const lines = child.lines
    for (; seen < lines.length; seen++) {
      const l = lines[seen] ?? ''
      if (!l.startsWith('{"t"')) continue
      last = JSON.parse(l) as typeof last
    }
  }
  return {
    bytesSent: () => { check(); return last.bytesSent },
    requests: () => { check(); return last.requests },
    ...(ns !== undefined ? { wireBytes: () => qdiscSentBytes(ns, 'eth0') } : {}),
    relayedBytes: () => { check(); return last.relayedOut ?? NaN },
    settle: async () => {
      check()
      const t = last.t
      for (let i = 0; i < 40 && last.t <= t + 200; i++) { await new Promise(resolve => setTimeout(resolve, 100)); check() }
    }
  }
}

