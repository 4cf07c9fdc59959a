import type { DownloadProgress } from '../swarm/download.js'

/** Human-readable bytes (binary units). */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++ }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`
}

/**
 * A one-line progress bar on a terminal: percent, speed and bytes by source,
 * redrawn at most every 100 ms.
 */
export class ProgressBar {
  readonly #out: NodeJS.WriteStream
  readonly #started = performance.now()
  #last = 0
  #drawn = false

  constructor (out: NodeJS.WriteStream) { this.#out = out }

  update (p: DownloadProgress, force = false): void {
    const now = performance.now()
    if (!force && now - this.#last < 100) return
    this.#last = now
    const frac = p.size === 0 ? 1 : p.bytesDone / p.size
    const width = 24
    const filled = Math.round(frac * width)
    const secs = Math.max(0.001, (now - this.#started) / 1000)
    const speed = (p.bytesFromHttp + p.bytesFromPeers) / secs
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(1).padStart(5)}%  ${formatBytes(speed)}/s  http ${formatBytes(p.bytesFromHttp)}  peers ${formatBytes(p.bytesFromPeers)}`
    this.#out.write(`\r${line.padEnd(this.#out.columns ?? 100)}`.slice(0, (this.#out.columns ?? 100) + 1))
    this.#drawn = true
  }

  done (): void { if (this.#drawn) this.#out.write('\n') }
}
