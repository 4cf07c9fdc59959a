/**
 * The Activity Monitor's static files, for the daemon's HTTP server to serve.
 *
 * index.html, monitor.js and monitor.css are plain files that tsc does not
 * copy, so they are read from the source folder: from
 * `<outDir>/src/daemon/monitor/assets.js` that is `../../../../src/daemon/monitor/`
 * (whatever the outDir is called, as long as it sits in the project root), or
 * else the folder beside this module (when run from src/ or when the files
 * were copied next to the compiled one). chart.js is the installed package's
 * UMD build.
 */
import { readFile, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface MonitorAsset {
  /** Content-Type value */
  type: string
  body: Buffer
}

const PAGE_FILES: ReadonlyArray<readonly [route: string, file: string, type: string]> = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/monitor.js', 'monitor.js', 'text/javascript; charset=utf-8'],
  ['/monitor.css', 'monitor.css', 'text/css; charset=utf-8']
]

export const CHART_ROUTE = '/vendor/chart.umd.js'

async function isFile (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

/** The first candidate folder that holds all of the page's files. */
async function pageFolder (): Promise<string> {
  const candidates = [
    fileURLToPath(new URL('../../../../src/daemon/monitor/', import.meta.url)),
    fileURLToPath(new URL('./', import.meta.url))
  ]
  for (const dir of candidates) {
    const found = await Promise.all(PAGE_FILES.map(async ([, file]) => await isFile(join(dir, file))))
    if (found.every(Boolean)) return dir
  }
  throw new Error(`Activity Monitor files (${PAGE_FILES.map(f => f[1]).join(', ')}) not found in ${candidates.join(' or ')}`)
}

/** Path of chart.js's UMD build (the package does not export dist/chart.umd.js, so go through its main entry). */
function chartPath (): string {
  try {
    const main = createRequire(import.meta.url).resolve('chart.js')
    return join(dirname(main), 'chart.umd.js')
  } catch (err) {
    throw new Error(`chart.js is not installed where ${fileURLToPath(import.meta.url)} can find it: ${(err as Error).message}`)
  }
}

/**
 * Route → file for the Activity Monitor: '/', '/monitor.js', '/monitor.css'
 * and '/vendor/chart.umd.js'. Reads the files on each call (call it once at
 * start-up). The page has no inline script or style, so it works under
 * `Content-Security-Policy: default-src 'self'`.
 */
export async function monitorAssets (): Promise<Map<string, MonitorAsset>> {
  const dir = await pageFolder()
  const assets = new Map<string, MonitorAsset>()
  for (const [route, file, type] of PAGE_FILES) {
    assets.set(route, { type, body: await readFile(join(dir, file)) })
  }
  assets.set(CHART_ROUTE, { type: 'text/javascript; charset=utf-8', body: await readFile(chartPath()) })
  return assets
}
