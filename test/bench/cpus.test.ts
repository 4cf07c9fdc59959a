/**
 * bench/lib/cpus.ts: the taskset helpers bench/security.ts uses to give the
 * attacker a CPU of its own. The pinning test uses the real taskset on a
 * child process and is skipped where taskset or a second CPU is missing.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { cpusOf, parseCpuList, pin } from '../../bench/lib/cpus.js'

test('CPU lists are parsed, and anything else is refused', () => {
  assert.deepEqual(parseCpuList('0'), [0])
  assert.deepEqual(parseCpuList(' 0-3,6\n'), [0, 1, 2, 3, 6])
  assert.deepEqual(parseCpuList('1,3-4'), [1, 3, 4])
  for (const bad of ['', '0-', '-1', '3-1', '0,,1', 'a', '0 1', '0-2-3']) {
    assert.throws(() => parseCpuList(bad), /not a CPU list/, JSON.stringify(bad))
  }
})

const hasTaskset = spawnSync('taskset', ['-c', '-p', String(process.pid)]).status === 0
const mine = hasTaskset ? cpusOf(process.pid) : []
const skip = !hasTaskset ? 'no taskset' : mine.length < 2 ? 'needs 2 CPUs' : false

test('a process pinned to one CPU reports only that CPU, threads included', { skip, timeout: 10_000 }, async () => {
  // the child says when it runs (node's threads are up by then), then starts a worker after it was pinned
  const child = spawn(process.execPath, ['-e', `
    process.stdout.write('ready\\n')
    process.stdin.once('data', () => {
      const { Worker } = require('node:worker_threads')
      new Worker('setTimeout(() => {}, 5000)', { eval: true }).on('online', () => process.stdout.write('worker\\n'))
    })
    setTimeout(() => {}, 5000)`], { stdio: ['pipe', 'pipe', 'ignore'] })
  const said = async (word: string): Promise<void> => await new Promise((resolve, reject) => {
    let buf = ''
    const onData = (d: Buffer): void => { buf += String(d); if (buf.includes(word)) { child.stdout.off('data', onData); resolve() } }
    child.stdout.on('data', onData)
    child.once('exit', () => { reject(new Error(`child exited before saying ${word}`)) })
  })
  try {
    await said('ready')
    const pid = child.pid as number
    assert.deepEqual(cpusOf(pid), mine, 'a child starts with its parent\'s CPUs')
    const last = mine[mine.length - 1] as number
    pin(pid, [last])
    assert.deepEqual(cpusOf(pid), [last])
    // a thread's id is a pid to taskset: each is read with the helper under test
    const threads = (): number[] => readdirSync(`/proc/${pid}/task`).map(Number)
    const before = threads()
    assert.ok(before.length > 1, 'node runs more than one thread')
    child.stdin.write('go\n')
    await said('worker')
    const after = threads()
    assert.ok(after.length > before.length, 'the worker added threads')
    for (const tid of after) assert.deepEqual(cpusOf(tid), [last], `thread ${tid}`)
  } finally {
    child.kill('SIGKILL')
  }
})
