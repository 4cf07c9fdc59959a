/**
 * The rules of docs/PROTOCOL.md that need the content's manifest: piece
 * indices in range, the HELLO's piece count, a PIECE's exact length. Pure.
 */
import { ProtocolError } from '../errors.js'
import { pieceCount, pieceLength, type Manifest } from '../manifest/types.js'
import { checkMessage, type FrameHeader, type Message } from './message.js'

/** What {@link validateMessage} needs to know about the content. */
export interface MessageContext {
  /** Number of pieces of the content. */
  readonly pieceCount: number
  /** Length of every piece but the last. */
  readonly pieceSize: number
  /** Length of the last piece (1..pieceSize). */
  readonly lastPieceLength: number
}

/** The {@link MessageContext} of a manifest. */
export function messageContext (m: Pick<Manifest, 'size' | 'pieceSize'>): MessageContext {
  const count = pieceCount(m)
  return { pieceCount: count, pieceSize: m.pieceSize, lastPieceLength: count === 0 ? 0 : pieceLength(m, count - 1) }
}

/** Exact byte length of piece `index` (which must be in range). */
export function expectedPieceLength (ctx: MessageContext, index: number): number {
  return index === ctx.pieceCount - 1 ? ctx.lastPieceLength : ctx.pieceSize
}

function fail (message: string): never {
  throw new ProtocolError(message)
}

function inRange (ctx: MessageContext, index: number): void {
  if (index >= ctx.pieceCount) fail(`piece index ${index} out of range (content has ${ctx.pieceCount} pieces)`)
}

/**
 * Throws {@link ProtocolError} unless `msg` obeys every rule of the protocol
 * for this content: {@link checkMessage}, then {@link validateHeader}.
 */
export function validateMessage (msg: Message, ctx: MessageContext): void {
  checkMessage(msg)
  validateHeader(msg, ctx)
}

/**
 * The rules that need the content, for a message already checked by
 * {@link checkMessage} or decoded by FrameDecoder (which checks it): HELLO's
 * pieceCount equal to the content's, every piece index below it, and a
 * PIECE's payloadLength (set on every decoded PIECE) equal to that piece's
 * length. Usable as FrameDecoder's `onHeader`, before a payload is read.
 */
export function validateHeader (msg: FrameHeader, ctx: MessageContext): void {
  switch (msg.type) {
    case 'HELLO':
      if (msg.pieceCount !== ctx.pieceCount) fail(`HELLO pieceCount ${msg.pieceCount} differs from the content's ${ctx.pieceCount}`)
      return
    case 'HAVE':
    case 'REQUEST':
    case 'REJECT':
      inRange(ctx, msg.index)
      return
    case 'PIECE': {
      inRange(ctx, msg.index)
      const expected = expectedPieceLength(ctx, msg.index)
      if (msg.payloadLength !== undefined && msg.payloadLength !== expected) {
        fail(`PIECE ${msg.index} has ${msg.payloadLength} bytes, expected ${expected}`)
      }
      return
    }
    case 'CLAIM':
    case 'RELEASE':
      // strictly increasing (checkMessage), so the last index is the largest
      inRange(ctx, msg.indices[msg.indices.length - 1])
      return
    case 'CANCEL':
    case 'PEERS':
      return
  }
}
