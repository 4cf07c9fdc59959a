import test from 'node:test'
import assert from 'node:assert/strict'
import { DialQueue } from '../../src/swarm/dial-queue.js'

function gate (): { promise: Promise<void>, open: () => void } {
  let open!: () => void
  const promise = new Promise<void>(resolve => { open = resolve })
  return { promise, open }
}

test('dial queue: at most `max` jobs run at once, the rest wait their turn in order', async () => {
  const q = new DialQueue(2)
  const gates = Array.from({ length: 5 }, gate)
  const started: number[] = []
  let running = 0
  let peak = 0
  gates.forEach((g, i) => {
    assert.equal(q.add(`p${i}`, async () => {
      started.push(i)
      running++
      peak = Math.max(peak, running)
      await g.promise
      running--
    }), true)
  })
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(started, [0, 1])
  assert.equal(q.active, 2)
  assert.equal(q.waiting, 3)
  for (const g of gates) { g.open(); await new Promise(resolve => setImmediate(resolve)) }
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(started, [0, 1, 2, 3, 4])
  assert.equal(peak, 2)
  assert.equal(q.active + q.waiting, 0)
})

test('dial queue: one job per key at a time; a failed job frees its key and slot', async () => {
  const q = new DialQueue(1)
  const g = gate()
  assert.equal(q.add('a', async () => { await g.promise; throw new Error('dial failed') }), true)
  assert.equal(q.add('a', async () => {}), false, 'a second dial of the same peer is dropped')
  assert.equal(q.has('a'), true)
  g.open()
  await new Promise(resolve => setTimeout(resolve, 5))
  assert.equal(q.has('a'), false)
  let ran = false
  assert.equal(q.add('a', async () => { ran = true }), true, 'the peer may be dialled again once the first dial ended')
  await new Promise(resolve => setTimeout(resolve, 5))
  assert.equal(ran, true)
})

test('dial queue: close() drops the waiting jobs and refuses new ones', async () => {
  const q = new DialQueue(1)
  const g = gate()
  let second = false
  q.add('a', async () => { await g.promise })
  q.add('b', async () => { second = true })
  q.close()
  assert.equal(q.waiting, 0)
  assert.equal(q.add('c', async () => {}), false)
  g.open()
  await new Promise(resolve => setTimeout(resolve, 5))
  assert.equal(second, false)
  assert.throws(() => new DialQueue(0), RangeError)
})
