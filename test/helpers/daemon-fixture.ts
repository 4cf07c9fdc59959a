/**
 * A daemon for tests: its own state and cache directories, the control API
 * and the peer on loopback port 0, mDNS off.
 */
import { join } from 'node:path'
import { validateConfig } from '../../src/daemon/config.js'
import { Daemon } from '../../src/daemon/daemon.js'
import { DaemonClient } from '../../src/daemon/client.js'

export async function startTestDaemon (dir: string, extra: Record<string, unknown> = {}): Promise<{ daemon: Daemon, client: DaemonClient }> {
  const config = validateConfig({
    stateDir: join(dir, 'state'),
    cacheDir: join(dir, 'cache'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    api: { host: '127.0.0.1', port: 0 },
    ...extra
  })
  const daemon = await Daemon.start(config)
  return { daemon, client: new DaemonClient({ url: daemon.url, token: daemon.token }) }
}

export async function until (cond: () => Promise<boolean> | boolean, timeoutMs = 30_000, stepMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, stepMs))
  }
}
