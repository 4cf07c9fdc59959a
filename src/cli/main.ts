#!/usr/bin/env -S node --initial-old-space-size=64
import '../polyfill.js'
import { UsageError } from '../errors.js'
import type { Io } from './commands.js'
import { EXIT, errorLine, exitCodeFor } from './exit-codes.js'

const HELP = `doswarm — verified peer-to-peer content distribution

Usage:
  doswarm keygen --out KEYFILE [--force]
      Write a new Ed25519 publisher key (mode 0600); the last line of stdout
      is the public key to give receivers.
  doswarm publish FILE --key KEYFILE --origin URL [--origin URL ...]
                  [--piece-size BYTES] [--expires DURATION] [--name NAME]
                  [--version N] --out MANIFEST
      Hash FILE and write its signed manifest; the last line is its content id.
      DURATION: 30d, 12h, 90m, 3600s, 2w or an ISO date.
  doswarm get MANIFEST --out FILE --trust PUBKEY [--trust PUBKEY ...]
              [--listen MULTIADDR ...] [--peer MULTIADDR ...] [--no-mdns]
              [--http-delay S] [--http-only] [--seed] [--cache DIR] [--json]
              [--background] [--standalone] [--state DIR]
      Download from LAN peers and, as the coordinated last resort, the HTTP
      origin; verify every piece and the whole file, then move it to FILE.
      --trust takes a key string or a file holding one. --json prints one
      JSON line at the end. --seed keeps serving until SIGINT/SIGTERM.
  doswarm seed MANIFEST FILE --trust PUBKEY [--listen ...] [--peer ...]
               [--no-mdns] [--cache DIR] [--json]
      Verify a local copy of the file into the cache and serve it to peers.
  doswarm serve [--config FILE]
      Run the daemon: one node per machine, a cache that is shared across
      restarts, download jobs for local agents, the control API and the
      Activity Monitor page. Stops gracefully on SIGINT/SIGTERM.
  doswarm status [--json] [--state DIR]
      Jobs, cache, totals and the Activity Monitor link of the running daemon.

get uses the running daemon (and says so) unless it is given --cache,
--listen, --peer, --no-mdns, --http-delay, --http-only, --seed or
--standalone; --background makes it a background job; --state DIR names the
daemon's state directory (default $DOSWARM_STATE or ~/.local/state/doswarm).

Node options: --listen defaults to /ip4/0.0.0.0/tcp/7680 and /ip6/::/tcp/7680;
--peer takes a multiaddr, /p2p/<id> optional; mDNS is on unless --no-mdns;
--http-delay S waits S seconds before fetching from the origin a piece that
another node is expected to fetch (default 5); --http-only uses no peers.

Exit codes: 0 ok, 1 download failed, 2 usage error or bad config,
3 manifest rejected, 4 no daemon running (status), 130 interrupted.
`

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP)
    return command === undefined ? EXIT.USAGE : EXIT.OK
  }
  if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write(HELP); return EXIT.OK }
  const ac = new AbortController()
  const onSignal = (): void => { ac.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const io: Io = { stdout: process.stdout, stderr: process.stderr, signal: ac.signal }
  const json = rest.includes('--json')
  try {
    // Commands are loaded when run: the daemon (and its metrics library) costs
    // memory that `get --http-only` should not pay (docs/benchmarks.md, RSS).
    switch (command) {
      case 'keygen': await (await import('./commands.js')).keygen(rest, io); break
      case 'publish': await (await import('./commands.js')).publish(rest, io); break
      case 'get': await (await import('./commands.js')).get(rest, io); break
      case 'seed': await (await import('./commands.js')).seed(rest, io); break
      case 'serve': await (await import('./daemon-commands.js')).serve(rest, io); break
      case 'status': await (await import('./daemon-commands.js')).status(rest, io); break
      default: throw new UsageError(`unknown command "${command}" (try doswarm --help)`)
    }
    return EXIT.OK
  } catch (err) {
    const code = exitCodeFor(err)
    if (json) {
      const e = err as { code?: string, message?: string }
      process.stdout.write(JSON.stringify({ ok: false, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(err) } }) + '\n')
    }
    process.stderr.write(errorLine(err) + '\n')
    return code
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

process.exitCode = await main(process.argv.slice(2))
