/**
 * The HTTP Range contract with the origin (RFC 9110 §14), as pure functions:
 * which bytes a run of pieces is, the request header, and the strict check of
 * a 206 response's headers before a single body byte is read (THREATS C4, T4).
 */
import { pieceLength, pieceOffset, type Manifest } from '../manifest/types.js'

/** An inclusive byte range, as HTTP writes it: `start`..`end`. */
export interface ByteRange {
  start: number
  end: number
}

/** The bytes of pieces `first .. first+count-1`. Caller guarantees the run is in range. */
export function pieceByteRange (m: Pick<Manifest, 'size' | 'pieceSize'>, first: number, count: number): ByteRange {
  const last = first + count - 1
  return { start: pieceOffset(m, first), end: pieceOffset(m, last) + pieceLength(m, last) - 1 }
}

/** `Range` request header value for one range. */
export function formatRange (r: ByteRange): string {
  return `bytes=${r.start}-${r.end}`
}

/** A parsed `Content-Range: bytes a-b/size`; `size` is undefined for `*`. */
export interface ContentRange {
  start: number
  end: number
  size?: number
}

const CONTENT_RANGE = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/i

/** Parse a satisfied `Content-Range` value; `undefined` when malformed or unsatisfied (`bytes *\/n`). */
export function parseContentRange (value: string): ContentRange | undefined {
  const m = CONTENT_RANGE.exec(value.trim())
  if (m === null) return undefined
  const start = Number(m[1])
  const end = Number(m[2])
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined
  if (m[3] === '*') return { start, end }
  const size = Number(m[3])
  if (!Number.isSafeInteger(size) || end >= size) return undefined
  return { start, end, size }
}

type Headers = Record<string, string | string[] | undefined>

/**
 * Check the headers of a 206 answer to our Range request. Returns a
 * description of the first problem, or `undefined` when the response promises
 * exactly the bytes asked for. Why so strict: an origin that answers a
 * different range, a different file size, a compressed body or a different
 * length is not serving the content the manifest describes, and reading its
 * body could only waste bandwidth or memory.
 */
export function checkPartialResponse (headers: Headers, want: ByteRange, fileSize: number): string | undefined {
  const cr = headers['content-range']
  if (typeof cr !== 'string') return cr === undefined ? '206 without Content-Range' : 'several Content-Range headers'
  const got = parseContentRange(cr)
  if (got === undefined) return `malformed Content-Range "${cr}"`
  if (got.start !== want.start || got.end !== want.end) {
    return `Content-Range ${got.start}-${got.end} does not match requested ${want.start}-${want.end}`
  }
  if (got.size !== fileSize) return `Content-Range size ${got.size ?? '*'} does not match manifest size ${fileSize}`

  const cl = headers['content-length']
  if (cl !== undefined) {
    if (typeof cl !== 'string' || !/^\d{1,16}$/.test(cl.trim())) return `malformed Content-Length ${JSON.stringify(cl)}`
    const len = Number(cl.trim())
    if (len !== want.end - want.start + 1) return `Content-Length ${len} does not match range length ${want.end - want.start + 1}`
  }

  const ce = headers['content-encoding']
  if (ce !== undefined && (typeof ce !== 'string' || ce.trim().toLowerCase() !== 'identity')) {
    return `unexpected Content-Encoding ${JSON.stringify(ce)}`
  }
  return undefined
}
