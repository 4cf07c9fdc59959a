/**
 * docs/PROTOCOL.md must stay true: its hex examples are what the encoder
 * produces, its violation examples are rejected, the constants quote it
 * verbatim, and messages.ts is what protons generates from messages.proto.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { FrameDecoder } from '../../src/protocol/decode.js'
import { encodeFrame } from '../../src/protocol/encode.js'
import type { Message } from '../../src/protocol/message.js'
import { concat, fromHex, toHex } from './arbitraries.js'

// the same from dist/test/protocol and .dist-*/test/protocol
const root = fileURLToPath(new URL('../../../', import.meta.url))
const spec = readFileSync(join(root, 'docs/PROTOCOL.md'), 'utf8')
const squash = (s: string): string => s.replace(/\s+/g, ' ')

function block (after: string): string[] {
  const start = spec.indexOf(after)
  assert.ok(start >= 0, `PROTOCOL.md lost the text "${after}"`)
  const open = spec.indexOf('```text\n', start) + '```text\n'.length
  return spec.slice(open, spec.indexOf('```', open)).trimEnd().split('\n')
}

/** Leading two-digit hex tokens of an annotated line. */
function leadingHex (line: string): string {
  const out: string[] = []
  for (const token of line.trim().split(/\s+/)) {
    if (!/^[0-9a-f]{2}$/.test(token)) break
    out.push(token)
  }
  return out.join(' ')
}

const hexOf = (message: Message, payload?: Uint8Array): string => toHex(concat(encodeFrame(message, payload)))

const examples: Record<string, [Message, Uint8Array?]> = {
  HELLO: [{ type: 'HELLO', contentId: 'bagaaierabc', pieceCount: 10, bitfield: Uint8Array.from([0xa0, 0x40]), listenAddrs: ['/ip4/192.168.1.5/tcp/7680'] }],
  HAVE: [{ type: 'HAVE', index: 0 }],
  REQUEST: [{ type: 'REQUEST', requestId: 1, index: 300 }],
  PIECE: [{ type: 'PIECE', requestId: 1, index: 3 }, Uint8Array.from([0xde, 0xad, 0xbe, 0xef])],
  REJECT: [{ type: 'REJECT', requestId: 2, index: 5, reason: 'NOT_HAVE' }],
  CANCEL: [{ type: 'CANCEL', requestId: 7 }],
  CLAIM: [{ type: 'CLAIM', indices: [1, 2, 300], ttlMs: 30000 }],
  RELEASE: [{ type: 'RELEASE', indices: [2] }],
  PEERS: [{ type: 'PEERS', peers: [{ peerId: 'QmPeer', addrs: ['/ip4/10.0.0.2/tcp/7680'] }] }]
}

describe('docs/PROTOCOL.md', () => {
  it('shows, for every type, the frame the encoder produces', () => {
    const lines = block('The frames of every type')
    const seen = new Set<string>()
    for (let i = 0; i < lines.length; i += 2) {
      const type = lines[i].split(' ')[0]
      const example = examples[type]
      assert.ok(example !== undefined, `unexpected example ${type}`)
      assert.equal(lines[i + 1], hexOf(...example), `example ${type}`)
      // and the decoder reads it back
      const frames = new FrameDecoder({ maxPayload: 16 }).push(fromHex(lines[i + 1]))
      assert.equal(frames[0].message.type, type)
      seen.add(type)
    }
    assert.deepEqual([...seen].sort(), Object.keys(examples).sort())
  })

  it('annotates HAVE and PIECE byte by byte correctly', () => {
    assert.equal(block('HAVE of piece 0, byte by byte').map(leadingHex).join(' '), hexOf(...examples.HAVE))
    assert.equal(block('PIECE answering request 1').map(leadingHex).join(' '), hexOf(...examples.PIECE))
  })

  it('lists violations that the decoder rejects, each as soon as it can', () => {
    const lines = block('Violations a receiver MUST detect early')
    assert.ok(lines.length >= 6)
    for (const line of lines) {
      const bytes = fromHex(leadingHex(line))
      const decoder = new FrameDecoder({ maxPayload: 16 })
      let failedAt = -1
      for (let i = 0; i < bytes.length && failedAt < 0; i++) {
        try { decoder.push(bytes.subarray(i, i + 1)) } catch (err) {
          assert.equal((err as Error).name, 'ProtocolError', line)
          failedAt = i
        }
      }
      assert.ok(failedAt >= 0, `not rejected: ${line}`)
      if (line.includes('1 GiB')) assert.equal(failedAt, 1)
    }
  })

  it('contains every sentence that constants.ts quotes', () => {
    const source = readFileSync(join(root, 'src/protocol/constants.ts'), 'utf8')
    const quotes = [...source.matchAll(/Spec: "(.+?)" \*\//g)].map(m => m[1])
    const exported = [...source.matchAll(/^export const (\w+)/gm)].map(m => m[1]).filter(n => n !== 'MAX_UINT32')
    assert.equal(quotes.length, exported.length, 'every limit quotes its spec sentence')
    const text = squash(spec)
    for (const q of quotes) assert.ok(text.includes(squash(q)), `PROTOCOL.md does not say: ${q}`)
  })
})

describe('messages.ts', () => {
  const protons = join(root, 'node_modules/protons/dist/bin/protons.js')
  it('is exactly what protons generates from messages.proto', () => {
    assert.ok(existsSync(protons), 'protons (a dev dependency) is installed')
    const out = mkdtempSync(join(tmpdir(), 'doswarm-protons-'))
    try {
      const run = spawnSync(process.execPath, [protons, '-o', out, join(root, 'src/protocol/messages.proto')], { encoding: 'utf8' })
      assert.equal(run.status, 0, run.stderr)
      const committed = readFileSync(join(root, 'src/protocol/messages.ts'), 'utf8')
      assert.equal(committed, readFileSync(join(out, 'messages.ts'), 'utf8'))
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  })
})
