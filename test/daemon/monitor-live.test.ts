/**
 * The Activity Monitor against a real daemon in headless Chromium: the
 * numbers of a real download appear, and a running job's progress updates.
 * Needs Debian's chromium (/usr/bin/chromium or $DOSWARM_CHROMIUM); fails
 * with a clear message when it is missing.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { createManifest, privateKeyFromPem } from '../../src/manifest/index.js'
import { swarmFixture } from '../helpers/swarm-fixture.js'
import { startTestDaemon, until } from '../helpers/daemon-fixture.js'

const CHROMIUM = process.env.DOSWARM_CHROMIUM ?? '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

test('the page shows a real download\'s numbers and follows a running job', { timeout: 90_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) or set DOSWARM_CHROMIUM`)
  let slow = false
  const fx = await swarmFixture({ size: 1_500_000, pieceSize: 64 * 1024, behaviour: () => slow ? { kind: 'trickle', intervalMs: 10, bytesPerTick: 1024 } : undefined })
  const { daemon, client } = await startTestDaemon(fx.dir, { trust: [fx.publicKey], mode: 'http-only' })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 })
  try {
    const first = await client.createJob({ manifest: Buffer.from(fx.manifest.bytes).toString('base64'), out: join(fx.dir, 'one.bin') })
    await until(async () => (await client.job(first.id)).state === 'complete')
    const page = await browser.newPage()
    await page.goto(`${daemon.url}/#token=${daemon.token}`)
    await page.waitForSelector('#status[data-state="live"]', { timeout: 20_000 })
    await until(async () => await page.getAttribute('#month-from-http', 'data-bytes') === String(fx.manifest.size), 20_000)
    assert.equal(await page.getAttribute('#month-downloads', 'data-value'), '1')
    const row = `[data-testid=job-row][data-job-id="${first.id}"]`
    await page.waitForSelector(row)
    assert.equal(await page.getAttribute(`${row} [data-testid=job-progress]`, 'data-percent'), '100')
    assert.equal(await page.evaluate('window.Chart.getChart(document.querySelector("#chart-month")) !== undefined'), true, 'the month chart is a chart.js chart')

    // a slow second download (another content: the same file in smaller pieces): its row appears and its progress moves
    slow = true
    const other = await createManifest({ file: fx.file, origins: [fx.origin.url], privateKey: privateKeyFromPem(fx.privateKeyPem), pieceSize: 32 * 1024 })
    const second = await client.createJob({ manifest: Buffer.from(other.bytes).toString('base64'), out: join(fx.dir, 'two.bin') })
    const row2 = `[data-testid=job-row][data-job-id="${second.id}"] [data-testid=job-progress]`
    await page.waitForSelector(row2, { timeout: 20_000 })
    const seen = new Set<string>()
    await until(async () => {
      seen.add(await page.getAttribute(row2, 'data-percent') ?? '')
      return (await client.job(second.id)).state === 'complete' && seen.has('100')
    }, 60_000, 100)
    assert.ok(seen.size >= 3, `progress was shown at ${[...seen].join(', ')} %`)
  } finally {
    await browser.close()
    await daemon.stop()
    await fx.close()
  }
})
