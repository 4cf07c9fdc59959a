/**
 * fast-check properties for every parser that reads untrusted bytes
 * (THREATS T4, T7, C2, C4, R4): the signed-manifest verifier, the manifest
 * body parser, the resume-state decoder, HTTP Content-Range handling, the
 * HTTP/1.1 response parser and the wire-frame decoder. Each property says: any input ends in a typed
 * rejection or a result that satisfies the parser's own invariants — never
 * an untyped throw, never a mutated input accepted as the original.
 *
 * Used by test/security/fuzz.test.ts (runs scaled by DOSWARM_FUZZ_RUNS) and
 * bench/fuzz.ts (`--runs N` for long runs).
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import fc from 'fast-check'
import { DoswarmError } from '../../src/errors.js'
import { encodeBody, parseBody, type ManifestBody } from '../../src/manifest/body.js'
import { sealEnvelope } from '../../src/manifest/envelope.js'
import { publicKeyToString, verifyManifest } from '../../src/manifest/index.js'
import { checkPartialResponse, parseContentRange } from '../../src/origin/http-range.js'
import { HttpParseError, ResponseParser } from '../../src/origin/http1-parser.js'
import { FrameDecoder } from '../../src/protocol/index.js'
import { decodeState, encodeState } from '../../src/store/state-codec.js'
import { Bitfield } from '../../src/util/bitfield.js'

export interface FuzzTarget {
  name: string
  /** runs in the regular suite (before DOSWARM_FUZZ_RUNS scaling) */
  runs: number
  property: () => fc.IProperty<any> | fc.IPropertyWithHooks<any>
}

function isManifestError (err: unknown): boolean {
  return err instanceof DoswarmError && err.code.startsWith('MANIFEST_')
}

/** A signed manifest to mutate (small: 3 pieces). */
function sample (): { bytes: Uint8Array, publisher: string, body: ManifestBody } {
  const { privateKey } = generateKeyPairSync('ed25519')
  const body: ManifestBody = {
    format: 1,
    name: 'tool.bin',
    size: 40_000,
    pieceSize: 16_384,
    pieceHashes: [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2), new Uint8Array(32).fill(3)],
    fileHash: new Uint8Array(32).fill(9),
    origins: ['https://example.invalid/tool.bin'],
    createdAt: 1_700_000_000_000,
    version: 4
  }
  return { bytes: sealEnvelope(encodeBody(body), privateKey), publisher: publicKeyToString(privateKey), body }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) })
)
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never

function mutate (input: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = Uint8Array.from(input)
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === 'insert' ? 1 : 0))
    if (m.kind === 'flip' && b.length > 0) b[at % b.length] ^= m.mask
    else if (m.kind === 'cut') b = b.subarray(0, at)
    else if (m.kind === 'insert') b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)])
    else if (m.kind === 'delete') b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.n)])
  }
  return b
}

function same (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

export function fuzzTargets (): FuzzTarget[] {
  const signed = sample()
  const stateSample = (() => {
    const done = new Bitfield(37)
    for (const i of [0, 5, 36]) done.set(i)
    return encodeState({ contentId: 'bafkreiabc', size: 37 * 16384 - 3, pieceSize: 16384, pieceCount: 37, done, finalized: false })
  })()

  return [
    {
      name: 'verifyManifest: a mutated signed manifest is rejected with a MANIFEST_* error unless unchanged',
      runs: 2000,
      property: () => fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), muts => {
        const bytes = mutate(signed.bytes, muts)
        try {
          const m = verifyManifest(bytes, { trustedKeys: [signed.publisher], now: 1_700_000_000_001 })
          assert.ok(same(bytes, signed.bytes), 'a changed manifest verified')
          assert.equal(m.version, 4)
        } catch (err) {
          assert.ok(isManifestError(err), `untyped error: ${String(err)}`)
        }
      })
    },
    {
      name: 'verifyManifest: random bytes are rejected with a MANIFEST_* error',
      runs: 2000,
      property: () => fc.property(fc.uint8Array({ maxLength: 300 }), bytes => {
        assert.throws(() => verifyManifest(bytes, { trustedKeys: [signed.publisher] }), isManifestError)
      })
    },
    {
      name: 'parseBody: any JSON value either parses to a body that re-encodes canonically or is rejected with a MANIFEST_* error',
      runs: 2000,
      property: () => fc.property(fc.oneof(
        fc.json().map(s => new TextEncoder().encode(s)),
        // near-valid bodies: one field of a real body replaced by an arbitrary JSON value
        fc.tuple(fc.constantFrom('format', 'name', 'size', 'pieceSize', 'pieces', 'fileHash', 'origins', 'createdAt', 'expiresAt', 'version', 'extra'), fc.jsonValue()).map(([k, v]) => {
          const o = JSON.parse(new TextDecoder().decode(encodeBody(signed.body))) as Record<string, unknown>
          o[k] = v
          return new TextEncoder().encode(JSON.stringify(o))
        })
      ), bytes => {
        let body: ManifestBody
        try {
          body = parseBody(bytes)
        } catch (err) {
          assert.ok(isManifestError(err), `untyped error: ${String(err)}`)
          return
        }
        // accepted only in canonical form
        assert.ok(same(encodeBody(body), bytes), 'a non-canonical body was accepted')
      })
    },
    {
      name: 'decodeState: any mutation of a state file is detected; random bytes never throw',
      runs: 3000,
      property: () => fc.property(fc.oneof(
        fc.array(mutation, { minLength: 1, maxLength: 3 }).map(muts => mutate(stateSample, muts)),
        fc.uint8Array({ maxLength: 200 })
      ), bytes => {
        const r = decodeState(bytes)
        if (same(bytes, stateSample)) assert.ok(!('error' in r))
        else assert.ok('error' in r, 'a changed state file was trusted')
      })
    },
    {
      name: 'parseContentRange: any string gives undefined or a consistent range; valid ones round-trip',
      runs: 5000,
      property: () => fc.property(fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.tuple(fc.nat(), fc.nat(), fc.oneof(fc.nat(), fc.constant(-1)), fc.constantFrom('bytes ', 'BYTES ', 'bytes  ', 'bits ')).map(([a, b, s, unit]) => `${unit}${a}-${b}/${s < 0 ? '*' : s}`),
        fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 17n }), fc.bigInt({ min: 0n, max: 10n ** 17n })).map(([a, b]) => `bytes ${a}-${b}/${b + 1n}`)
      ), value => {
        const r = parseContentRange(value)
        if (r === undefined) return
        assert.ok(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.start <= r.end)
        if (r.size !== undefined) assert.ok(r.end < r.size)
        assert.deepEqual(parseContentRange(`bytes ${r.start}-${r.end}/${r.size ?? '*'}`), r)
      })
    },
    {
      name: 'checkPartialResponse: accepts exactly the requested range of the right file, nothing else',
      runs: 5000,
      property: () => fc.property(
        fc.nat({ max: 1e9 }), fc.nat({ max: 1e6 }), fc.nat({ max: 1e9 }),
        fc.record({
          start: fc.option(fc.integer({ min: -2, max: 2 })),
          end: fc.option(fc.integer({ min: -2, max: 2 })),
          size: fc.option(fc.integer({ min: -2, max: 2 })),
          length: fc.option(fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constant('x'))),
          encoding: fc.option(fc.constantFrom('identity', 'gzip', 'br', ' Identity '))
        }, { requiredKeys: [] }),
        (start, len, extra, skew) => {
          const want = { start, end: start + len }
          const fileSize = want.end + 1 + extra
          const s = want.start + (skew.start ?? 0)
          const e = want.end + (skew.end ?? 0)
          const size = fileSize + (skew.size ?? 0)
          const headers: Record<string, string> = { 'content-range': `bytes ${s}-${e}/${size}` }
          if (skew.length !== undefined && skew.length !== null) headers['content-length'] = skew.length === 'x' ? 'x' : String(len + 1 + skew.length)
          if (skew.encoding !== undefined && skew.encoding !== null) headers['content-encoding'] = skew.encoding
          const problem = checkPartialResponse(headers, want, fileSize)
          const exact = s === want.start && e === want.end && size === fileSize &&
            (headers['content-length'] === undefined || headers['content-length'] === String(len + 1)) &&
            (headers['content-encoding'] === undefined || headers['content-encoding'].trim().toLowerCase() === 'identity')
          assert.equal(problem === undefined, exact, `${JSON.stringify(headers)} → ${problem ?? 'accepted'}`)
        })
    },
    {
      name: 'ResponseParser: mutated and random responses, split anywhere, end in HttpParseError or a body that keeps its framing',
      runs: 2000,
      property: () => fc.property(
        fc.oneof(
          fc.constantFrom(
            'HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/20\r\nContent-Length: 10\r\n\r\n0123456789',
            'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n3\r\nefg\r\n0\r\nT: 1\r\n\r\n',
            'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nto the end'
          ).map(s => new TextEncoder().encode(s)),
          fc.uint8Array({ maxLength: 300 })
        ),
        fc.array(mutation, { maxLength: 4 }),
        fc.array(fc.nat({ max: 400 }), { maxLength: 6 }),
        (input, muts, cuts) => {
          const bytes = Buffer.from(mutate(input, muts))
          let body = 0
          let length: number | undefined
          let complete = false
          const p = new ResponseParser({
            head: (h) => { length = h.headers['content-length'] === undefined ? undefined : Number(h.headers['content-length']) },
            body: (b) => { body += b.length },
            complete: () => { complete = true }
          })
          const points = [...new Set(cuts.map(c => c % (bytes.length + 1)))].sort((a, b) => a - b)
          let at = 0
          try {
            for (const end of [...points, bytes.length]) {
              if (end < at) continue
              const stop = p.execute(bytes, at, end)
              assert.ok(stop >= at && stop <= end)
              if (p.done) break
              at = end
            }
            p.finish()
          } catch (err) {
            assert.ok(err instanceof HttpParseError, String(err))
            assert.match(err.code, /^HPE_/)
          }
          assert.ok(body <= bytes.length)
          if (complete && length !== undefined) assert.equal(body, length, 'a completed Content-Length body has exactly that length')
        })
    },
    {
      name: 'FrameDecoder: random and truncated streams end in ProtocolError, StreamTruncatedError or frames, with bounded buffering',
      runs: 3000,
      property: () => fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat({ max: 600 }), { maxLength: 8 }), (bytes, cuts) => {
        const decoder = new FrameDecoder({ maxPayload: 1024 })
        const points = [...new Set(cuts.map(c => c % (bytes.length + 1)))].sort((a, b) => a - b)
        let at = 0
        try {
          for (const p of [...points, bytes.length]) {
            decoder.push(bytes.subarray(at, p))
            at = p
            assert.ok(decoder.bufferedBytes <= 64 * 1024, `buffered ${decoder.bufferedBytes}`)
          }
          decoder.end()
        } catch (err) {
          assert.ok(['ProtocolError', 'StreamTruncatedError'].includes((err as Error)?.name), String(err))
        }
      })
    }
  ]
}

/** Runs for a target: DOSWARM_FUZZ_RUNS overrides the suite's count (e.g. 100000 for a long run). */
export function runsFor (target: FuzzTarget, env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.DOSWARM_FUZZ_RUNS)
  return Number.isSafeInteger(n) && n > 0 ? n : target.runs
}
