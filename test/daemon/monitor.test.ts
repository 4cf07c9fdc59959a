/**
 * The Activity Monitor page, in real headless Chromium against a stand-in
 * control API (this file's own little HTTP server: the page's assets from
 * monitorAssets() plus typed fake JSON for /v1/stats and /v1/jobs).
 *
 * Needs Debian's Chromium at /usr/bin/chromium (or $DOSWARM_CHROMIUM): the
 * tests fail, on purpose, when it is missing.
 *
 * DOSWARM_SCREENSHOT=docs/activity-monitor.png also writes a screenshot of a
 * realistic state (path relative to the working directory).
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { ApiError, JobInfo, StatsInfo } from '../../src/daemon/api-types.js'
import { emptyCutStats } from '../../src/origin/cut.js'
import { monitorAssets, type MonitorAsset } from '../../src/daemon/monitor/assets.js'

const CHROMIUM = process.env.DOSWARM_CHROMIUM ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]
const TOKEN = 'tok_4f9a1c2e7b3d48a6'
/** What the stand-in server sends with the page: the page must work under it. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
const MiB = 1024 * 1024
const GiB = 1024 * MiB

// ---- fixtures: a plausible month -----------------------------------------

/** Deterministic pseudo-random numbers in [0, 1). */
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function peerIdFrom (r: () => number): string {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let id = '12D3KooW'
  for (let i = 0; i < 44; i++) id += alphabet[Math.floor(r() * alphabet.length)]
  return id
}

/** Spread `total` bytes (whole MiB) over `n` days, weekday-heavy; the sum is exact. */
function spread (total: number, n: number, r: () => number): number[] {
  const weights = Array.from({ length: n }, (_, i) => (i % 7 === 5 || i % 7 === 6 ? 0.25 : 1) * (0.4 + r()))
  const sum = weights.reduce((a, b) => a + b, 0)
  const out = weights.map(w => Math.floor((total / MiB) * w / sum) * MiB)
  out[n - 1] = (out[n - 1] ?? 0) + total - out.reduce((a, b) => a + b, 0)
  return out
}

const MONTH = {
  fromHttp: 1.75 * GiB, // shown as "1.75 GiB"
  fromPeers: 12.5 * GiB, // "12.5 GiB"
  toPeers: 640 * MiB // "640 MiB"
}

function makeStats (): StatsInfo {
  const r = rng(7680)
  const daysSoFar = 18
  const http = spread(MONTH.fromHttp, daysSoFar, r)
  const peers = spread(MONTH.fromPeers, daysSoFar, r)
  const up = spread(MONTH.toPeers, daysSoFar, r)
  const days = http.map((h, i) => ({
    day: `2026-11-${String(i + 1).padStart(2, '0')}`,
    bytesFromHttp: h,
    bytesFromPeers: peers[i] ?? 0,
    bytesToPeers: up[i] ?? 0
  }))
  const peerList = Array.from({ length: 7 }, (_, i) => ({
    peerId: peerIdFrom(r),
    received: Math.round((3.2 * GiB) / (i + 1) * (0.8 + 0.4 * r())),
    sent: Math.round((220 * MiB) / (i + 1.5) * (0.5 + r()))
  }))
  const pct = (h: number, p: number): number => (h + p > 0 ? (100 * p) / (h + p) : 0)
  return {
    peerId: '12D3KooWJrGbUbBSkT7nF2P8pCqzuCXZxW9mZ3fVvCkq2xJm5Hdq',
    mode: 'lan',
    listen: ['/ip4/192.168.1.20/tcp/7680'],
    connections: 6,
    connectedPeers: 6,
    uptimeMs: ((3 * 60 + 25) * 60 + 12) * 1000,
    total: {
      bytesFromHttp: 9.4 * GiB,
      bytesFromPeers: 61.3 * GiB,
      bytesToPeers: 7.9 * GiB,
      downloads: 143,
      piecesRejected: 3,
      peersBanned: 1,
      percentPeerCaching: pct(9.4, 61.3)
    },
    month: {
      id: '2026-11',
      bytesFromHttp: MONTH.fromHttp,
      bytesFromPeers: MONTH.fromPeers,
      bytesToPeers: MONTH.toPeers,
      downloads: 21,
      piecesRejected: 2,
      peersBanned: 1,
      percentPeerCaching: pct(MONTH.fromHttp, MONTH.fromPeers)
    },
    days,
    peers: peerList,
    cache: { bytes: Math.round(9.2 * GiB), entries: 14, maxBytes: 20 * GiB }
  }
}

function job (over: Partial<JobInfo> & Pick<JobInfo, 'id' | 'name' | 'size' | 'bytesDone' | 'state'>): JobInfo {
  const fromPeers = over.bytesFromPeers ?? Math.round(over.bytesDone * 0.8)
  return {
    contentId: `bafy${over.id.replace(/[^a-z0-9]/g, '')}q3x7`,
    out: `/var/cache/apps/${over.name}`,
    priority: 'foreground',
    pieces: Math.ceil(over.size / MiB),
    have: Math.floor(over.bytesDone / MiB),
    bytesFromHttp: over.bytesDone - fromPeers,
    bytesFromPeers: fromPeers,
    bytesToPeers: 0,
    piecesRejected: 0,
    peersBanned: 0,
    peers: 4,
    perPeer: [],
    httpCut: emptyCutStats(),
    httpBytesDuplicate: 0,
    createdAt: Date.UTC(2026, 10, 18, 9, 0, 0),
    ...over
  }
}

/** The job whose progress the tests move. */
const FW = 'job-fw'

function makeJobs (): JobInfo[] {
  const t = Date.UTC(2026, 10, 18, 9, 0, 0)
  return [
    job({ id: 'job-iso', name: 'ubuntu-24.04.1-desktop-amd64.iso', size: 5.7 * GiB, bytesDone: Math.round(5.7 * GiB * 0.62), bytesFromPeers: Math.round(5.7 * GiB * 0.55), state: 'downloading', peers: 5, bytesToPeers: 310 * MiB, createdAt: t + 60_000, startedAt: t + 61_000 }),
    job({ id: FW, name: 'firmware-bundle-2026.11.tar.zst', size: 800 * MiB, bytesDone: 200 * MiB, bytesFromPeers: 150 * MiB, state: 'downloading', priority: 'background', peers: 3, createdAt: t + 30_000 }),
    job({ id: 'job-drv', name: 'driver-pack-570.86.run', size: 380 * MiB, bytesDone: 0, bytesFromPeers: 0, state: 'queued', priority: 'background', peers: 0, createdAt: t + 90_000 }),
    job({ id: 'job-office', name: 'office-suite-24.2.msi', size: 412 * MiB, bytesDone: 412 * MiB, bytesFromPeers: 396 * MiB, state: 'complete', peers: 2, bytesToPeers: 95 * MiB, createdAt: t - 3_600_000, finishedAt: t - 3_540_000, durationMs: 60_000 }),
    job({ id: 'job-sdk', name: 'sdk-tools-35.0.zip', size: 96 * MiB, bytesDone: 41 * MiB, bytesFromPeers: 0, state: 'failed', priority: 'background', peers: 0, createdAt: t - 7_200_000, error: { code: 'ORIGIN_UNAVAILABLE', message: 'origin answered 503 five times' } })
  ]
}

// ---- the stand-in control API ---------------------------------------------

interface Fake {
  base: string
  stats: StatsInfo
  jobs: JobInfo[]
  /** every request's URL, as the server saw it */
  urls: string[]
  /** /v1 requests by the Authorization header they carried */
  apiAuth: Array<string | undefined>
  /** when set, authorized /v1 requests get this status (a daemon in trouble) */
  failWith?: number
  close: () => Promise<void>
}

async function startFake (assets: Map<string, MonitorAsset>): Promise<Fake> {
  const fake: Omit<Fake, 'base' | 'close'> = { stats: makeStats(), jobs: makeJobs(), urls: [], apiAuth: [] }
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    fake.urls.push(req.url ?? '')
    const asset = assets.get(url.pathname)
    if (req.method === 'GET' && asset !== undefined) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-store', 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' })
      res.end(asset.body)
      return
    }
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify(body))
    }
    if (url.pathname.startsWith('/v1/')) {
      fake.apiAuth.push(req.headers.authorization)
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        const body: ApiError = { error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } }
        send(401, body)
        return
      }
      if (fake.failWith !== undefined) {
        const body: ApiError = { error: { code: 'INTERNAL', message: 'state directory unreadable' } }
        send(fake.failWith, body)
        return
      }
      if (req.method === 'GET' && url.pathname === '/v1/stats') { send(200, fake.stats); return }
      if (req.method === 'GET' && url.pathname === '/v1/jobs') { send(200, { jobs: fake.jobs }); return }
    }
    const body: ApiError = { error: { code: 'NOT_FOUND', message: 'no such route' } }
    send(404, body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return Object.assign(fake, {
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  })
}

// ---- page helpers ---------------------------------------------------------

interface ChartInfo {
  type: string
  id: number
  labels: string[]
  data: number[][]
  painted: boolean
}

/** What chart.js holds for the canvas #id (null when it is not a chart.js chart). */
async function chartOf (page: Page, id: string): Promise<ChartInfo | null> {
  return await page.evaluate((id: string) => {
    const g = globalThis as any
    const canvas = g.document.getElementById(id)
    if (canvas?.tagName !== 'CANVAS') return null
    const chart = g.Chart?.getChart(canvas)
    if (chart === undefined) return null
    // painted: some pixel of the canvas is not transparent
    const px: Uint8ClampedArray = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data
    let painted = false
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) { painted = true; break }
    return { type: chart.config.type, id: chart.id, labels: [...chart.data.labels], data: chart.data.datasets.map((d: any) => [...d.data]), painted }
  }, id)
}

async function bytesOf (page: Page, selector: string): Promise<{ text: string, bytes: number }> {
  const el = page.locator(selector)
  return { text: (await el.textContent()) ?? '', bytes: Number(await el.getAttribute('data-bytes')) }
}

const row = (page: Page, jobId: string): string => `[data-testid="job-row"][data-job-id="${jobId}"]`

// ---- tests ----------------------------------------------------------------

describe('monitorAssets', () => {
  const here = fileURLToPath(new URL('./', import.meta.url)) // <outDir>/test/daemon/
  const root = resolve(here, '../../..')
  const compiled = resolve(here, '../../src/daemon/monitor/assets.js')

  it('maps the four routes to the source files and chart.js', async () => {
    const assets = await monitorAssets()
    assert.deepEqual([...assets.keys()].sort(), ['/', '/monitor.css', '/monitor.js', '/vendor/chart.umd.js'])
    assert.match(assets.get('/')?.type ?? '', /^text\/html/)
    assert.match(assets.get('/monitor.js')?.type ?? '', /^text\/javascript/)
    assert.match(assets.get('/monitor.css')?.type ?? '', /^text\/css/)
    assert.match(assets.get('/vendor/chart.umd.js')?.type ?? '', /^text\/javascript/)
    assert.deepEqual(assets.get('/')?.body, await readFile(join(root, 'src/daemon/monitor/index.html')))
    assert.deepEqual(assets.get('/monitor.js')?.body, await readFile(join(root, 'src/daemon/monitor/monitor.js')))
    assert.match(assets.get('/vendor/chart.umd.js')?.body.subarray(0, 200).toString() ?? '', /Chart\.js v4\./)
  })

  it('finds the source folder from any outDir in the project root, and beside the module otherwise', async () => {
    const want = await monitorAssets()
    const alt = join(root, `.dist-montest-${process.pid}`)
    try {
      // another outDir: <root>/.dist-montest-N/src/daemon/monitor/assets.js
      const deep = join(alt, 'src/daemon/monitor')
      await mkdir(deep, { recursive: true })
      await copyFile(compiled, join(deep, 'assets.js'))
      const mod = await import(pathToFileURL(join(deep, 'assets.js')).href) as { monitorAssets: typeof monitorAssets }
      const got = await mod.monitorAssets()
      for (const [route, asset] of want) assert.deepEqual(got.get(route), asset, route)

      // flat copy with the page files beside it (no src/ four levels up)
      const flat = join(alt, 'flat')
      await mkdir(flat, { recursive: true })
      await copyFile(compiled, join(flat, 'assets.js'))
      for (const f of ['index.html', 'monitor.js', 'monitor.css']) await copyFile(join(root, 'src/daemon/monitor', f), join(flat, f))
      await writeFile(join(flat, 'index.html'), '<!-- beside -->', { flag: 'a' })
      const flatMod = await import(pathToFileURL(join(flat, 'assets.js')).href) as { monitorAssets: typeof monitorAssets }
      const beside = await flatMod.monitorAssets()
      assert.match(beside.get('/')?.body.toString() ?? '', /<!-- beside -->$/)
      assert.deepEqual(beside.get('/vendor/chart.umd.js'), want.get('/vendor/chart.umd.js'))
    } finally {
      await rm(alt, { recursive: true, force: true })
    }
  })

  it('says where it looked when the page files are nowhere', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doswarm-monitor-'))
    try {
      await writeFile(join(dir, 'package.json'), '{"type":"module"}')
      const deep = join(dir, 'out/src/daemon/monitor')
      await mkdir(deep, { recursive: true })
      await copyFile(compiled, join(deep, 'assets.js'))
      const mod = await import(pathToFileURL(join(deep, 'assets.js')).href) as { monitorAssets: typeof monitorAssets }
      await assert.rejects(mod.monitorAssets(), /Activity Monitor files .*index\.html.* not found in /)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

const NO_CHROMIUM = `Chromium not found at ${CHROMIUM}. These browser tests need Debian's Chromium: install it with ` +
  '`apt-get install -y chromium` (CI installs it), or point DOSWARM_CHROMIUM at a Chromium binary.'

// a plain failing test (not only a failed hook), so a missing browser shows in the fail count
it('has Chromium for the browser tests', () => {
  assert.ok(existsSync(CHROMIUM), NO_CHROMIUM)
})

describe('Activity Monitor page in Chromium', { timeout: 30_000 }, () => {
  let fake: Fake
  let browser: Browser
  const contexts: BrowserContext[] = []
  /** page errors and CSP complaints, from every page */
  const problems: string[] = []

  before(async () => {
    assert.ok(existsSync(CHROMIUM), NO_CHROMIUM)
    fake = await startFake(await monitorAssets())
    // playwright gives every launch a fresh, empty user-data-dir of its own
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000 })
  })

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {})
    await browser?.close()
    await fake?.close()
  })

  /** A fresh page on the monitor; earlier pages are closed so that only this one polls. */
  async function open (hash: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
    for (const c of contexts.splice(0)) await c.close()
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme: 'light', locale: 'en-US', timezoneId: 'UTC' })
    contexts.push(context)
    const page = await context.newPage()
    page.setDefaultTimeout(5_000)
    page.on('pageerror', err => problems.push(`pageerror: ${err.message}`))
    page.on('console', msg => { if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(`console: ${msg.text()}`) })
    await page.goto(`${fake.base}/${hash}`)
    return page
  }

  it('loads and shows the header and this month\'s numbers from /v1/stats', async () => {
    const page = await open(`#token=${TOKEN}`)
    await page.locator('#status[data-state="live"]').waitFor()
    const s = fake.stats

    assert.equal(await page.locator('#peer-id').textContent(), s.peerId)
    assert.equal(await page.locator('#mode').textContent(), 'LAN')
    assert.equal(await page.locator('#connections').getAttribute('data-value'), '6')
    assert.equal(await page.locator('#uptime').textContent(), '3 h 25 min')
    assert.equal(await page.locator('#month-id').getAttribute('data-value'), '2026-11')
    assert.equal(await page.locator('#month-id').textContent(), 'November 2026')

    assert.deepEqual(await bytesOf(page, '#month-from-http'), { text: '1.75 GiB', bytes: s.month.bytesFromHttp })
    assert.deepEqual(await bytesOf(page, '#month-from-peers'), { text: '12.5 GiB', bytes: s.month.bytesFromPeers })
    assert.deepEqual(await bytesOf(page, '#month-to-peers'), { text: '640 MiB', bytes: s.month.bytesToPeers })
    assert.deepEqual(await bytesOf(page, '#month-downloaded'), { text: '14.3 GiB', bytes: s.month.bytesFromHttp + s.month.bytesFromPeers })
    assert.equal(await page.locator('#month-percent-peer-caching').textContent(), '87.7 %')
    assert.equal(Number(await page.locator('#month-percent-peer-caching').getAttribute('data-value')), s.month.percentPeerCaching)
    assert.equal(await page.locator('#month-downloads').getAttribute('data-value'), '21')
    assert.equal(await page.locator('#month-pieces-rejected').getAttribute('data-value'), '2')
    assert.equal(await page.locator('#month-peers-banned').getAttribute('data-value'), '1')
    assert.equal(await page.locator('#error').isVisible(), false)

    // the token travels in the Authorization header only, never in a URL
    assert.ok(fake.apiAuth.includes(`Bearer ${TOKEN}`))
    assert.ok(fake.urls.every(u => !u.includes(TOKEN)), 'no request URL carries the token')
    assert.deepEqual(problems, [])
  })

  it('draws its charts with chart.js, fed with the API\'s numbers', async () => {
    const page = await open(`#token=${TOKEN}`)
    await page.locator('#status[data-state="live"]').waitFor()
    const s = fake.stats
    const sum = (xs: number[] | undefined): number => (xs ?? []).reduce((a, b) => a + b, 0)

    const month = await chartOf(page, 'chart-month')
    assert.ok(month, '#chart-month is a chart.js chart')
    assert.equal(month.type, 'doughnut')
    assert.deepEqual(month.data, [[s.month.bytesFromHttp, s.month.bytesFromPeers]])
    assert.ok(month.painted)

    const transfer = await chartOf(page, 'chart-month-transfer')
    assert.ok(transfer)
    assert.deepEqual(transfer.data, [[s.month.bytesFromHttp, 0], [s.month.bytesFromPeers, 0], [0, s.month.bytesToPeers]])

    const days = await chartOf(page, 'chart-days')
    assert.ok(days)
    assert.equal(days.type, 'bar')
    assert.equal(days.labels.length, 30, 'every day of November')
    assert.equal(days.labels[0], '1')
    assert.equal(sum(days.data[0]), s.month.bytesFromHttp)
    assert.equal(sum(days.data[1]), s.month.bytesFromPeers)
    assert.equal(sum(days.data[2]), s.month.bytesToPeers)
    assert.equal(days.data[1]?.[4], s.days[4]?.bytesFromPeers)
    assert.equal(days.data[1]?.[29], 0, 'days to come are empty')
    assert.ok(days.painted)

    const peers = await chartOf(page, 'chart-peers')
    assert.ok(peers)
    assert.equal(peers.labels.length, s.peers.length)
    assert.equal(sum(peers.data[0]), sum(s.peers.map(p => p.received)))
    assert.equal(sum(peers.data[1]), sum(s.peers.map(p => p.sent)))
    assert.equal(await page.locator('[data-testid="peer-row"]').count(), s.peers.length)
    const top = [...s.peers].sort((a, b) => (b.received + b.sent) - (a.received + a.sent))[0]
    assert.ok(top)
    const first = page.locator('[data-testid="peer-row"]').first()
    assert.equal(await first.getAttribute('data-peer-id'), top.peerId)
    assert.equal(Number(await first.locator('[data-testid="peer-received"]').getAttribute('data-bytes')), top.received)
    assert.deepEqual(problems, [])
  })

  it('lists the jobs and moves a progress bar when the daemon\'s numbers change, in place', async () => {
    const page = await open(`#token=${TOKEN}`)
    await page.locator('#status[data-state="live"]').waitFor()
    assert.equal(await page.locator('[data-testid="job-row"]').count(), fake.jobs.length)
    const states = await page.locator('[data-testid="job-state"]').allTextContents()
    assert.deepEqual(states, ['downloading', 'downloading', 'queued', 'failed', 'complete'], 'active jobs first')

    const fw = page.locator(row(page, FW))
    assert.equal(await fw.locator('[data-testid="job-progress"]').getAttribute('data-percent'), '25')
    assert.equal(await fw.locator('[data-testid="job-percent"]').textContent(), '25.0 %')
    assert.equal(await fw.locator('[data-testid="job-priority"]').textContent(), 'background')
    assert.equal(Number(await fw.locator('[data-testid="job-from-peers"]').getAttribute('data-bytes')), 150 * MiB)
    assert.equal(await fw.locator('[data-testid="job-from-peers"]').textContent(), '150 MiB')
    assert.match(await page.locator(`${row(page, 'job-sdk')} [data-testid="job-error"]`).textContent() ?? '', /ORIGIN_UNAVAILABLE/)

    // tag the live DOM row and remember the chart instance, to prove both survive the update
    await page.evaluate((sel: string) => { (globalThis as any).document.querySelector(sel).tagged = true }, row(page, FW))
    const chartBefore = await chartOf(page, 'chart-month')

    const j = fake.jobs.find(x => x.id === FW)
    assert.ok(j)
    Object.assign(j, { bytesDone: 600 * MiB, have: 600, bytesFromPeers: 520 * MiB, bytesFromHttp: 80 * MiB })
    fake.stats.month.bytesFromPeers += 370 * MiB
    await page.waitForFunction((sel: string) =>
      (globalThis as any).document.querySelector(`${sel} [data-testid="job-progress"]`)?.getAttribute('data-percent') === '75', row(page, FW))

    assert.equal(await fw.locator('[data-testid="job-percent"]').textContent(), '75.0 %')
    assert.equal(await fw.locator('[data-testid="job-from-peers"]').textContent(), '520 MiB')
    assert.equal(await page.evaluate((sel: string) => (globalThis as any).document.querySelector(sel).tagged === true, row(page, FW)), true,
      'the row was updated, not rebuilt')
    const widths = await fw.locator('[data-testid="job-progress"] .seg').evaluateAll(els => els.map(e => (e as any).style.width as string))
    assert.deepEqual(widths, ['10%', '65%', '0%'], 'the bar splits the done part by source')
    await page.waitForFunction((want: number) =>
      (globalThis as any).document.getElementById('month-from-peers').getAttribute('data-bytes') === String(want), fake.stats.month.bytesFromPeers)
    const chartAfter = await chartOf(page, 'chart-month')
    assert.equal(chartAfter?.id, chartBefore?.id, 'same chart.js instance, updated in place')
    assert.deepEqual(chartAfter?.data, [[fake.stats.month.bytesFromHttp, fake.stats.month.bytesFromPeers]])
    assert.deepEqual(problems, [])
  })

  it('shows the 401 message for a wrong token, and stops asking', async () => {
    const before = fake.apiAuth.length
    const page = await open('#token=not-the-token')
    const error = page.locator('#error[data-kind="unauthorized"]')
    await error.waitFor()
    assert.match(await error.textContent() ?? '', /refused the access token \(HTTP 401\)/)
    assert.equal(await page.locator('#status').getAttribute('data-state'), 'unauthorized')
    assert.equal(await page.locator('#content').isVisible(), false)
    assert.ok(fake.apiAuth.slice(before).every(a => a === 'Bearer not-the-token'))
    const asked = fake.apiAuth.length
    await page.waitForTimeout(1_300)
    assert.equal(fake.apiAuth.length, asked, 'no polling with a refused token')

    // the right token in the address brings it to life without a reload
    await page.evaluate((t: string) => { (globalThis as any).location.hash = `#token=${t}` }, TOKEN)
    await page.locator('#status[data-state="live"]').waitFor()
    assert.equal(await page.locator('#error').isVisible(), false)
  })

  it('keeps the last numbers and retries while the daemon answers with errors', async () => {
    const page = await open(`#token=${TOKEN}`)
    await page.locator('#status[data-state="live"]').waitFor()
    fake.failWith = 503
    try {
      const error = page.locator('#error[data-kind="unreachable"]')
      await error.waitFor()
      assert.match(await error.textContent() ?? '', /INTERNAL: state directory unreadable/)
      assert.equal(await page.locator('#content').isVisible(), true, 'the last numbers stay on screen')
      assert.equal(Number(await page.locator('#month-from-http').getAttribute('data-bytes')), fake.stats.month.bytesFromHttp)
    } finally {
      delete fake.failWith
    }
    await page.locator('#status[data-state="live"]').waitFor()
    assert.equal(await page.locator('#error').isVisible(), false)
  })

  it('says so when the address has no token, without calling the API', async () => {
    const before = fake.apiAuth.length
    const page = await open('')
    const error = page.locator('#error[data-kind="missing-token"]')
    await error.waitFor()
    assert.match(await error.textContent() ?? '', /No access token.*#token=/)
    await page.waitForTimeout(300)
    assert.equal(fake.apiAuth.length, before)
  })

  it('writes a screenshot when DOSWARM_SCREENSHOT is set', { skip: process.env.DOSWARM_SCREENSHOT === undefined }, async () => {
    fake.stats = makeStats()
    fake.jobs = makeJobs()
    const page = await open(`#token=${TOKEN}`, { width: 1280, height: 1000 })
    await page.locator('#status[data-state="live"]').waitFor()
    await page.locator('[data-testid="job-row"]').first().waitFor()
    const out = resolve(process.env.DOSWARM_SCREENSHOT ?? '')
    await mkdir(dirname(out), { recursive: true })
    await page.screenshot({ path: out, fullPage: true })
    assert.ok(existsSync(out))
  })
})
