/**
 * `/doswarm/swarm/1.0.0`: the wire codec (pure) and two thin stream helpers.
 * docs/PROTOCOL.md is the spec.
 */
export * from './constants.js'
export {
  checkMessage, bitfieldLength, REJECT_REASONS,
  type Message, type MessageTypeName, type Frame, type FrameHeader, type RejectReason, type PeerRecord,
  type HelloMessage, type HaveMessage, type RequestMessage, type PieceMessage, type RejectMessage,
  type CancelMessage, type ClaimMessage, type ReleaseMessage, type PeersMessage
} from './message.js'
export { encodeFrame, encodePiece, splitPeers } from './encode.js'
export { FrameDecoder, type FrameDecoderInit, type ByteChunks } from './decode.js'
export { validateMessage, validateHeader, messageContext, expectedPieceLength, type MessageContext } from './validate.js'
export {
  readFrames, writeFrames, StreamClosedError, DEFAULT_DRAIN_TIMEOUT_MS,
  type FrameSource, type FrameSink
} from './stream-io.js'
