import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { NODE_FLAGS } from '../../src/cli/node-flags.js'
import { CLI } from '../helpers/cli.js'

test('the CLI\'s first line runs node with NODE_FLAGS, and the program starts that way', () => {
  const first = readFileSync(CLI, 'utf8').split('\n', 1)[0]
  assert.equal(first, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`, 'the shebang and NODE_FLAGS agree')
  // run it as the kernel would: env splits the line's arguments (-S), then the script
  const [envPath, ...rest] = first.slice(2).split(' ')
  const r = spawnSync(envPath, [...rest, CLI, '--help'], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /doswarm/)
  // and node takes them as its own flags (not as the script's arguments)
  const probe = spawnSync(envPath, [...rest, '-p', `process.execArgv.slice(0, ${NODE_FLAGS.length}).join(' ')`], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(probe.stdout.trim(), NODE_FLAGS.join(' '), probe.stderr)
})
