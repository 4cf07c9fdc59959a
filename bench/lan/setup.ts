/**
 * Set up or tear down the emulated LAN by hand (the benchmark does both by
 * itself): `up` creates it and prints the namespaces, `down` removes every
 * namespace with the prefix (and kills what runs in them), idempotently.
 *
 *   node dist/bench/lan/setup.js up --n 5 [--host-mbit 100] [--origin-mbit 50] [--delay-ms 0] [--prefix dswlan-]
 *   node dist/bench/lan/setup.js down [--prefix dswlan-]
 *
 * Exit 3 when not root or ip/tc are missing; 2 on a usage error.
 */
import { cliArgs } from '../lib/args.js'
import { LanUnavailableError, checkLanRequirements, setupLan, teardownLan } from './netns.js'

const [cmd, ...rest] = process.argv.slice(2)
const args = cliArgs(`
Usage: node dist/bench/lan/setup.js up|down [options]   (as root)`, {
  n: { type: 'string', default: '5', help: 'up: number of hosts' },
  'host-mbit': { type: 'string', default: '100', help: 'up: host link rate, Mbit/s each way' },
  'origin-mbit': { type: 'string', default: '50', help: 'up: origin link rate, Mbit/s each way' },
  'delay-ms': { type: 'string', default: '0', help: 'up: one-way netem delay per veth end, ms' },
  prefix: { type: 'string', default: 'dswlan-', help: 'namespace name prefix' }
}, rest)

if (cmd !== 'up' && cmd !== 'down') {
  process.stderr.write('usage: node dist/bench/lan/setup.js up|down [options] (--help for options)\n')
  process.exit(2)
}
try {
  checkLanRequirements()
} catch (err) {
  if (!(err instanceof LanUnavailableError)) throw err
  process.stderr.write(`bench/lan: ${err.message}\n`)
  process.exit(3)
}
if (cmd === 'down') {
  const removed = teardownLan(args.str('prefix'))
  process.stdout.write(removed.length === 0 ? 'nothing to remove\n' : `removed ${removed.join(' ')}\n`)
} else {
  const lan = setupLan({ prefix: args.str('prefix'), hosts: args.num('n'), hostMbit: args.num('host-mbit'), originMbit: args.num('origin-mbit'), delayMs: args.num('delay-ms') })
  process.stdout.write(`bridge ${lan.bridgeNs}\norigin ${lan.origin.ns} ${lan.origin.ip}\n${lan.hosts.map(h => `host ${h.ns} ${h.ip}`).join('\n')}\n`)
}
